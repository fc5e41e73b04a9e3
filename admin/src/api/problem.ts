// API errors as people read them: the problem document's words, field errors by path, and a
// sentence for each status an editor meets.
import type { components } from './galley';

export type Problem = components['schemas']['Problem'];

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | null;

  constructor(status: number, problem: Problem | null) {
    super(explain(status, problem));
    this.status = status;
    this.problem = problem;
  }

  /** Field errors by path (`title`, `body[3].children[0].url`). */
  get fields(): Map<string, string> {
    return new Map((this.problem?.errors ?? []).map((e) => [e.field, e.message]));
  }
}

const WORDS: Record<number, string> = {
  400: 'The request was not understood.',
  401: 'You are not signed in.',
  403: 'Your role may not do this.',
  404: 'It no longer exists, or you may not see it.',
  409: 'This conflicts with its current state.',
  412: 'Someone else changed this since you opened it.',
  413: 'That is too large for the server.',
  415: 'The server does not accept that kind of file.',
  422: 'Some fields need correcting.',
  429: 'Too many attempts; wait a moment and try again.',
};

/** One sentence for a failed request. */
export function explain(status: number, problem: Problem | null): string {
  if (status >= 500 || status === 0) {
    const id = problem?.request_id ? ` (request id ${problem.request_id})` : '';
    return status === 0
      ? 'The server cannot be reached; your changes are kept here.'
      : `The server failed${id}. Try again; if it keeps failing, give the request id to whoever runs Galley.`;
  }
  const base = WORDS[status] ?? `The request failed (${status}).`;
  const detail = problem?.detail;
  return detail && status !== 422 ? `${base} ${detail}` : base;
}

/** The data of an openapi-fetch result, or its error as an `ApiError`. */
export function ok<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.data !== undefined && result.response.ok) return result.data;
  if (result.response.ok) return undefined as T;
  const problem = isProblem(result.error) ? result.error : null;
  throw new ApiError(result.response.status, problem);
}

function isProblem(value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && 'status' in value && 'title' in value;
}

/** Awaits an openapi-fetch call: its data, or an `ApiError` (status 0 when offline). */
export async function call<T>(request: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  return (await answer(request)).data;
}

/** As `call`, with the response's ETag too. */
export async function answer<T>(
  request: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<{ data: T; etag: string | null }> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await request;
  } catch {
    throw new ApiError(0, null);
  }
  return { data: ok(result), etag: result.response.headers.get('etag') };
}
