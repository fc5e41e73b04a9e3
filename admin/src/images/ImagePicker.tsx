// Choosing an image from the library (an author's avatar): the library grid in a modal
// dialog, searchable, where choosing a cell picks it. A native <dialog>: it keeps focus inside
// and closes on Escape.
import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { Image } from '../api/images';
import { ErrorNotice } from '../ui/ErrorNotice';
import { LibraryGrid } from './LibraryGrid';
import { useLibrary } from './useLibrary';

export function ImagePicker({ title, onPick, onClose }: { title: string; onPick: (image: Image) => void; onClose: () => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [q, setQ] = useState('');
  const library = useLibrary(q, null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  const search = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const value = new FormData(event.currentTarget).get('q');
    setQ(typeof value === 'string' ? value.trim() : '');
  };
  return (
    <dialog ref={dialog} className="picker" aria-labelledby="picker-title" onClose={onClose}>
      <header className="page-header">
        <h2 id="picker-title">{title}</h2>
        <button type="button" onClick={() => dialog.current?.close()}>
          Close
        </button>
      </header>
      <form role="search" onSubmit={search} className="filters">
        <label>
          Search the library
          <input name="q" type="search" defaultValue={q} />
        </label>
        <button type="submit">Search</button>
        <span className="muted" role="status">
          {library.loading && library.images.length === 0 ? 'Loading images…' : `${library.total.toLocaleString()} images`}
        </span>
      </form>
      {library.error && <ErrorNotice error={library.error} onRetry={library.reload} />}
      <LibraryGrid
        label="Images to choose from"
        images={library.images}
        total={library.total}
        hasMore={library.hasMore}
        loadMore={library.loadMore}
        renderAction={(image, children) => (
          <button
            type="button"
            className="cell-link"
            aria-label={`Choose ${image.alt?.trim() || image.caption || image.id}`}
            onClick={() => {
              onPick(image);
              dialog.current?.close();
            }}
          >
            {children}
          </button>
        )}
      />
    </dialog>
  );
}
