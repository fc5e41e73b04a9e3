// An author or a tag on its own page: loaded with its ETag (or blank when new), saved with
// POST or a PATCH that says which version it changes, deleted the same way.
import { useState } from 'react';
import { answer, call, type ApiError } from '../api/problem';
import { BASE, navigate } from '../router';
import { asApiError, useLoad } from '../ui/useLoad';

type Answer<T> = Promise<{ data?: T; error?: unknown; response: Response }>;

export interface RecordApi<T, Input> {
  kind: 'authors' | 'tags';
  get: (id: string) => Answer<T>;
  create: (input: Input) => Answer<T>;
  update: (id: string, input: Input, etag: string | null) => Answer<T>;
  remove: (id: string, etag: string | null) => Answer<unknown>;
}

export function useRecord<T extends { id: string }, Input>(id: string | null, record: RecordApi<T, Input>) {
  const loaded = useLoad(async () => (id ? answer(record.get(id)) : { data: null, etag: null }), [id]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const save = async (input: Input) => {
    setBusy(true);
    setError(null);
    setNotice(null);
    try {
      const etag = loaded.data?.etag ?? null;
      const saved = await answer(id ? record.update(id, input, etag) : record.create(input));
      if (!id) {
        navigate(`${BASE}/${record.kind}/${saved.data.id}`, { replace: true });
        return;
      }
      loaded.set(saved);
      setNotice('Saved.');
    } catch (err) {
      setError(asApiError(err));
    } finally {
      setBusy(false);
    }
  };

  const remove = async (question: string) => {
    if (!id || !window.confirm(question)) return;
    setError(null);
    try {
      await call(record.remove(id, loaded.data?.etag ?? null));
      navigate(`${BASE}/${record.kind}`);
    } catch (err) {
      setError(asApiError(err));
    }
  };

  return { loaded, busy, error, notice, save, remove };
}

/** `If-Match` for a write, when the version is known. */
export function ifMatch(etag: string | null): { 'If-Match'?: string } {
  return etag ? { 'If-Match': etag } : {};
}

/** A create body as a PATCH: an empty slug is left as it is (a PATCH cannot clear a slug). */
export function asPatch<T extends { slug?: string | null }>({ slug, ...rest }: T): Omit<T, 'slug'> & { slug?: string } {
  return slug ? { ...rest, slug } : rest;
}
