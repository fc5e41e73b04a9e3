// One image: its words (alt text, caption, credit), its focal point set by clicking on it (or
// typed, for keyboards), crops that show what the focal point does, where it is used, and
// delete — which the API refuses while anything uses it.
import { useState, type MouseEvent } from 'react';
import { api } from '../api/client';
import { variantUrl, type Image, type ImageUse } from '../api/images';
import { ApiError, answer, call } from '../api/problem';
import { altProblem } from '../images/alt';
import { BASE, Link, navigate } from '../router';
import { atLeast, useUser } from '../session';
import { ErrorNotice } from '../ui/ErrorNotice';
import { formatWhen } from '../ui/format';
import { asApiError, useLoad } from '../ui/useLoad';

interface Words {
  alt: string;
  caption: string;
  credit: string;
  focal: { x: number; y: number } | null;
}

const USE: Record<ImageUse['kind'], string> = {
  author_avatar: 'Avatar of',
  article_banner: 'Banner of',
  article_body_image: 'In the body of',
  published_article: 'Shown on the published page of',
};

function wordsOf(image: Image): Words {
  return { alt: image.alt ?? '', caption: image.caption ?? '', credit: image.credit ?? '', focal: image.focal_point };
}

const orNull = (text: string) => (text.trim() === '' ? null : text);

