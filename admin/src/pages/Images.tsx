// The image library: search, "unused", a virtualised grid of lazy thumbnails, and uploads of
// several files at once by drag and drop or the file chooser.
import { useRef, useState, type DragEvent, type FormEvent } from 'react';
import { LibraryGrid } from '../images/LibraryGrid';
import { UploadQueue, useUploads } from '../images/UploadQueue';
import { useLibrary } from '../images/useLibrary';
import { BASE, Link, changeQuery } from '../router';
import { atLeast, useUser } from '../session';
import { ErrorNotice } from '../ui/ErrorNotice';

const FILTERS = [
  ['', 'All images'],
  ['true', 'Unused'],
  ['false', 'In use'],
] as const;

export default function Images({ query }: { query: URLSearchParams }) {
  const user = useUser();
  const q = query.get('q') ?? '';
  const unusedParam = query.get('unused');
  const unused = unusedParam === 'true' ? true : unusedParam === 'false' ? false : null;
  const library = useLibrary(q, unused);
  const uploads = useUploads((image, duplicate) => {
    if (!duplicate) library.prepend(image);
  });
  const chooser = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const canUpload = atLeast(user, 'author');

  const set = (changes: Record<string, string | null>) => changeQuery('/images', query, changes, { replace: true });
  const search = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const value = new FormData(event.currentTarget).get('q');
    set({ q: typeof value === 'string' ? value.trim() : null });
  };
  const drop = (event: DragEvent<HTMLElement>) => {
    event.preventDefault();
    setOver(false);
    if (!canUpload) return;
    const files = [...event.dataTransfer.files].filter((f) => f.type.startsWith('image/') || f.type === '');
    if (files.length) uploads.add(files);
  };

  return (
    <section
      aria-labelledby="images-title"
      className={`images${over ? ' drop-over' : ''}`}
      onDragOver={(e) => {
        if (!canUpload) return;
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={(e) => {
        if (e.currentTarget === e.target) setOver(false);
      }}
      onDrop={drop}
    >
      <header className="page-header">
        <h1 id="images-title">Images</h1>
        {canUpload && (
          <>
            <span className="muted">Drop images anywhere here, or</span>
            <button type="button" className="primary" onClick={() => chooser.current?.click()}>
              Upload images
            </button>
            <input
              ref={chooser}
              type="file"
              multiple
              accept="image/jpeg,image/png,image/gif,image/webp"
              className="visually-hidden"
              aria-label="Images to upload"
              tabIndex={-1}
              onChange={(e) => {
                const files = [...(e.target.files ?? [])];
                e.target.value = '';
                if (files.length) uploads.add(files);
              }}
            />
          </>
        )}
      </header>
      <UploadQueue entries={uploads.entries} onClear={uploads.clear} />
      <div className="filters">
        <form role="search" onSubmit={search} key={q}>
          <label>
            Search
            <input name="q" type="search" defaultValue={q} placeholder="Alt text, caption, credit…" />
          </label>
          <button type="submit">Search</button>
        </form>
        <nav aria-label="Use" className="tabs compact">
          {FILTERS.map(([value, label]) => (
            <Link
              key={value}
              href={`${BASE}/images${value ? `?unused=${value}` : ''}`}
              aria-current={(unusedParam ?? '') === value ? 'page' : undefined}
              onClick={(e) => {
                e.preventDefault();
                set({ unused: value || null });
              }}
            >
              {label}
            </Link>
          ))}
        </nav>
        <span className="muted" role="status">
          {library.loading && library.images.length === 0 ? 'Loading images…' : `${library.total.toLocaleString()} image${library.total === 1 ? '' : 's'}`}
        </span>
      </div>
      {library.error && <ErrorNotice error={library.error} onRetry={library.reload} />}
      {!library.loading && !library.error && library.images.length === 0 ? (
        <p className="empty">{q || unused !== null ? 'No image matches.' : canUpload ? 'The library is empty: drop images here to add them.' : 'The library is empty.'}</p>
      ) : (
        <LibraryGrid
          label="Library"
          images={library.images}
          total={library.total}
          hasMore={library.hasMore}
          loadMore={library.loadMore}
          renderAction={(image, children) => (
            <Link href={`${BASE}/images/${image.id}`} className="cell-link" aria-label={image.alt?.trim() || image.caption || `Image ${image.id}`}>
              {children}
            </Link>
          )}
        />
      )}
    </section>
  );
}
