// One article's working copy. Edits are never lost: every change is kept in this browser at
// once, saved after a pause (and by Save, Ctrl+S) with If-Match, and a 412 shows what the
// other person changed before anyone's work is replaced.
import { EditorContent, ReactNodeViewRenderer, useEditor } from '@tiptap/react';
import '../editor/prosemirror.css';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, type Article, type Schemas } from '../api/client';
import { uploadImage, type Image } from '../api/images';
import { ApiError, answer, call } from '../api/problem';
import { sameJson } from '../api/same';
import { fromEditor, toEditor, type Block } from '../editor/blocks';
import { BlockErrors, blockErrorsKey, byBlock } from '../editor/blockErrors';
import { EmbedBlockView, ImageBlockView } from '../editor/BlockViews';
import { GalleyEmbed, GalleyImage, galleyExtensions } from '../editor/schema';
import { RefPicker, type Ref } from '../editor/RefPicker';
import { cleanPastedHtml } from '../editor/paste';
import { Revisions } from '../editor/Revisions';
import { Toolbar } from '../editor/Toolbar';
import { LABEL, actionsFor, type Action } from '../editor/workflow';
import { BASE, Link, guardNavigation, navigate } from '../router';
import { useUser } from '../session';
import { ErrorNotice } from '../ui/ErrorNotice';
import { ImageFileInput } from '../ui/ImageFileInput';
import { StatusBadge, formatWhen } from '../ui/format';
import { countWords } from '../editor/words';
import { altProblem } from '../images/alt';
import { ImagePicker } from '../images/ImagePicker';

interface Banner {
  image_id: string;
  caption: string | null;
  credit: string | null;
}

interface Seo {
  title: string | null;
  description: string | null;
  canonical_url: string | null;
}

interface Fields {
  title: string;
  subtitle: string;
  slug: string;
  excerpt: string;
  featured: boolean;
  language: string;
  body: Block[];
  authors: Ref[];
  tags: Ref[];
  banner: Banner | null;
  seo: Seo;
}

const NO_SEO: Seo = { title: null, description: null, canonical_url: null };
const EMPTY: Fields = {
  title: '',
  subtitle: '',
  slug: '',
  excerpt: '',
  featured: false,
  language: 'en',
  body: [],
  authors: [],
  tags: [],
  banner: null,
  seo: NO_SEO,
};
const AUTOSAVE_MS = 1500;

function fieldsOf(article: Article): Fields {
  return {
    title: article.title,
    subtitle: article.subtitle ?? '',
    slug: article.slug,
    excerpt: article.excerpt ?? '',
    featured: article.featured,
    language: article.language,
    body: fromEditor(toEditor(article.body ?? [])),
    authors: article.authors.map((a) => ({ id: a.id, name: a.name })),
    tags: article.tags.map((t) => ({ id: t.id, name: t.name })),
    banner: article.banner ? { image_id: article.banner.image.id, caption: article.banner.caption, credit: article.banner.credit } : null,
    seo: { title: article.seo.title ?? null, description: article.seo.description ?? null, canonical_url: article.seo.canonical_url ?? null },
  };
}

/** Chosen authors or tags as the API takes them: ids, or names to create. */
const refs = (list: Ref[]) => list.map((r) => r.id ?? { name: r.name });

type Update = Schemas['UpdateArticle'];

/** What changed from `from` to `to`, as the API takes it (`null` clears an optional text). */
function changes(from: Fields, to: Fields): Update {
  const out: Update = {};
  const same = (key: keyof Fields) => sameJson(from[key], to[key]);
  if (!same('title')) out.title = to.title;
  if (!same('subtitle')) out.subtitle = to.subtitle === '' ? null : to.subtitle;
  if (!same('slug')) out.slug = to.slug;
  if (!same('excerpt')) out.excerpt = to.excerpt === '' ? null : to.excerpt;
  if (!same('featured')) out.featured = to.featured;
  if (!same('language')) out.language = to.language;
  if (!same('body')) out.body = to.body;
  if (!same('authors')) out.authors = refs(to.authors);
  if (!same('tags')) out.tags = refs(to.tags);
  if (!same('banner')) out.banner = to.banner;
  if (!same('seo')) out.seo = to.seo;
  return out;
}

