// A tag: name, slug, description. Deleting one takes it off every article that has it; the
// confirmation says how many are published.
import { useState } from 'react';
import { api, type Schemas } from '../api/client';
import { asPatch, ifMatch, useRecord, type RecordApi } from '../people/useRecord';
import { BASE, Link } from '../router';
import { atLeast, useUser } from '../session';
import { ErrorNotice } from '../ui/ErrorNotice';

type Tag = Schemas['Tag'];
type Input = Schemas['CreateTag'];

const TAGS: RecordApi<Tag, Input> = {
  kind: 'tags',
  get: (id) => api.GET('/v1/tags/{id}', { params: { path: { id } } }),
  create: (body) => api.POST('/v1/tags', { body }),
  update: (id, body, etag) => api.PATCH('/v1/tags/{id}', { params: { path: { id }, header: ifMatch(etag) }, body: asPatch(body) }),
  remove: (id, etag) => api.DELETE('/v1/tags/{id}', { params: { path: { id }, header: ifMatch(etag) } }),
};

export default function TagEdit({ id }: { id: string | null }) {
  const user = useUser();
  const { loaded, busy, error, notice, save, remove } = useRecord(id, TAGS);
  const tag = loaded.data?.data ?? null;
  const [draft, setDraft] = useState<{ name: string; slug: string; description: string } | null>(null);
  if (loaded.error) return <ErrorNotice error={loaded.error} onRetry={loaded.reload} />;
  if (id && !tag) return <p role="status">Loading the tag…</p>;
  const form = draft ?? { name: tag?.name ?? '', slug: tag?.slug ?? '', description: tag?.description ?? '' };
  const canEdit = atLeast(user, 'editor');
  const fields = error?.fields ?? new Map<string, string>();
  const field = (name: 'name' | 'slug', label: string, hint?: string) => (
    <label>
      {label}
      <input value={form[name]} disabled={!canEdit} aria-invalid={fields.has(name) || undefined} onChange={(e) => setDraft({ ...form, [name]: e.target.value })} />
      {fields.get(name) ? <span className="field-error">{fields.get(name)}</span> : hint && <span className="muted">{hint}</span>}
    </label>
  );

  return (
    <section aria-labelledby="tag-title" className="record">
      <header className="page-header">
        <Link href={`${BASE}/tags`}>← Tags</Link>
        <h1 id="tag-title">{tag ? tag.name : 'New tag'}</h1>
      </header>
      <form
        className="record-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save({ name: form.name, slug: form.slug.trim() || null, description: form.description.trim() || null }).then(() => setDraft(null));
        }}
      >
        {field('name', 'Name')}
        {field('slug', 'Slug', 'Made from the name when empty (松弛感 → song-chi-gan). Changing it changes the tag’s URL.')}
        <label>
          Description
          <textarea rows={3} value={form.description} disabled={!canEdit} onChange={(e) => setDraft({ ...form, description: e.target.value })} />
        </label>
        {error && <ErrorNotice error={error} />}
        {canEdit && (
          <div className="actions">
            <button type="submit" className="primary" disabled={busy}>
              {busy ? 'Saving…' : tag ? 'Save' : 'Create tag'}
            </button>
            {notice && <span role="status">{notice}</span>}
          </div>
        )}
      </form>
      {tag && canEdit && (
        <section aria-labelledby="delete-title" className="danger-zone">
          <h2 id="delete-title">Delete</h2>
          <p>
            Deleting a tag takes it off every article that has it, drafts included ({tag.article_count.toLocaleString()} published). The articles stay.
          </p>
          <button type="button" className="danger" onClick={() => void remove(`Delete the tag “${tag.name}” and take it off its ${tag.article_count} published articles and any drafts?`)}>
            Delete tag
          </button>
        </section>
      )}
    </section>
  );
}
