import { lazy, Suspense, useEffect, type ReactNode } from 'react';
import type { Role } from './api/client';
import { Articles } from './pages/Articles';
import { SignIn } from './pages/SignIn';
import { BASE, Link, useRoute, type Route } from './router';
import { atLeast, useSession } from './session';

// Only the article list is part of the first screen. The editor (and ProseMirror with it)
// loads once the list is up and the browser is idle; every other page when it is opened.
const loadEditor = () => import('./pages/ArticleEditor');
const ArticleEditor = lazy(loadEditor);
const Images = lazy(() => import('./pages/Images'));
const ImageDetail = lazy(() => import('./pages/ImageDetail'));
const Authors = lazy(() => import('./pages/Authors'));
const AuthorEdit = lazy(() => import('./pages/AuthorEdit'));
const Tags = lazy(() => import('./pages/Tags'));
const TagEdit = lazy(() => import('./pages/TagEdit'));
const Users = lazy(() => import('./pages/Users'));
const Tokens = lazy(() => import('./pages/Tokens'));
const Webhooks = lazy(() => import('./pages/Webhooks'));
const WebhookDetail = lazy(() => import('./pages/WebhookDetail'));
const Transfer = lazy(() => import('./pages/Transfer'));

/** The sections in the header, each shown to the roles the API lets use it. */
const NAV: { href: string; label: string; role: Role; pages: Route['page'][] }[] = [
  { href: '/', label: 'Articles', role: 'contributor', pages: ['articles', 'article', 'new-article'] },
  { href: '/images', label: 'Images', role: 'contributor', pages: ['images', 'images-one'] },
  { href: '/authors', label: 'Authors', role: 'contributor', pages: ['authors', 'authors-one'] },
  { href: '/tags', label: 'Tags', role: 'contributor', pages: ['tags', 'tags-one'] },
  { href: '/transfer', label: 'Import & export', role: 'editor', pages: ['transfer'] },
  { href: '/users', label: 'Users', role: 'admin', pages: ['users'] },
  { href: '/tokens', label: 'API tokens', role: 'contributor', pages: ['tokens'] },
  { href: '/webhooks', label: 'Webhooks', role: 'admin', pages: ['webhooks', 'webhooks-one'] },
];

function Page({ route }: { route: Route }): ReactNode {
  switch (route.page) {
    case 'articles':
      return <Articles query={route.query} />;
    case 'article':
    case 'new-article':
      return <ArticleEditor id={route.page === 'article' ? route.id : null} />;
    case 'images':
      return <Images query={route.query} />;
    case 'images-one':
      return route.id ? <ImageDetail id={route.id} /> : <NotFound />;
    case 'authors':
      return <Authors query={route.query} />;
    case 'authors-one':
      return <AuthorEdit id={route.id} />;
    case 'tags':
      return <Tags query={route.query} />;
    case 'tags-one':
      return <TagEdit id={route.id} />;
    case 'users':
      return <Users />;
    case 'tokens':
      return <Tokens />;
    case 'webhooks':
      return <Webhooks />;
    case 'webhooks-one':
      return route.id ? <WebhookDetail id={route.id} /> : <NotFound />;
    case 'transfer':
      return <Transfer />;
    default:
      return <NotFound />;
  }
}

function NotFound() {
  return (
    <p>
      No such page. <Link href={`${BASE}/`}>Back to the articles</Link>
    </p>
  );
}

export function App() {
  const { session, signOut } = useSession();
  const route = useRoute();
  const signedIn = session.state === 'signed-in';
  useEffect(() => {
    if (!signedIn) return;
    const idle = window.requestIdleCallback(() => void loadEditor(), { timeout: 3000 });
    return () => window.cancelIdleCallback(idle);
  }, [signedIn]);

  if (session.state === 'loading') {
    return (
      <p className="loading" role="status">
        Loading…
      </p>
    );
  }
  if (session.state === 'signed-out') return <SignIn reason={session.reason} />;

  const { user } = session;
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link href={`${BASE}/`} className="brand">
          Galley
        </Link>
        <nav aria-label="Sections" className="sections">
          {NAV.filter((n) => atLeast(user, n.role)).map((n) => (
            <Link key={n.href} href={`${BASE}${n.href}`} aria-current={n.pages.includes(route.page) ? 'page' : undefined}>
              {n.label}
            </Link>
          ))}
        </nav>
        <span className="who">
          {user.name} <span className="muted">({user.role})</span>
        </span>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main id="main">
        <Suspense fallback={<p role="status">Loading…</p>}>
          <Page route={route} />
        </Suspense>
      </main>
    </>
  );
}
