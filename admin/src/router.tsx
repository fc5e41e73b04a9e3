// Paths under /admin, kept in the address bar so that reload, back and links work. Small on
// purpose: a dozen kinds of page, each a path of one or two parts, do not need a router library.
import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';

export const BASE = '/admin';

/** A page that lists things, and the page of one of them (`id` null for a new one). */
const SECTIONS = ['images', 'authors', 'tags', 'users', 'tokens', 'webhooks', 'transfer'] as const;
export type Section = (typeof SECTIONS)[number];

export type Route =
  | { page: 'articles'; query: URLSearchParams }
  | { page: 'article'; id: string }
  | { page: 'new-article' }
  | { page: Section; query: URLSearchParams }
  | { page: `${Section}-one`; id: string | null }
  | { page: 'not-found' };

function isSection(part: string | undefined): part is Section {
  return SECTIONS.some((s) => s === part);
}

export function parse(pathname: string, search: string): Route {
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const parts = path.split('/').filter(Boolean);
  if (parts.length === 0) return { page: 'articles', query: new URLSearchParams(search) };
  if (parts[0] === 'articles' && parts.length === 2 && parts[1] === 'new') return { page: 'new-article' };
  if (parts[0] === 'articles' && parts.length === 2 && parts[1]) return { page: 'article', id: decodeURIComponent(parts[1]) };
  const [section, one] = parts;
  if (isSection(section) && parts.length === 1) return { page: section, query: new URLSearchParams(search) };
  if (isSection(section) && parts.length === 2 && one) {
    return { page: `${section}-one`, id: one === 'new' ? null : decodeURIComponent(one) };
  }
  return { page: 'not-found' };
}

/** Hooks may ask before the route changes (unsaved edits). */
let guard: (() => boolean) | null = null;
export function guardNavigation(check: (() => boolean) | null): void {
  guard = check;
}

export function navigate(to: string, { replace = false } = {}): void {
  if (guard && !guard()) return;
  if (replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

/**
 * Goes to `path` with some query parameters changed (`null` removes one). Any change but the
 * cursor's starts again from the first page: a cursor belongs to the filters it was made with.
 */
export function changeQuery(path: string, query: URLSearchParams, changes: Record<string, string | null>, options: { replace?: boolean } = {}): void {
  const next = new URLSearchParams(query);
  for (const [key, value] of Object.entries(changes)) {
    if (value) next.set(key, value);
    else next.delete(key);
  }
  if (!('cursor' in changes)) next.delete('cursor');
  const search = next.toString();
  navigate(`${BASE}${path}${search ? `?${search}` : ''}`, options);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parse(window.location.pathname, window.location.search));
  useEffect(() => {
    const update = () => setRoute(parse(window.location.pathname, window.location.search));
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return route;
}

export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const follow = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    event.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={follow} {...rest} />;
}
