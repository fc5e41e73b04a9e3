// Authors or tags of an article: chips of the chosen ones, a search over the existing ones,
// and "create" for a name that does not exist yet (the API creates it on save).
import { useEffect, useId, useState, type KeyboardEvent } from 'react';
import { api } from '../api/client';
import { call } from '../api/problem';

export interface Ref {
  /** Null for one to create on save. */
  id: string | null;
  name: string;
}

export function RefPicker({ label, kind, value, onChange, error }: { label: string; kind: 'authors' | 'tags'; value: Ref[]; onChange: (refs: Ref[]) => void; error?: string | undefined }) {
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<Ref[]>([]);
  const [active, setActive] = useState(0);
  const list = useId();

  useEffect(() => {
    const q = query.trim();
    if (!q) {
      setFound([]);
      return;
    }
    let live = true;
    const timer = window.setTimeout(() => {
      const request =
        kind === 'authors'
          ? call(api.GET('/v1/authors', { params: { query: { q, limit: 8 } } }))
          : call(api.GET('/v1/tags', { params: { query: { q, limit: 8 } } }));
      request
        .then((page) => live && setFound(page.data.map((r) => ({ id: r.id, name: r.name }))))
        .catch(() => live && setFound([]));
    }, 150);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [query, kind]);

  const chosen = new Set(value.map((r) => r.id ?? `new:${r.name}`));
  const options: (Ref & { create?: boolean })[] = found.filter((r) => !chosen.has(r.id ?? ''));
  const q = query.trim();
  if (q && !found.some((r) => r.name.toLowerCase() === q.toLowerCase()) && !chosen.has(`new:${q}`)) {
    options.push({ id: null, name: q, create: true });
  }
  const pick = (ref: Ref) => {
    onChange([...value, { id: ref.id, name: ref.name }]);
    setQuery('');
    setActive(0);
  };
  const keys = (event: KeyboardEvent<HTMLInputElement>) => {
    if (event.key === 'ArrowDown') setActive((i) => Math.min(i + 1, options.length - 1));
    else if (event.key === 'ArrowUp') setActive((i) => Math.max(i - 1, 0));
    else if (event.key === 'Enter' && options[active]) pick(options[active]);
    else if (event.key === 'Backspace' && !query && value.length) onChange(value.slice(0, -1));
    else return;
    event.preventDefault();
  };

  return (
    <div className="ref-picker">
      <span className="label" id={`${list}-label`}>
        {label}
      </span>
      <ul className="chips" aria-label={`Chosen ${label.toLowerCase()}`}>
        {value.map((ref, i) => (
          <li key={ref.id ?? `new:${ref.name}`}>
            {ref.name}
            {ref.id === null && <span className="muted"> (new)</span>}
            <button type="button" aria-label={`Remove ${ref.name}`} onClick={() => onChange(value.filter((_, j) => j !== i))}>
              ×
            </button>
          </li>
        ))}
      </ul>
      <input
        role="combobox"
        aria-labelledby={`${list}-label`}
        aria-expanded={options.length > 0}
        aria-controls={list}
        aria-activedescendant={options[active] ? `${list}-${active}` : undefined}
        aria-invalid={error ? true : undefined}
        placeholder={`Find or add ${label.toLowerCase()}`}
        value={query}
        onChange={(e) => {
          setQuery(e.target.value);
          setActive(0);
        }}
        onKeyDown={keys}
      />
      {options.length > 0 && (
        <ul role="listbox" id={list} className="options">
          {options.map((option, i) => (
            <li
              key={option.id ?? `new:${option.name}`}
              id={`${list}-${i}`}
              role="option"
              aria-selected={i === active}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(option);
              }}
            >
              {option.create ? `Create “${option.name}”` : option.name}
            </li>
          ))}
        </ul>
      )}
      {error && <span className="field-error">{error}</span>}
    </div>
  );
}
