import { lazy, Suspense, useEffect } from 'react';
import { Articles } from './pages/Articles';
import { SignIn } from './pages/SignIn';
import { BASE, Link, useRoute } from './router';
import { useSession } from './session';

// The editor (and ProseMirror with it) is not part of the first screen: it loads once the list
// is up and the browser is idle, or when an article is opened first.
const loadEditor = () => import('./pages/ArticleEditor');
const ArticleEditor = lazy(loadEditor);

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
        <span className="who">
          {user.name} <span className="muted">({user.role})</span>
        </span>
        <button type="button" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main id="main">
        {route.page === 'articles' && <Articles query={route.query} />}
        {(route.page === 'article' || route.page === 'new-article') && (
          <Suspense fallback={<p role="status">Loading the editor…</p>}>
            <ArticleEditor id={route.page === 'article' ? route.id : null} />
          </Suspense>
        )}
        {route.page === 'not-found' && (
          <p>
            No such page. <Link href={`${BASE}/`}>Back to the articles</Link>
          </p>
        )}
      </main>
    </>
  );
}
