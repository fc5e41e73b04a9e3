// An author (a byline): name, slug, bio, links, contact email, and a picture chosen from the
// library or uploaded here. Galley keeps bylines whole: an author on any article, drafts
// included, cannot be deleted; the page says so and links to those articles.
import { useRef, useState } from 'react';
import { api, type Schemas } from '../api/client';
import { uploadImage, variantUrl, type Image } from '../api/images';
import { ImagePicker } from '../images/ImagePicker';
import { asPatch, ifMatch, useRecord, type RecordApi } from '../people/useRecord';
import { BASE, Link } from '../router';
import { atLeast, useUser } from '../session';
import { ErrorNotice } from '../ui/ErrorNotice';
import { ImageFileInput } from '../ui/ImageFileInput';
import { asApiError } from '../ui/useLoad';

type Author = Schemas['Author'];
type Input = Schemas['CreateAuthor'];

const AUTHORS: RecordApi<Author, Input> = {
  kind: 'authors',
  get: (id) => api.GET('/v1/authors/{id}', { params: { path: { id } } }),
  create: (body) => api.POST('/v1/authors', { body }),
  update: (id, body, etag) => api.PATCH('/v1/authors/{id}', { params: { path: { id }, header: ifMatch(etag) }, body: asPatch(body) }),
  remove: (id, etag) => api.DELETE('/v1/authors/{id}', { params: { path: { id }, header: ifMatch(etag) } }),
};

interface Form {
  name: string;
  slug: string;
  bio: string;
  website: string;
  email: string;
  social: [string, string][];
  avatar: Image | null;
}

function formOf(author: Author | null): Form {
  return {
    name: author?.name ?? '',
    slug: author?.slug ?? '',
    bio: author?.bio ?? '',
    website: author?.website ?? '',
    email: author?.email ?? '',
    social: Object.entries(author?.social ?? {}),
    avatar: author?.avatar ?? null,
  };
}

const orNull = (text: string) => (text.trim() === '' ? null : text.trim());

