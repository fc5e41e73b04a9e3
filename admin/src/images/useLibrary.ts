// The library's pages, joined as they arrive: the first for a search, then one more each time
// the grid nears its end (keyset cursors, so page 100 costs what page 1 does).
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import type { Image } from '../api/images';
import { ApiError, call } from '../api/problem';
import { asApiError } from '../ui/useLoad';

const PAGE = 100;

export function useLibrary(q: string, unused: boolean | null) {
  const [images, setImages] = useState<Image[]>([]);
  const [total, setTotal] = useState(0);
  const [next, setNext] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<ApiError | null>(null);
  const [round, setRound] = useState(0);
  const asked = useRef<string | null>(null);
  const generation = useRef(0);

  const fetchPage = useCallback(
    async (cursor: string | null) => {
      const mine = generation.current;
      setLoading(true);
      try {
        const page = await call(
          api.GET('/v1/images', {
            params: { query: { limit: PAGE, ...(q ? { q } : {}), ...(unused !== null ? { unused } : {}), ...(cursor ? { cursor } : {}) } },
          }),
        );
        if (mine !== generation.current) return;
        setImages((all) => (cursor ? [...all, ...page.data] : page.data));
        setTotal(page.meta.total);
        setNext(page.meta.next_cursor);
        setError(null);
      } catch (err) {
        if (mine === generation.current) setError(asApiError(err));
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [q, unused],
  );

  useEffect(() => {
    generation.current += 1;
    asked.current = null;
    setImages([]);
    void fetchPage(null);
  }, [fetchPage, round]);

  const loadMore = useCallback(() => {
    if (!next || asked.current === next) return;
    asked.current = next;
    void fetchPage(next);
  }, [next, fetchPage]);

  /** An upload landed: show it first without asking for the list again. */
  const prepend = useCallback((image: Image) => {
    setImages((all) => (all.some((i) => i.id === image.id) ? all : [image, ...all]));
    setTotal((n) => n + 1);
  }, []);

  return { images, total, hasMore: next !== null, loading, error, loadMore, prepend, reload: () => setRound((n) => n + 1) };
}
