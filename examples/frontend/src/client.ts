// A typed Galley client: every path, parameter and response below comes from the types
// `npm run generate` writes from Galley's OpenAPI document. Nothing here is hand-typed.
import createClient from "openapi-fetch";

import type { components, paths } from "./galley.js";

export type Article = components["schemas"]["Article"];
export type Image = components["schemas"]["Image"];
export type Problem = components["schemas"]["Problem"];
export type ShownBlock = components["schemas"]["ShownBlock"];

export function galley(baseUrl: string, token?: string) {
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  return createClient<paths>({ baseUrl, headers });
}

export type Galley = ReturnType<typeof galley>;

/** A problem response (RFC 9457) as an error a page can show. */
export class GalleyError extends Error {
  constructor(readonly problem: Problem) {
    const fields = (problem.errors ?? []).map((e) => `${e.field}: ${e.message}`).join("; ");
    super(`${problem.title} (${problem.status})${problem.detail ? `: ${problem.detail}` : ""}${fields ? ` [${fields}]` : ""}`);
  }
}

/** The newest published articles, with their bylines and tags. */
export async function latestArticles(api: Galley, tag?: string): Promise<Article[]> {
  const { data, error } = await api.GET("/v1/articles", {
    params: { query: { limit: 10, sort: "-published_at", ...(tag ? { tag } : {}) } },
  });
  if (error) throw new GalleyError(error);
  return data.data;
}

/** One published article with its body, by slug. */
export async function articleBySlug(api: Galley, slug: string): Promise<Article> {
  const { data, error } = await api.GET("/v1/articles/{id}", {
    params: { path: { id: slug } },
  });
  if (error) throw new GalleyError(error);
  return data;
}
