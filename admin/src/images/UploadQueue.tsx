// Several images dropped or chosen at once: each uploads with its own progress bar, two at a
// time (the server processes each on a bounded pool anyway), and says what became of it —
// added, already in the library, or refused and why.
import { useCallback, useState } from 'react';
import { uploadImage, type Image } from '../api/images';
import { BASE, Link } from '../router';
import { asApiError } from '../ui/useLoad';

interface Entry {
  key: number;
  name: string;
  progress: number;
  state: 'waiting' | 'uploading' | 'added' | 'duplicate' | 'failed';
  message?: string;
  image?: Image;
}

const AT_ONCE = 2;
let nextKey = 0;

export function useUploads(onUploaded: (image: Image, duplicate: boolean) => void) {
  const [entries, setEntries] = useState<Entry[]>([]);
  const update = (key: number, change: Partial<Entry>) => setEntries((all) => all.map((e) => (e.key === key ? { ...e, ...change } : e)));

  const add = useCallback(
    (files: File[]) => {
      const fresh = files.map((file) => ({ file, entry: { key: nextKey++, name: file.name, progress: 0, state: 'waiting' as const } }));
      setEntries((all) => [...fresh.map((f) => f.entry), ...all]);
      const queue = [...fresh];
      const worker = async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const { file, entry } = next;
          update(entry.key, { state: 'uploading' });
          try {
            const { image, duplicate } = await uploadImage(file, { onProgress: (progress) => update(entry.key, { progress }) });
            update(entry.key, { state: duplicate ? 'duplicate' : 'added', progress: 1, image });
            onUploaded(image, duplicate);
          } catch (err) {
            update(entry.key, { state: 'failed', message: asApiError(err).message });
          }
        }
      };
      for (let i = 0; i < Math.min(AT_ONCE, fresh.length); i++) void worker();
    },
    [onUploaded],
  );
  const clear = () => setEntries((all) => all.filter((e) => e.state === 'waiting' || e.state === 'uploading'));
  return { entries, add, clear };
}

const SAID: Record<Entry['state'], string> = {
  waiting: 'Waiting',
  uploading: 'Uploading',
  added: 'Added',
  duplicate: 'Already in the library',
  failed: 'Not uploaded',
};

export function UploadQueue({ entries, onClear }: { entries: Entry[]; onClear: () => void }) {
  if (entries.length === 0) return null;
  const busy = entries.some((e) => e.state === 'waiting' || e.state === 'uploading');
  return (
    <section className="uploads" aria-label="Uploads">
      <ul>
        {entries.map((e) => (
          <li key={e.key} className={`upload ${e.state}`}>
            <span className="name">{e.name}</span>
            <progress max={1} value={e.progress} aria-label={`${e.name} uploaded`} />
            <span className="state" role="status">
              {SAID[e.state]}
              {e.state === 'uploading' && ` ${Math.round(e.progress * 100)} %`}
              {e.state === 'duplicate' && e.image && (
                <>
                  {': '}
                  <Link href={`${BASE}/images/${e.image.id}`}>open it</Link>
                </>
              )}
              {e.message && `: ${e.message}`}
            </span>
          </li>
        ))}
      </ul>
      {!busy && (
        <button type="button" onClick={onClear}>
          Clear the finished
        </button>
      )}
    </section>
  );
}