export default function ImageDetail({ id }: { id: string }) {
  const user = useUser();
  const loaded = useLoad(async () => {
    const { data, etag } = await answer(api.GET('/v1/images/{id}', { params: { path: { id } } }));
    return { image: data, etag };
  }, [id]);
  // Uses name working copies: the API shows them to authors and up, who may also delete.
  const seesUses = atLeast(user, 'author');
  const usage = useLoad(() => (seesUses ? call(api.GET('/v1/images/{id}/usage', { params: { path: { id } } })) : Promise.resolve(null)), [id, seesUses]);
  const [words, setWords] = useState<Words | null>(null);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  if (loaded.error) return <ErrorNotice error={loaded.error} onRetry={loaded.reload} />;
  if (!loaded.data) return <p role="status">Loading the image…</p>;
  const { image, etag } = loaded.data;
  const current = words ?? wordsOf(image);
  const edit = (change: Partial<Words>) => {
    setWords({ ...current, ...change });
    setNotice(null);
  };
  const canEdit = atLeast(user, 'author');
  const dirty = words !== null;

  const pick = (event: MouseEvent<HTMLImageElement>) => {
    const box = event.currentTarget.getBoundingClientRect();
    const round = (n: number) => Math.round(Math.min(1, Math.max(0, n)) * 1000) / 1000;
    edit({ focal: { x: round((event.clientX - box.left) / box.width), y: round((event.clientY - box.top) / box.height) } });
  };

  const save = async () => {
    setSaving(true);
    setError(null);
    try {
      const saved = await answer(
        api.PATCH('/v1/images/{id}', {
          params: { path: { id }, header: etag ? { 'If-Match': etag } : {} },
          body: { alt: orNull(current.alt), caption: orNull(current.caption), credit: orNull(current.credit), focal_point: current.focal },
        }),
      );
      loaded.set({ image: saved.data, etag: saved.etag });
      setWords(null);
      setNotice('Saved.');
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setSaving(false);
    }
  };

  const remove = async () => {
    if (!window.confirm('Delete this image and its files? This cannot be undone.')) return;
    setError(null);
    try {
      await call(api.DELETE('/v1/images/{id}', { params: { path: { id }, header: etag ? { 'If-Match': etag } : {} } }));
      navigate(`${BASE}/images`);
    } catch (err) {
      setError(asApiError(err));
      usage.reload();
    }
  };

  const focal = current.focal ?? { x: 0.5, y: 0.5 };
  const position = `${focal.x * 100}% ${focal.y * 100}%`;
  const problem = altProblem(current.alt);
  const fields = error?.fields ?? new Map<string, string>();
  const uses = usage.data;

  return (
    <section aria-labelledby="image-title" className="image-detail">
      <header className="page-header">
        <Link href={`${BASE}/images`}>← Images</Link>
        <h1 id="image-title">{image.alt?.trim() || image.caption || 'Image'}</h1>
      </header>
      <div className="image-grid">
        <div className="image-stage">
          <div className="focal-frame">
            <img
              src={variantUrl(image, 1024)}
              alt={image.alt ?? ''}
              width={image.width}
              height={image.height}
              onClick={canEdit ? pick : undefined}
              className={canEdit ? 'pickable' : undefined}
            />
            {current.focal && <span className="focal-mark" aria-hidden="true" style={{ left: `${focal.x * 100}%`, top: `${focal.y * 100}%` }} />}
          </div>
          {canEdit && <p className="muted">Click on the picture where its subject is: crops keep that point in view.</p>}
          <div className="crops" aria-label="Crops with this focal point">
            {[
              ['Square', '1 / 1'],
              ['Wide', '16 / 9'],
              ['Tall', '3 / 4'],
            ].map(([name, ratio]) => (
              <figure key={name}>
                <img src={variantUrl(image, 320)} alt="" style={{ aspectRatio: ratio, objectPosition: position }} />
                <figcaption className="muted">{name}</figcaption>
              </figure>
            ))}
          </div>
        </div>

        <div className="image-side">
          <section aria-labelledby="words-title">
            <h2 id="words-title">Words</h2>
            <label>
              Alt text
              <textarea rows={2} value={current.alt} disabled={!canEdit} aria-invalid={fields.has('alt') || undefined} aria-describedby="alt-warn" onChange={(e) => edit({ alt: e.target.value })} />
              <span id="alt-warn" className={fields.get('alt') ? 'field-error' : 'warn'}>
                {fields.get('alt') ?? problem}
              </span>
            </label>
            <label>
              Caption
              <textarea rows={2} value={current.caption} disabled={!canEdit} onChange={(e) => edit({ caption: e.target.value })} />
              {fields.get('caption') && <span className="field-error">{fields.get('caption')}</span>}
            </label>
            <label>
              Credit
              <input value={current.credit} disabled={!canEdit} placeholder="Photo by …" onChange={(e) => edit({ credit: e.target.value })} />
              {fields.get('credit') && <span className="field-error">{fields.get('credit')}</span>}
            </label>
            <fieldset className="focal-fields" disabled={!canEdit}>
              <legend>Focal point</legend>
              {(['x', 'y'] as const).map((axis) => (
                <label key={axis}>
                  {axis === 'x' ? 'From the left' : 'From the top'}
                  <input
                    type="number"
                    min={0}
                    max={1}
                    step={0.05}
                    value={current.focal ? current.focal[axis] : ''}
                    placeholder="centre"
                    onChange={(e) => {
                      const value = e.target.value === '' ? null : Number(e.target.value);
                      if (value === null) edit({ focal: null });
                      else edit({ focal: { ...focal, [axis]: value } });
                    }}
                  />
                </label>
              ))}
              <button type="button" onClick={() => edit({ focal: null })} disabled={!current.focal}>
                Centre
              </button>
            </fieldset>
            {canEdit && (
              <div className="actions">
                <button type="button" className="primary" disabled={!dirty || saving} onClick={() => void save()}>
                  {saving ? 'Saving…' : 'Save'}
                </button>
                {dirty && (
                  <button type="button" onClick={() => setWords(null)}>
                    Discard changes
                  </button>
                )}
                {notice && <span role="status">{notice}</span>}
              </div>
            )}
            {error && <ErrorNotice error={error} />}
          </section>

          {seesUses && (
            <section aria-labelledby="uses-title">
              <h2 id="uses-title">Where it is used</h2>
              {usage.error && <ErrorNotice error={usage.error} onRetry={usage.reload} />}
              {uses && uses.meta.total === 0 && <p className="muted">Nothing uses this image: it can be deleted.</p>}
              {uses && uses.meta.total > 0 && (
                <ul className="uses">
                  {uses.data.map((use) => (
                    <li key={`${use.kind}:${use.id}`}>
                      {USE[use.kind]}{' '}
                      <Link href={use.kind === 'author_avatar' ? `${BASE}/authors/${use.id}` : `${BASE}/articles/${use.id}`}>{use.label}</Link>
                    </li>
                  ))}
                  {uses.meta.total > uses.data.length && <li className="muted">and {uses.meta.total - uses.data.length} more</li>}
                </ul>
              )}
              {canEdit && (
                <button type="button" className="danger" onClick={() => void remove()}>
                  Delete image
                </button>
              )}
            </section>
          )}

          <section aria-labelledby="file-title">
            <h2 id="file-title">File</h2>
            <dl className="facts">
              <dt>Size</dt>
              <dd>
                {image.width} × {image.height} px, {(image.bytes / 1024).toFixed(0)} KB, {image.mime_type}
              </dd>
              <dt>Variants</dt>
              <dd>{[...new Set(image.variants.map((v) => v.width))].join(', ') || 'none (small original)'} px wide</dd>
              <dt>Uploaded</dt>
              <dd>{formatWhen(image.created_at)}</dd>
              <dt>Original</dt>
              <dd>
                <a href={image.url}>{image.url.split('/').pop()}</a>
              </dd>
            </dl>
          </section>
        </div>
      </div>
    </section>
  );
}
