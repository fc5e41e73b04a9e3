// Paths under /admin, kept in the address bar so that reload, back and links work. Small on
// purpose: three kinds of page do not need a router library.
import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';

export const BASE = '/admin';

export type Route =
  | { page: 'articles'; query: URLSearchParams }
  | { page: 'article'; id: string }
  | { page: 'new-article' }
  | { page: 'not-found' };

export function parse(pathname: string, search: string): Route {
  const path = pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname;
  const parts = path.split('/').filter(Boolean);
  if (parts.length === 0) return { page: 'articles', query: new URLSearchParams(search) };
  if (parts[0] === 'articles' && parts.length === 2 && parts[1] === 'new') return { page: 'new-article' };
  if (parts[0] === 'articles' && parts.length === 2 && parts[1]) return { page: 'article', id: decodeURIComponent(parts[1]) };
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
