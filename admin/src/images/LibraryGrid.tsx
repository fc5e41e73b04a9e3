// The library as a grid that stays smooth at 10,000 images: only the rows on screen (and a
// few around them) are in the page, each thumbnail is the smallest variant that fills its
// cell, and the next page is asked for as the end comes into view.
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useRef, useState, type ReactNode } from 'react';
import { variantSrcSet, variantUrl, type Image } from '../api/images';
import { altProblem } from './alt';

const CELL = 176;
const GAP = 12;
const ROW = CELL + 40;

export function LibraryGrid({
  images,
  total,
  hasMore,
  loadMore,
  renderAction,
  label,
}: {
  images: Image[];
  total: number;
  hasMore: boolean;
  loadMore: () => void;
  /** What a cell does when chosen: a link to the image, or "pick this one". */
  renderAction: (image: Image, children: ReactNode) => ReactNode;
  label: string;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(800);
  useLayoutEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const observer = new ResizeObserver(([entry]) => entry && setWidth(entry.contentRect.width));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  const columns = Math.max(1, Math.floor((width + GAP) / (CELL + GAP)));
  const rows = Math.ceil(images.length / columns);
  const virtualizer = useVirtualizer({ count: rows, getScrollElement: () => scroller.current, estimateSize: () => ROW, overscan: 4 });
  const items = virtualizer.getVirtualItems();
  const last = items.at(-1)?.index ?? -1;
  useEffect(() => {
    if (hasMore && last >= rows - 3) loadMore();
  }, [last, rows, hasMore, loadMore]);

  return (
    <div ref={scroller} className="library-scroll" tabIndex={0} aria-label={label}>
      <div role="list" aria-label={label} style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
        {items.map((row) => (
          <div key={row.key} role="none" className="library-row" style={{ transform: `translateY(${row.start}px)`, height: ROW, gridTemplateColumns: `repeat(${columns}, ${CELL}px)` }}>
            {images.slice(row.index * columns, row.index * columns + columns).map((image, i) => {
              const problem = altProblem(image.alt);
              return (
                <div role="listitem" key={image.id} className="library-cell" aria-setsize={total} aria-posinset={row.index * columns + i + 1}>
                  {renderAction(
                    image,
                    <>
                      <img src={variantUrl(image, CELL)} srcSet={variantSrcSet(image)} sizes={`${CELL}px`} alt={image.alt ?? ''} width={CELL} height={CELL} loading="lazy" decoding="async" />
                      <span className="cell-words">{image.caption ?? image.credit ?? image.alt ?? '—'}</span>
                    </>,
                  )}
                  {problem && (
                    <span className="flag" title={problem}>
                      {image.alt?.trim() ? 'Alt text is a placeholder' : 'No alt text'}
                    </span>
                  )}
                </div>
              );
            })}
          </div>
        ))}
      </div>
    </div>
  );
}