export default function AuthorEdit({ id }: { id: string | null }) {
  const user = useUser();
  const { loaded, busy, error, notice, save, remove } = useRecord(id, AUTHORS);
  const author = loaded.data?.data ?? null;
  const [draft, setDraft] = useState<Form | null>(null);
  const [picking, setPicking] = useState(false);
  const [uploading, setUploading] = useState<string | null>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  if (loaded.error) return <ErrorNotice error={loaded.error} onRetry={loaded.reload} />;
  if (id && !author) return <p role="status">Loading the author…</p>;
  const form = draft ?? formOf(author);
  const edit = (change: Partial<Form>) => setDraft({ ...form, ...change });
  const canEdit = atLeast(user, 'editor');
  const fields = error?.fields ?? new Map<string, string>();
  const text = (name: 'name' | 'slug' | 'website' | 'email', label: string, hint?: string) => (
    <label>
      {label}
      <input
        value={form[name]}
        type={name === 'email' ? 'email' : name === 'website' ? 'url' : 'text'}
        disabled={!canEdit}
        aria-invalid={fields.has(name) || undefined}
        onChange={(e) => edit({ [name]: e.target.value })}
      />
      {fields.get(name) ? <span className="field-error">{fields.get(name)}</span> : hint && <span className="muted">{hint}</span>}
    </label>
  );

  const upload = async (file: File) => {
    setUploading(`Uploading ${file.name}…`);
    try {
      const { image, duplicate } = await uploadImage(file, { onProgress: (p) => setUploading(`Uploading ${file.name}: ${Math.round(p * 100)} %`) });
      edit({ avatar: image });
      setUploading(duplicate ? `${file.name} was already in the library; that image is used.` : null);
    } catch (err) {
      setUploading(asApiError(err).message);
    }
  };

  const submit = () => {
    const social = Object.fromEntries(form.social.filter(([network, url]) => network.trim() && url.trim()).map(([n, u]) => [n.trim().toLowerCase(), u.trim()]));
    void save({
      name: form.name,
      slug: orNull(form.slug),
      bio: orNull(form.bio),
      website: orNull(form.website),
      email: orNull(form.email),
      social,
      avatar_image_id: form.avatar?.id ?? null,
    }).then(() => setDraft(null));
  };

  const conflict = error?.status === 409;

  return (
    <section aria-labelledby="author-title" className="record">
      <header className="page-header">
        <Link href={`${BASE}/authors`}>← Authors</Link>
        <h1 id="author-title">{author ? author.name : 'New author'}</h1>
      </header>
      <form
        className="record-form"
        onSubmit={(e) => {
          e.preventDefault();
          submit();
        }}
      >
        <div className="avatar-field">
          <span className="label">Picture</span>
          {form.avatar ? <img className="avatar large" src={variantUrl(form.avatar, 256)} alt={form.avatar.alt ?? ''} width={128} height={128} /> : <span className="avatar large empty">none</span>}
          {canEdit && (
            <div className="actions">
              <button type="button" onClick={() => setPicking(true)}>
                Choose from the library
              </button>
              <button type="button" onClick={() => fileInput.current?.click()}>
                Upload a picture
              </button>
              <ImageFileInput ref={fileInput} label="Picture to upload" onFile={(file) => void upload(file)} />
              {form.avatar && (
                <button type="button" onClick={() => edit({ avatar: null })}>
                  Remove picture
                </button>
              )}
            </div>
          )}
          {uploading && <span role="status">{uploading}</span>}
          {fields.get('avatar_image_id') && <span className="field-error">{fields.get('avatar_image_id')}</span>}
        </div>
        {text('name', 'Name')}
        {text('slug', 'Slug', 'Made from the name when empty (管静鹏 → guan-jing-peng). Changing it changes the author’s URL.')}
        <label>
          Bio
          <textarea rows={4} value={form.bio} disabled={!canEdit} aria-invalid={fields.has('bio') || undefined} onChange={(e) => edit({ bio: e.target.value })} />
          {fields.get('bio') && <span className="field-error">{fields.get('bio')}</span>}
        </label>
        {text('website', 'Website', 'https://…')}
        {text('email', 'Contact email', 'Shown to signed-in users only.')}
        <fieldset disabled={!canEdit} className="social">
          <legend>Links</legend>
          {form.social.map(([network, url], i) => (
            <div key={i} className="social-row">
              <label>
                Network
                <input value={network} placeholder="x, weibo, instagram" onChange={(e) => edit({ social: form.social.map((row, j) => (j === i ? [e.target.value, row[1]] : row)) })} />
              </label>
              <label>
                Profile URL
                <input
                  type="url"
                  value={url}
                  aria-invalid={fields.has(`social.${network}`) || undefined}
                  onChange={(e) => edit({ social: form.social.map((row, j) => (j === i ? [row[0], e.target.value] : row)) })}
                />
                {fields.get(`social.${network}`) && <span className="field-error">{fields.get(`social.${network}`)}</span>}
              </label>
              <button type="button" aria-label={`Remove the ${network || 'empty'} link`} onClick={() => edit({ social: form.social.filter((_, j) => j !== i) })}>
                Remove
              </button>
            </div>
          ))}
          <button type="button" onClick={() => edit({ social: [...form.social, ['', '']] })}>
            Add a link
          </button>
        </fieldset>
        {error && !conflict && <ErrorNotice error={error} />}
        {canEdit && (
          <div className="actions">
            <button type="submit" className="primary" disabled={busy}>
              {busy ? 'Saving…' : author ? 'Save' : 'Create author'}
            </button>
            {notice && <span role="status">{notice}</span>}
          </div>
        )}
      </form>
      {author && canEdit && (
        <section aria-labelledby="delete-title" className="danger-zone">
          <h2 id="delete-title">Delete</h2>
          <p>
            An author can be deleted only when no article, drafts included, carries their byline; their user account, if any, stays and is unlinked.{' '}
            <Link href={`${BASE}/?author=${encodeURIComponent(author.slug)}`}>See their articles</Link> ({author.article_count.toLocaleString()} published).
          </p>
          {conflict && error && (
            <div className="error-notice" role="alert">
              <p>
                {error.message} Remove {author.name} from those bylines first: <Link href={`${BASE}/?author=${encodeURIComponent(author.slug)}`}>their articles</Link>.
              </p>
            </div>
          )}
          <button type="button" className="danger" onClick={() => void remove(`Delete the author “${author.name}”?`)}>
            Delete author
          </button>
        </section>
      )}
      {picking && <ImagePicker title="Choose a picture" onPick={(image) => edit({ avatar: image })} onClose={() => setPicking(false)} />}
    </section>
  );
}
