import { useState } from 'react';

/** A secret shown once (a new API token, a webhook's signing secret), with a copy button. */
export function Secret({ label, value, onDone }: { label: string; value: string; onDone: () => void }) {
  const [copied, setCopied] = useState<string | null>(null);
  const copy = () =>
    navigator.clipboard
      .writeText(value)
      .then(() => setCopied('Copied.'))
      .catch(() => setCopied('Copying was refused: select the text and copy it yourself.'));
  return (
    <section className="secret" role="region" aria-label={label}>
      <p>
        <strong>{label}.</strong> Copy it now: Galley keeps only a hash and cannot show it again.
      </p>
      <div className="secret-row">
        <input readOnly value={value} aria-label={label} onFocus={(e) => e.target.select()} />
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
        <button type="button" onClick={onDone}>
          I have stored it
        </button>
      </div>
      {copied && <p role="status" className="muted">{copied}</p>}
    </section>
  );
}
