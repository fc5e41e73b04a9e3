// Authors and tags are listed alike: search by name or slug, sort by name or by how many
// published articles they have, keyset pages, and a link to each one's page.
import type { FormEvent, ReactNode } from 'react';
import { BASE, Link, changeQuery } from '../router';
import { ErrorNotice } from '../ui/ErrorNotice';
import { useLoad } from '../ui/useLoad';

export const NAMED_PAGE = 50;
export type NamedSort = 'name' | '-article_count' | '-created_at';

interface Named {
  id: string;
  slug: string;
  name: string;
  article_count: number;
}

interface Page<T> {
  data: T[];
  meta: { total: number; next_cursor: string | null };
}

export function NamedList<T extends Named>({
  kind,
  title,
  query,
  fetch,
  columns,
  canCreate,
}: {
  kind: 'authors' | 'tags';
  title: string;
  query: URLSearchParams;
  fetch: (q: string, sort: NamedSort, cursor: string | null) => Promise<Page<T>>;
  /** Columns between the name and the article count. */
  columns: { label: string; cell: (row: T) => ReactNode }[];
  canCreate: boolean;
}) {
  const q = query.get('q') ?? '';
  const sortParam = query.get('sort');
  const sort: NamedSort = sortParam === '-article_count' || sortParam === '-created_at' ? sortParam : 'name';
  const cursor = query.get('cursor');
  const page = useLoad(() => fetch(q, sort, cursor), [q, sort, cursor]);
  const set = (changes: Record<string, string | null>) => changeQuery(`/${kind}`, query, changes);
  const search = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const value = new FormData(event.currentTarget).get('q');
    set({ q: typeof value === 'string' ? value.trim() : null });
  };
  const rows = page.data?.data ?? [];
  const noun = kind === 'authors' ? 'author' : 'tag';

  return (
    <section aria-labelledby={`${kind}-title`}>
      <header className="page-header">
        <h1 id={`${kind}-title`}>{title}</h1>
        {canCreate && (
          <Link className="button primary" href={`${BASE}/${kind}/new`}>
            New {noun}
          </Link>
        )}
      </header>
      <div className="filters">
        <form role="search" onSubmit={search} key={q}>
          <label>
            Search
            <input name="q" type="search" defaultValue={q} placeholder={kind === 'authors' ? 'Name… 管静鹏' : 'Name… 松弛感'} />
          </label>
          <button type="submit">Search</button>
        </form>
        <label>
          Sort
          <select value={sort} onChange={(e) => set({ sort: e.target.value === 'name' ? null : e.target.value })}>
            <option value="name">Name A–Z</option>
            <option value="-article_count">Most articles</option>
            <option value="-created_at">Newest</option>
          </select>
        </label>
      </div>
      {page.error && <ErrorNotice error={page.error} onRetry={page.reload} />}
      <div className="table-wrap" aria-busy={page.loading}>
        <table>
          <caption className="visually-hidden">{title}</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              {columns.map((c) => (
                <th scope="col" key={c.label}>
                  {c.label}
                </th>
              ))}
              <th scope="col" className="number">
                Published articles
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.id}>
                <td>
                  <Link className="title" href={`${BASE}/${kind}/${row.id}`}>
                    {row.name}
                  </Link>
                  <div className="muted">{row.slug}</div>
                </td>
                {columns.map((c) => (
                  <td key={c.label}>{c.cell(row)}</td>
                ))}
                <td className="number">
                  <Link href={`${BASE}/?${kind === 'authors' ? 'author' : 'tag'}=${encodeURIComponent(row.slug)}`} aria-label={`${row.article_count} articles of ${row.name}`}>
                    {row.article_count.toLocaleString()}
                  </Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {page.loading && !page.data && (
          <p className="muted" role="status">
            Loading {kind}…
          </p>
        )}
        {!page.loading && page.data && rows.length === 0 && (
          <p className="empty" role="status">
            {q ? `No ${noun} matches “${q}”.` : `No ${kind} yet.`}
          </p>
        )}
      </div>
      <nav aria-label="Pages" className="pager">
        <span className="muted" role="status">
          {page.data ? `${page.data.meta.total.toLocaleString()} ${noun}${page.data.meta.total === 1 ? '' : 's'}` : ''}
        </span>
        <button type="button" disabled={!cursor} onClick={() => window.history.back()}>
          Previous
        </button>
        <button type="button" disabled={!page.data?.meta.next_cursor} onClick={() => page.data?.meta.next_cursor && set({ cursor: page.data.meta.next_cursor })}>
          Next
        </button>
      </nav>
    </section>
  );
}
