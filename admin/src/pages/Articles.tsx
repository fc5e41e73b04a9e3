// Working copies, as editors look for them: a tab per status (and "unpublished changes"),
// search, filters and sort kept in the address, keyset pages so the 100,000th article costs
// what the first does, and bulk actions where the role allows them.
import { useEffect, useMemo, useState, type FormEvent } from 'react';
import { api, type Article, type ArticleStatus } from '../api/client';
import { ApiError, call } from '../api/problem';
import { BASE, Link, changeQuery } from '../router';
import { atLeast, useUser } from '../session';
import { ErrorNotice } from '../ui/ErrorNotice';
import { StatusBadge, formatWhen } from '../ui/format';

type Tab = { key: string; label: string; status?: ArticleStatus; unpublished?: boolean };

const TABS: Tab[] = [
  { key: 'all', label: 'All' },
  { key: 'draft', label: 'Drafts', status: 'draft' },
  { key: 'in_review', label: 'In review', status: 'in_review' },
  { key: 'scheduled', label: 'Scheduled', status: 'scheduled' },
  { key: 'published', label: 'Published', status: 'published' },
  { key: 'unpublished', label: 'Unpublished changes', unpublished: true },
  { key: 'archived', label: 'Archived', status: 'archived' },
];

const SORTS = [
  ['-updated_at', 'Last edited'],
  ['-published_at', 'Newest published'],
  ['published_at', 'Oldest published'],
  ['-created_at', 'Newest created'],
  ['title', 'Title A–Z'],
] as const;

type Sort = (typeof SORTS)[number][0];
type BulkAction = 'publish' | 'unpublish' | 'archive';

const PAGE_SIZE = 50;

function isSort(value: string | null): value is Sort {
  return SORTS.some(([key]) => key === value);
}

interface Options {
  authors: { slug: string; name: string }[];
  tags: { slug: string; name: string }[];
}