/** After a save: fields not edited since it was sent take the server's values (a derived
 * excerpt, a generated slug, ids of authors and tags it created); newer edits stay. */
function rebase(sent: Fields, after: Fields, current: Fields): Fields {
  const out = { ...current };
  for (const key of Object.keys(current) as (keyof Fields)[]) {
    if (sameJson(current[key], sent[key])) (out as Record<string, unknown>)[key] = after[key];
  }
  return out;
}

const FIELD_NAMES: Record<keyof Fields, string> = {
  title: 'Title',
  subtitle: 'Subtitle',
  slug: 'Slug',
  excerpt: 'Excerpt',
  featured: 'Featured',
  language: 'Language',
  body: 'Body',
  authors: 'Authors',
  tags: 'Tags',
  banner: 'Banner',
  seo: 'SEO',
};

interface Kept {
  fields: Fields;
  /** The ETag the edits were made on: saving them later still checks it. */
  etag: string | null;
}

const keyOf = (id: string | null) => `galley-edits:${id ?? 'new'}`;

function readKept(id: string | null): Kept | null {
  try {
    const raw = window.localStorage.getItem(keyOf(id));
    return raw ? (JSON.parse(raw) as Kept) : null;
  } catch {
    return null;
  }
}

/** The working copy with its ETag. */
const fetchWorking = (id: string) => answer(api.GET('/v1/articles/{id}', { params: { path: { id }, query: { view: 'working' } } }));

type SaveState = 'saved' | 'unsaved' | 'saving' | 'offline' | 'failed';

