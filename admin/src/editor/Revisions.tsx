// The history of an article: who did what when, a readable difference per field and per body
// block between any revision and the working copy now, and restoring one.
import { useEffect, useState } from 'react';
import { api, type Article, type Schemas } from '../api/client';
import { ApiError, call } from '../api/problem';
import { sameJson } from '../api/same';
import { ErrorNotice } from '../ui/ErrorNotice';
import { formatWhen } from '../ui/format';
import type { Block } from './blocks';
import { blockText } from './words';

type Revision = Schemas['Revision'];
type Detail = Schemas['RevisionDetail'];

const ACTIONS: Record<Revision['action'], string> = {
  create: 'created',
  update: 'edited',
  submit: 'submitted for review',
  publish: 'published',
  schedule: 'scheduled',
  unschedule: 'unscheduled',
  publish_scheduled: 'published on schedule',
  unpublish: 'unpublished',
  archive: 'archived',
  restore: 'restored from the archive',
  restore_revision: 'restored a revision',
  import: 'imported',
};

interface Change {
  field: string;
  before: string;
  after: string;
}

const show = (value: unknown) => (value === null || value === undefined || value === '' ? '(empty)' : String(value));

/** Field by field, then block by block: the revision (before) against now (after). */
export function differences(snapshot: Detail['snapshot'], now: Article): Change[] {
  const out: Change[] = [];
  const fields: [string, unknown, unknown][] = [
    ['Title', snapshot.title, now.title],
    ['Subtitle', snapshot.subtitle, now.subtitle],
    ['Slug', snapshot.slug, now.slug],
    // A revision keeps the excerpt as written (null: derived from the body) beside the derived one.
    ['Excerpt', snapshot.excerpt ?? snapshot.derived_excerpt, now.excerpt],
    ['Featured', snapshot.featured, now.featured],
    ['Language', snapshot.language, now.language],
  ];
  for (const [field, before, after] of fields) {
    if (!sameJson(before, after)) out.push({ field, before: show(before), after: show(after) });
  }
  const was: Block[] = snapshot.body;
  const is = (now.body ?? []).map((b) => {
    const { image: _shown, ...block } = b as Block & { image?: unknown };
    return block as Block;
  });
  for (let i = 0; i < Math.max(was.length, is.length); i++) {
    const before = was[i];
    const after = is[i];
    if (sameJson(before, after)) continue;
    const describe = (b: Block | undefined) => (b ? `${b.type}: ${blockText(b) || '(no text)'}` : '(none)');
    out.push({ field: `Body block ${i + 1}`, before: describe(before), after: describe(after) });
  }
  return out;
}

export function Revisions({
  article,
  etag,
  onRestored,
}: {
  article: Article;
  etag: string | null;
  onRestored: () => void;
}) {
  const [list, setList] = useState<Revision[] | null>(null);
  const [chosen, setChosen] = useState<Detail | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    call(api.GET('/v1/articles/{id}/revisions', { params: { path: { id: article.id }, query: { limit: 50 } } }))
      .then((page) => setList(page.data))
      .catch((err: unknown) => setError(err instanceof ApiError ? err : new ApiError(0, null)));
  }, [article.id, article.version]);

  const open = async (number: number) => {
    setError(null);
    try {
      setChosen(await call(api.GET('/v1/articles/{id}/revisions/{n}', { params: { path: { id: article.id, n: number } } })));
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, null));
    }
  };

  const restore = async () => {
    if (!chosen) return;
    setBusy(true);
    setError(null);
    try {
      await call(
        api.POST('/v1/articles/{id}/revisions/{n}/restore', {
          params: { path: { id: article.id, n: chosen.number }, header: etag ? { 'If-Match': etag } : {} },
        }),
      );
      setChosen(null);
      onRestored();
    } catch (err) {
      setError(err instanceof ApiError ? err : new ApiError(0, null));
    } finally {
      setBusy(false);
    }
  };

  const changes = chosen ? differences(chosen.snapshot, article) : [];
  return (
    <section aria-labelledby="revisions-title" className="revisions">
      <h2 id="revisions-title">Revisions</h2>
      {error && <ErrorNotice error={error} />}
      {!list && !error && <p role="status">Loading revisions…</p>}
      {list && (
        <ol reversed>
          {list.map((r) => (
            <li key={r.number}>
              <button type="button" className="link" aria-pressed={chosen?.number === r.number} onClick={() => void open(r.number)}>
                #{r.number} {r.actor_name ?? (r.actor_id ? 'a former user' : 'Galley')} {ACTIONS[r.action]}
              </button>
              <span className="muted"> · {formatWhen(r.at)} · v{r.version}</span>
            </li>
          ))}
        </ol>
      )}
      {chosen && (
        <div className="revision-diff" aria-live="polite">
          <h3>
            Revision #{chosen.number} against now
          </h3>
          {changes.length === 0 ? (
            <p>Its content is the same as now.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">In #{chosen.number}</th>
                  <th scope="col">Now</th>
                </tr>
              </thead>
              <tbody>
                {changes.map((c) => (
                  <tr key={c.field}>
                    <th scope="row">{c.field}</th>
                    <td>
                      <del>{c.before}</del>
                    </td>
                    <td>
                      <ins>{c.after}</ins>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <button type="button" disabled={busy || changes.length === 0} onClick={() => void restore()}>
            {busy ? 'Restoring…' : `Restore #${chosen.number}`}
          </button>
        </div>
      )}
    </section>
  );
}