export function Articles({ query }: { query: URLSearchParams }) {
  const user = useUser();
  const tab = TABS.find((t) => t.key === query.get('tab')) ?? TABS[0]!;
  const q = query.get('q') ?? '';
  const author = query.get('author') ?? '';
  const tag = query.get('tag') ?? '';
  const language = query.get('language') ?? '';
  const featured = query.get('featured') ?? '';
  const sortParam = query.get('sort');
  const sort: Sort | undefined = isSort(sortParam) ? sortParam : q ? undefined : '-updated_at';
  const cursor = query.get('cursor') ?? undefined;

  const [page, setPage] = useState<{ data: Article[]; next: string | null; total: number } | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [bulk, setBulk] = useState<string | null>(null);
  const [options, setOptions] = useState<Options>({ authors: [], tags: [] });
  const [reload, setReload] = useState(0);

  useEffect(() => {
    Promise.all([
      call(api.GET('/v1/authors', { params: { query: { limit: 100, sort: 'name' } } })),
      call(api.GET('/v1/tags', { params: { query: { limit: 100, sort: 'name' } } })),
    ])
      .then(([authors, tags]) => setOptions({ authors: authors.data, tags: tags.data }))
      .catch(() => setOptions({ authors: [], tags: [] }));
  }, []);

  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(null);
    call(
      api.GET('/v1/articles', {
        params: {
          query: {
            view: 'working',
            limit: PAGE_SIZE,
            ...(tab.status ? { status: tab.status } : {}),
            ...(tab.unpublished ? { has_unpublished_changes: true } : {}),
            ...(q ? { q } : {}),
            ...(author ? { author } : {}),
            ...(tag ? { tag } : {}),
            ...(language ? { language } : {}),
            ...(featured ? { featured: featured === 'true' } : {}),
            ...(sort ? { sort } : {}),
            ...(cursor ? { cursor } : {}),
          },
        },
      }),
    )
      .then((answer) => {
        if (!live) return;
        setPage({ data: answer.data, next: answer.meta.next_cursor, total: answer.meta.total });
        setSelected(new Set());
      })
      .catch((err: unknown) => live && setError(err instanceof ApiError ? err : new ApiError(0, null)))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
  }, [tab.key, q, author, tag, language, featured, sort, cursor, reload]);

  const set = (changes: Record<string, string | null>) => changeQuery('/', query, changes);

  const bulkActions = useMemo((): BulkAction[] => {
    const actions: BulkAction[] = [];
    if (atLeast(user, 'author')) actions.push('publish', 'unpublish');
    if (atLeast(user, 'editor')) actions.push('archive');
    return actions;
  }, [user]);

  const runBulk = async (action: BulkAction) => {
    const ids = [...selected];
    let done = 0;
    const failures: string[] = [];
    for (const id of ids) {
      setBulk(`${action}: ${done} of ${ids.length}…`);
      try {
        await call(api.POST('/v1/articles/{id}/{action}', { params: { path: { id, action } }, body: {} }));
      } catch (err) {
        const title = page?.data.find((a) => a.id === id)?.title ?? id;
        failures.push(`${title}: ${err instanceof Error ? err.message : String(err)}`);
      }
      done += 1;
    }
    setBulk(
      failures.length
        ? `${action}: ${ids.length - failures.length} of ${ids.length} done. ${failures.join(' ')}`
        : `${action}: all ${ids.length} done.`,
    );
    setReload((n) => n + 1);
  };

  const search = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const value = new FormData(event.currentTarget).get('q');
    set({ q: typeof value === 'string' ? value.trim() : null });
  };

  const rows = page?.data ?? [];
  const allSelected = rows.length > 0 && rows.every((a) => selected.has(a.id));

  return (
    <section aria-labelledby="articles-title" className="articles">
      <header className="page-header">
        <h1 id="articles-title">Articles</h1>
        <Link className="button primary" href={`${BASE}/articles/new`}>
          New article
        </Link>
      </header>

      <nav aria-label="Status" className="tabs">
        {TABS.map((t) => (
          <Link
            key={t.key}
            href={`${BASE}/?tab=${t.key}`}
            aria-current={t.key === tab.key ? 'page' : undefined}
            onClick={(e) => {
              e.preventDefault();
              set({ tab: t.key === 'all' ? null : t.key });
            }}
          >
            {t.label}
          </Link>
        ))}
      </nav>

      <div className="filters">
        <form role="search" onSubmit={search} key={q}>
          <label>
            Search
            <input name="q" type="search" defaultValue={q} placeholder="Title, text… 松弛感" />
          </label>
          <button type="submit">Search</button>
        </form>
        <label>
          Author
          <select value={author} onChange={(e) => set({ author: e.target.value || null })}>
            <option value="">Any</option>
            {options.authors.map((a) => (
              <option key={a.slug} value={a.slug}>
                {a.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <select value={tag} onChange={(e) => set({ tag: e.target.value || null })}>
            <option value="">Any</option>
            {options.tags.map((t) => (
              <option key={t.slug} value={t.slug}>
                {t.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Language
          <input
            value={language}
            size={6}
            placeholder="en"
            onChange={(e) => set({ language: e.target.value.trim() || null })}
          />
        </label>
        <label>
          Featured
          <select value={featured} onChange={(e) => set({ featured: e.target.value || null })}>
            <option value="">Any</option>
            <option value="true">Featured</option>
            <option value="false">Not featured</option>
          </select>
        </label>
        <label>
          Sort
          <select value={sort ?? 'rank'} onChange={(e) => set({ sort: e.target.value === 'rank' ? null : e.target.value })}>
            {q && <option value="rank">Best match</option>}
            {SORTS.map(([key, label]) => (
              <option key={key} value={key}>
                {label}
              </option>
            ))}
          </select>
        </label>
      </div>

      {bulkActions.length > 0 && (
        <div className="bulk" role="group" aria-label="With the selected articles">
          <span>{selected.size} selected</span>
          {bulkActions.map((action) => (
            <button key={action} type="button" disabled={selected.size === 0} onClick={() => void runBulk(action)}>
              {action[0]!.toUpperCase() + action.slice(1)}
            </button>
          ))}
          {bulk && (
            <span role="status" className="muted">
              {bulk}
            </span>
          )}
        </div>
      )}

      {error && <ErrorNotice error={error} onRetry={() => setReload((n) => n + 1)} />}

      <div className="table-wrap" aria-busy={loading}>
        <table>
          <caption className="visually-hidden">
            {tab.label} articles{q ? ` matching “${q}”` : ''}
          </caption>
          <thead>
            <tr>
              {bulkActions.length > 0 && (
                <th scope="col" className="check">
                  <input
                    type="checkbox"
                    aria-label="Select all on this page"
                    checked={allSelected}
                    onChange={() => setSelected(allSelected ? new Set() : new Set(rows.map((a) => a.id)))}
                  />
                </th>
              )}
              <th scope="col">Title</th>
              <th scope="col">Status</th>
              <th scope="col">Authors</th>
              <th scope="col">Edited</th>
              <th scope="col">Published</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((article) => (
              <tr key={article.id}>
                {bulkActions.length > 0 && (
                  <td className="check">
                    <input
                      type="checkbox"
                      aria-label={`Select ${article.title}`}
                      checked={selected.has(article.id)}
                      onChange={() => {
                        const next = new Set(selected);
                        if (next.has(article.id)) next.delete(article.id);
                        else next.add(article.id);
                        setSelected(next);
                      }}
                    />
                  </td>
                )}
                <td>
                  <Link href={`${BASE}/articles/${article.id}`} className="title">
                    {article.title}
                  </Link>
                  {article.excerpt && <div className="muted excerpt">{article.excerpt}</div>}
                </td>
                <td>
                  <StatusBadge article={article} />
                </td>
                <td>{article.authors.map((a) => a.name).join(', ')}</td>
                <td>{formatWhen(article.updated_at)}</td>
                <td>{article.scheduled_at ? `for ${formatWhen(article.scheduled_at)}` : formatWhen(article.published_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {loading && !page && <p className="muted" role="status">Loading articles…</p>}
        {!loading && page && rows.length === 0 && (
          <p className="empty" role="status">
            {q || author || tag || language || featured ? 'No article matches these filters.' : `No ${tab.label.toLowerCase()} articles yet.`}
          </p>
        )}
      </div>

      <nav aria-label="Pages" className="pager">
        <span className="muted" role="status">
          {page ? `${page.total.toLocaleString()} article${page.total === 1 ? '' : 's'}` : ''}
        </span>
        <button type="button" disabled={!cursor} onClick={() => window.history.back()}>
          Previous
        </button>
        <button type="button" disabled={!page?.next} onClick={() => page?.next && set({ cursor: page.next })}>
          Next
        </button>
      </nav>
    </section>
  );
}