export default function ArticleEditor({ id }: { id: string | null }) {
  const user = useUser();
  const [base, setBase] = useState<Article | null>(null);
  const [etag, setEtag] = useState<string | null>(null);
  const [fields, setFields] = useState<Fields>(EMPTY);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [saveState, setSaveState] = useState<SaveState>('saved');
  const [saveError, setSaveError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [conflict, setConflict] = useState<{ theirs: Article; etag: string | null; mine: Fields } | null>(null);
  const [scheduleAt, setScheduleAt] = useState('');
  const [busyAction, setBusyAction] = useState<Action | null>(null);
  const [preview, setPreview] = useState<{ html: string; url: string } | null>(null);
  const [showRevisions, setShowRevisions] = useState(false);
  const [uploading, setUploading] = useState<string | null>(null);
  const picker = useRef<HTMLInputElement>(null);
  const conflictHeading = useRef<HTMLHeadingElement>(null);
  const previewOpener = useRef<HTMLElement | null>(null);
  // A conflict takes the focus, so that keyboard and screen-reader users meet it first.
  useEffect(() => {
    if (conflict) conflictHeading.current?.focus();
  }, [conflict]);
  const closePreview = () => {
    setPreview(null);
    previewOpener.current?.focus();
  };
  const bannerPicker = useRef<HTMLInputElement>(null);
  /** Where an image chosen in the library dialog goes, while it is open. */
  const [libraryFor, setLibraryFor] = useState<'body' | 'banner' | null>(null);
  /** The banner's image as the library has it, for showing. */
  const [bannerImage, setBannerImage] = useState<Image | null>(null);
  useEffect(() => setBannerImage(base?.banner?.image ?? null), [base]);
  const saving = useRef(false);
  /** Opened: the server's copy (and any kept edits) are in. Until then nothing kept is dropped. */
  const [ready, setReady] = useState(false);
  /** The id a first save just created: its copy is already here, with any edits since. */
  const created = useRef<string | null>(null);

  const saved = useMemo(() => (base ? fieldsOf(base) : EMPTY), [base]);
  const pending = useMemo(() => changes(saved, fields), [saved, fields]);
  const dirty = Object.keys(pending).length > 0;

  const editor = useEditor({
    extensions: [
      ...galleyExtensions().filter((e) => e.name !== 'galleyImage' && e.name !== 'galleyEmbed'),
      GalleyImage.extend({ addNodeView: () => ReactNodeViewRenderer(ImageBlockView) }),
      GalleyEmbed.extend({ addNodeView: () => ReactNodeViewRenderer(EmbedBlockView) }),
      BlockErrors,
    ],
    editorProps: {
      attributes: { 'aria-label': 'Body', role: 'textbox', 'aria-multiline': 'true', class: 'body-editor' },
      transformPastedHTML: cleanPastedHtml,
    },
    content: toEditor([]),
    injectCSS: false,
    onUpdate: ({ editor: e }) => setFields((f) => ({ ...f, body: fromEditor(e.getJSON()) })),
  });

  const load = useCallback(
    (article: Article, tag: string | null) => {
      setBase(article);
      setEtag(tag);
      const mine = fieldsOf(article);
      setFields(mine);
      editor?.commands.setContent(toEditor(article.body ?? []), { emitUpdate: false });
    },
    [editor],
  );

  // Open: the working copy, then any edits this browser kept that were never saved.
  useEffect(() => {
    if (!editor) return;
    const kept = readKept(id);
    if (id !== null && created.current === id) {
      created.current = null;
      setReady(true);
      return;
    }
    if (id === null) {
      if (kept) {
        setFields(kept.fields);
        editor.commands.setContent(toEditor(kept.fields.body), { emitUpdate: false });
        setNotice('Restored a new article’s edits kept in this browser.');
      }
      setReady(true);
      return;
    }
    // An editor replaced meanwhile (React's development double mount) must not be written to.
    let current = true;
    fetchWorking(id)
      .then(({ data, etag: tag }) => {
        if (!current || editor.isDestroyed) return;
        load(data, tag);
        if (kept && !sameJson(kept.fields, fieldsOf(data))) {
          setFields(kept.fields);
          setEtag(kept.etag);
          editor.commands.setContent(toEditor(kept.fields.body), { emitUpdate: false });
          setNotice('Restored edits kept in this browser that were not saved yet; they save now.');
        }
        setReady(true);
      })
      .catch((err: unknown) => {
        if (!current) return;
        if (!(err instanceof ApiError)) console.error('opening the article failed', err);
        setLoadError(err instanceof ApiError ? err : new ApiError(500, null));
      });
    return () => {
      current = false;
    };
  }, [id, editor, load]);

  // The body's field errors go onto the blocks they name.
  useEffect(() => {
    if (!editor || editor.isDestroyed) return;
    editor.view.dispatch(editor.state.tr.setMeta(blockErrorsKey, byBlock(saveError?.fields ?? [])));
  }, [editor, saveError]);

  // Keep every edit in this browser until the server has it.
  useEffect(() => {
    if (!editor || !ready) return;
    if (dirty) {
      window.localStorage.setItem(keyOf(id), JSON.stringify({ fields, etag } satisfies Kept));
      if (saveState === 'saved') setSaveState('unsaved');
    } else {
      window.localStorage.removeItem(keyOf(id));
    }
  }, [fields, dirty, id, etag, editor, saveState, ready]);

  const save = useCallback(
    async (overwriteWith?: string | null) => {
      if (saving.current) return;
      const body = changes(saved, fields);
      if (Object.keys(body).length === 0 && overwriteWith === undefined) return;
      if (id === null && fields.title.trim() === '') {
        setSaveState('unsaved');
        return;
      }
      saving.current = true;
      const sent = fields;
      setSaveState('saving');
      setSaveError(null);
      try {
        if (id === null) {
          const { slug, ...rest } = body;
          const made = await answer(
            api.POST('/v1/articles', { body: { ...rest, ...(slug ? { slug } : {}), title: fields.title } }),
          );
          window.localStorage.removeItem(keyOf(null));
          setBase(made.data);
          setEtag(made.etag);
          setFields((current) => rebase(sent, fieldsOf(made.data), current));
          setSaveState('saved');
          created.current = made.data.id;
          navigate(`${BASE}/articles/${made.data.id}`, { replace: true });
          return;
        }
        const tag = overwriteWith ?? etag ?? '*';
        const updated = await answer(
          api.PATCH('/v1/articles/{id}', {
            params: { path: { id }, header: { 'If-Match': tag } },
            // Overwriting sends my edits only: where we both changed a field mine wins, and
            // their other changes stay.
            body,
          }),
        );
        setBase(updated.data);
        setEtag(updated.etag);
        setFields((current) => rebase(sent, fieldsOf(updated.data), current));
        setConflict(null);
        setSaveState('saved');
      } catch (err) {
        const error = err instanceof ApiError ? err : new ApiError(0, null);
        if (error.status === 412 && id) {
          const theirs = await fetchWorking(id);
          setConflict({ theirs: theirs.data, etag: theirs.etag, mine: fields });
          setSaveState('failed');
        } else {
          setSaveState(error.status === 0 ? 'offline' : 'failed');
          setSaveError(error);
        }
      } finally {
        saving.current = false;
      }
    },
    [saved, fields, id, etag],
  );

  // Autosave after a pause in typing; not while a conflict waits for a decision.
  useEffect(() => {
    if (!dirty || conflict || saveState === 'saving' || (saveState === 'failed' && saveError?.status === 422)) return;
    const timer = window.setTimeout(() => void save(), AUTOSAVE_MS);
    return () => window.clearTimeout(timer);
  }, [dirty, fields, conflict, save, saveState, saveError]);

  // Back online: save what was kept.
  useEffect(() => {
    const online = () => void save();
    window.addEventListener('online', online);
    return () => window.removeEventListener('online', online);
  }, [save]);

  // Leaving with unsaved edits asks first.
  useEffect(() => {
    if (!dirty) return;
    const ask = (event: BeforeUnloadEvent) => event.preventDefault();
    window.addEventListener('beforeunload', ask);
    guardNavigation(() => window.confirm('Leave? Your unsaved edits stay in this browser and are saved when you come back.'));
    return () => {
      window.removeEventListener('beforeunload', ask);
      guardNavigation(null);
    };
  }, [dirty]);

  useEffect(() => {
    const shortcut = (event: KeyboardEvent) => {
      if ((event.ctrlKey || event.metaKey) && event.key === 's') {
        event.preventDefault();
        void save();
      }
    };
    window.addEventListener('keydown', shortcut);
    return () => window.removeEventListener('keydown', shortcut);
  }, [save]);

  const placeImage = (image: Image) =>
    editor
      ?.chain()
      .focus()
      .insertContent({ type: 'galleyImage', attrs: { imageId: image.id, image, alt: null, caption: image.caption, credit: image.credit } })
      .run();
  const placeBanner = (image: Image) => {
    setBannerImage(image);
    setFields((f) => ({ ...f, banner: { image_id: image.id, caption: f.banner?.caption ?? null, credit: f.banner?.credit ?? image.credit } }));
  };

  /** Uploads a file to the library, then uses the image (the one already there, for the same bytes). */
  const uploadThen = async (file: File, use: (image: Image) => void) => {
    setUploading(`Uploading ${file.name}…`);
    setSaveError(null);
    try {
      const { image, duplicate } = await uploadImage(file, { onProgress: (p) => setUploading(`Uploading ${file.name}: ${Math.round(p * 100)} %`) });
      use(image);
      setUploading(duplicate ? `${file.name} was already in the library; that image is used.` : null);
    } catch (err) {
      setUploading(null);
      setSaveError(err instanceof ApiError ? err : new ApiError(0, null));
    }
  };

  const reload = async () => {
    if (!id) return;
    const fresh = await fetchWorking(id);
    load(fresh.data, fresh.etag);
  };

  const act = async (action: Action) => {
    if (!id) return;
    if (dirty) await save();
    setBusyAction(action);
    setSaveError(null);
    try {
      const input = action === 'schedule' ? { publish_at: new Date(scheduleAt).toISOString() } : {};
      await call(api.POST('/v1/articles/{id}/{action}', { params: { path: { id, action } }, body: input }));
      await reload();
      setNotice(`${LABEL[action]}: done.`);
    } catch (err) {
      setSaveError(err instanceof ApiError ? err : new ApiError(0, null));
    } finally {
      setBusyAction(null);
    }
  };

  const openPreview = async () => {
    if (!id) return;
    previewOpener.current = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    try {
      const token = await call(api.POST('/v1/articles/{id}/preview', { params: { path: { id } } }));
      const page = await call(
        api.GET('/v1/articles/{id}', { params: { path: { id }, query: { preview_token: token.token } } }),
      );
      setPreview({ html: page.body_html ?? '', url: token.url });
    } catch (err) {
      setSaveError(err instanceof ApiError ? err : new ApiError(0, null));
    }
  };

  // Missing or placeholder alt text, for the warning next to Publish (a warning, never a block).
  const altWarnings = useMemo(() => {
    const found: string[] = [];
    const banner = fields.banner && bannerImage ? altProblem(bannerImage.alt) : null;
    if (banner) found.push(`The banner: ${banner}`);
    let n = 0;
    editor?.state.doc.descendants((node) => {
      if (node.type.name !== 'galleyImage') return;
      n += 1;
      const attrs = node.attrs as { alt: string | null; image: Image | null };
      const problem = altProblem(attrs.alt, attrs.image?.alt ?? null);
      if (problem) found.push(`Image ${n} of the body: ${problem}`);
    });
    return found;
    // fields.body changes with every edit of the document the editor holds.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [fields.body, fields.banner, bannerImage, editor]);

  if (loadError) return <ErrorNotice error={loadError} />;
  if (id !== null && !base) return <p role="status">Loading the article…</p>;

  const errors = saveError?.fields ?? new Map<string, string>();
  const fieldError = (name: string) =>
    errors.get(name) ? (
      <span className="field-error" id={`${name}-error`}>
        {errors.get(name)}
      </span>
    ) : null;
  const bodyErrors = [...errors].filter(([field]) => field.startsWith('body'));
  const { allowed, refused } = base ? actionsFor(base.status, user.role) : { allowed: [], refused: [] };
  const words = countWords(fields.body);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const input = (name: 'title' | 'subtitle' | 'slug' | 'excerpt' | 'language', label: string, multiline = false) => {
    const props = {
      value: fields[name],
      'aria-invalid': errors.has(name) || undefined,
      'aria-describedby': errors.has(name) ? `${name}-error` : undefined,
      onChange: (e: { target: { value: string } }) => setFields((f) => ({ ...f, [name]: e.target.value })),
    };
    return (
      <label className={`field ${name}`}>
        {label}
        {multiline ? <textarea rows={3} {...props} /> : <input {...props} />}
        {fieldError(name)}
      </label>
    );
  };

  return (
    <article className="editor-page" aria-label="Article editor">
      <header className="page-header">
        <Link href={`${BASE}/`}>← Articles</Link>
        {base && <StatusBadge article={base} />}
        <span className={`save-state ${saveState}`} role="status" aria-live="polite">
          {
            {
              saved: base ? `Saved · version ${base.version}` : 'Not saved yet',
              unsaved: id === null && !fields.title.trim() ? 'Give it a title to save' : 'Unsaved changes',
              saving: 'Saving…',
              offline: 'Offline: your edits are kept in this browser and saved when the connection is back',
              failed: 'Not saved',
            }[saveState]
          }
        </span>
        <button type="button" className="primary" onClick={() => void save()} disabled={saveState === 'saving'}>
          Save
        </button>
      </header>

      {notice && (
        <p className="notice" role="status">
          {notice}
        </p>
      )}
      {saveError && saveError.status !== 422 && <ErrorNotice error={saveError} />}
      {saveError?.status === 422 && <p className="error" role="alert">{saveError.message}</p>}

      {conflict && (
        <section className="conflict" role="alertdialog" aria-labelledby="conflict-title">
          <h2 id="conflict-title" tabIndex={-1} ref={conflictHeading}>Someone else saved this article while you were editing</h2>
          <p>
            Version {conflict.theirs.version}, saved {formatWhen(conflict.theirs.updated_at)}, changed:
          </p>
          <ul>
            {(Object.keys(FIELD_NAMES) as (keyof Fields)[])
              .filter((key) => !sameJson(fieldsOf(conflict.theirs)[key], saved[key]))
              .map((key) => (
                <li key={key}>
                  <strong>{FIELD_NAMES[key]}</strong>
                  {!['body', 'authors', 'tags', 'banner', 'seo'].includes(key) && (
                    <>
                      : “{String(saved[key])}” → “{String(fieldsOf(conflict.theirs)[key])}” (yours: “{String(conflict.mine[key])}”)
                    </>
                  )}
                </li>
              ))}
          </ul>
          <div className="actions">
            <button
              type="button"
              onClick={() => {
                load(conflict.theirs, conflict.etag);
                setConflict(null);
                setSaveState('saved');
                window.localStorage.removeItem(keyOf(id));
              }}
            >
              Take theirs (drop my edits)
            </button>
            <button type="button" className="danger" onClick={() => void save(conflict.etag)}>
              Overwrite with mine
            </button>
            <span className="muted">Overwriting keeps their changes to fields you did not edit.</span>
          </div>
        </section>
      )}

      <div className="editor-grid">
        <div className="editor-main">
          {input('title', 'Title')}
          {input('subtitle', 'Subtitle')}
          <div className="body-field">
            <span className="label" id="body-label">
              Body
            </span>
            {editor && (
              <Toolbar
                editor={editor}
                extra={[
                  { label: 'Upload an image into the body', text: 'Image', run: () => picker.current?.click() },
                  { label: 'Insert an image from the library', text: 'Library', run: () => setLibraryFor('body') },
                ]}
              />
            )}
            <ImageFileInput ref={picker} label="Image file to insert" onFile={(file) => void uploadThen(file, placeImage)} />
            {uploading && <p role="status">{uploading}</p>}
            <EditorContent editor={editor} aria-labelledby="body-label" />
            {bodyErrors.length > 0 && (
              <p className="field-error">
                {bodyErrors.length === 1 ? 'One body block needs' : `${bodyErrors.length} body blocks need`} correcting: see the
                outlined {bodyErrors.length === 1 ? 'block' : 'blocks'}.
              </p>
            )}
            <p className="muted">
              {words.words.toLocaleString()} words · about {words.minutes} min read
            </p>
          </div>
        </div>

        <aside className="editor-side" aria-label="Publishing and details">
          {base && (
            <section aria-labelledby="workflow-title">
              <h2 id="workflow-title">Workflow</h2>
              {base.scheduled_at && <p>Scheduled for {formatWhen(base.scheduled_at)}</p>}
              {base.published_at && <p>Published {formatWhen(base.published_at)}</p>}
              {altWarnings.length > 0 && (allowed.includes('publish') || allowed.includes('schedule')) && (
                <div className="alt-warnings" role="note" aria-label="Before publishing">
                  <p className="warn">
                    {altWarnings.length === 1 ? 'One image needs' : `${altWarnings.length} images need`} alt text before this goes out (you can still publish):
                  </p>
                  <ul className="warn">
                    {altWarnings.map((w) => (
                      <li key={w}>{w}</li>
                    ))}
                  </ul>
                </div>
              )}
              <div className="workflow">
                {allowed
                  .filter((a) => a !== 'schedule')
                  .map((action) => (
                    <button key={action} type="button" disabled={busyAction !== null} onClick={() => void act(action)}>
                      {busyAction === action ? `${LABEL[action]}…` : action === 'publish' && base.status === 'published' ? 'Publish changes' : LABEL[action]}
                    </button>
                  ))}
              </div>
              {allowed.includes('schedule') && (
                <div className="schedule">
                  <label>
                    Publish at ({zone})
                    <input type="datetime-local" step="1" value={scheduleAt} onChange={(e) => setScheduleAt(e.target.value)} />
                  </label>
                  {scheduleAt && <p className="muted">= {new Date(scheduleAt).toISOString().replace('.000', '')} (UTC)</p>}
                  <button type="button" disabled={!scheduleAt || busyAction !== null} onClick={() => void act('schedule')}>
                    {base.status === 'scheduled' ? 'Reschedule' : 'Schedule'}
                  </button>
                </div>
              )}
              {refused.length > 0 && (
                <ul className="muted refused">
                  {refused.map(([action, reason]) => (
                    <li key={action}>{reason}.</li>
                  ))}
                </ul>
              )}
              <button type="button" onClick={() => void openPreview()}>
                Preview
              </button>
              <button type="button" aria-expanded={showRevisions} onClick={() => setShowRevisions((v) => !v)}>
                {showRevisions ? 'Hide revisions' : 'Revisions'}
              </button>
            </section>
          )}
          {base && showRevisions && (
            <Revisions
              article={base}
              etag={etag}
              onRestored={() => {
                void reload().then(() => setNotice('The revision is restored as the working copy; publish to put it live.'));
              }}
            />
          )}
          <section aria-labelledby="details-title">
            <h2 id="details-title">Details</h2>
            <RefPicker label="Authors" kind="authors" value={fields.authors} onChange={(authors) => setFields((f) => ({ ...f, authors }))} error={[...errors].find(([k]) => k.startsWith('authors'))?.[1]} />
            <RefPicker label="Tags" kind="tags" value={fields.tags} onChange={(tags) => setFields((f) => ({ ...f, tags }))} error={[...errors].find(([k]) => k.startsWith('tags'))?.[1]} />
            {input('slug', 'Slug')}
            {input('excerpt', 'Excerpt', true)}
            {input('language', 'Language')}
            <label className="check">
              <input type="checkbox" checked={fields.featured} onChange={(e) => setFields((f) => ({ ...f, featured: e.target.checked }))} />
              Featured
            </label>
          </section>
          <section aria-labelledby="banner-title" className="banner">
            <h2 id="banner-title">Banner</h2>
            {fields.banner && bannerImage && (
              <img src={bannerImage.variants.find((v) => v.width >= 480)?.url ?? bannerImage.url} alt={bannerImage.alt ?? ''} />
            )}
            {fields.banner && (
              <>
                <label>
                  Banner caption
                  <input
                    value={fields.banner.caption ?? ''}
                    onChange={(e) => setFields((f) => (f.banner ? { ...f, banner: { ...f.banner, caption: e.target.value || null } } : f))}
                  />
                </label>
                <label>
                  Banner credit
                  <input
                    value={fields.banner.credit ?? ''}
                    placeholder="Photo by …"
                    onChange={(e) => setFields((f) => (f.banner ? { ...f, banner: { ...f.banner, credit: e.target.value || null } } : f))}
                  />
                </label>
                {fieldError('banner.image_id')}
              </>
            )}
            <div className="workflow">
              <button type="button" onClick={() => setLibraryFor('banner')}>
                {fields.banner ? 'Another banner from the library' : 'Banner from the library'}
              </button>
              <button type="button" onClick={() => bannerPicker.current?.click()}>
                Upload a banner
              </button>
              {fields.banner && (
                <button type="button" onClick={() => setFields((f) => ({ ...f, banner: null }))}>
                  Remove banner
                </button>
              )}
            </div>
            <ImageFileInput ref={bannerPicker} label="Banner image file" onFile={(file) => void uploadThen(file, placeBanner)} />
          </section>
          <section aria-labelledby="seo-title">
            <h2 id="seo-title">SEO</h2>
            {(['title', 'description', 'canonical_url'] as const).map((key) => (
              <label key={key}>
                {{ title: 'SEO title', description: 'Meta description', canonical_url: 'Canonical URL' }[key]}
                <input
                  value={fields.seo[key] ?? ''}
                  aria-invalid={errors.has(`seo.${key}`) || undefined}
                  onChange={(e) => setFields((f) => ({ ...f, seo: { ...f.seo, [key]: e.target.value || null } }))}
                />
                {fieldError(`seo.${key}`)}
              </label>
            ))}
          </section>
        </aside>
      </div>

      {libraryFor && (
        <ImagePicker
          title={libraryFor === 'banner' ? 'Choose the banner' : 'Insert an image'}
          onPick={(image) => (libraryFor === 'banner' ? placeBanner(image) : placeImage(image))}
          onClose={() => setLibraryFor(null)}
        />
      )}
      {preview && (
        <div
          className="preview"
          role="dialog"
          aria-modal="true"
          aria-labelledby="preview-title"
          onKeyDown={(e) => {
            if (e.key === 'Escape') closePreview();
            // Modal: Tab cycles within the dialog.
            if (e.key === 'Tab') {
              const focusable = [...e.currentTarget.querySelectorAll<HTMLElement>('a[href], button, input, select, textarea')];
              const first = focusable[0];
              const last = focusable[focusable.length - 1];
              if (e.shiftKey && document.activeElement === first) {
                last?.focus();
                e.preventDefault();
              } else if (!e.shiftKey && document.activeElement === last) {
                first?.focus();
                e.preventDefault();
              }
            }
          }}
        >
          <header>
            <h2 id="preview-title">Preview: {fields.title}</h2>
            <a href={preview.url} target="_blank" rel="noreferrer">
              Preview link
            </a>
            <button type="button" onClick={closePreview} autoFocus>
              Close
            </button>
          </header>
          {/* Galley renders body_html with every text and attribute escaped (docs/API.md §15). */}
          <div className="public-body" dangerouslySetInnerHTML={{ __html: preview.html }} />
        </div>
      )}
    </article>
  );
}
