// The one client of Galley's HTTP API, typed from its OpenAPI document. The session is the
// HttpOnly cookie (API.md §8): nothing here can read it; writes add the CSRF header, and the
// browser adds our Origin.
import createClient, { type Middleware } from 'openapi-fetch';
import type { components, paths } from './galley';

export type Schemas = components['schemas'];
export type Article = Schemas['Article'];
export type User = Schemas['User'];
export type Role = Schemas['Role'];
export type ArticleStatus = Schemas['ArticleStatus'];

export const api = createClient<paths>({ baseUrl: window.location.origin, credentials: 'same-origin' });

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Told when the API says the session is gone (expired, revoked, signed out elsewhere). */
let onSignedOut: ((reason: string) => void) | null = null;
export function whenSignedOut(listener: ((reason: string) => void) | null): void {
  onSignedOut = listener;
}

/** For requests made without this client (uploads with progress): a 401 ends the session too. */
export function reportSignedOut(detail: string): void {
  onSignedOut?.(detail || 'Your session has ended.');
}

const session: Middleware = {
  onRequest({ request }) {
    if (!SAFE.has(request.method)) request.headers.set('X-Galley-CSRF', '1');
    return request;
  },
  async onResponse({ request, response }) {
    if (response.status === 401 && !new URL(request.url).pathname.startsWith('/v1/auth/')) {
      const detail = await response
        .clone()
        .json()
        .then((p: { detail?: string }) => p.detail ?? '')
        .catch(() => '');
      reportSignedOut(detail);
    }
    return response;
  },
};
api.use(session);
