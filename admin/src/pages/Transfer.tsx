// Import and export (editor). An import is checked first (a dry run: nothing is written) and
// its per-line report shown as a table; then imported, piece by piece, with progress. Running
// the same file again changes nothing, so an import cut short can simply be started again.
import { useState } from 'react';
import { api } from '../api/client';
import { call } from '../api/problem';
import { addReport, chunkLines, emptyReport, type Report } from '../transfer/chunks';
import { ErrorNotice } from '../ui/ErrorNotice';
import { asApiError } from '../ui/useLoad';
import type { ApiError } from '../api/problem';

type Phase = { kind: 'idle' } | { kind: 'running'; dryRun: boolean; done: number; lines: number } | { kind: 'done'; report: Report };

export default function Transfer() {
  const [file, setFile] = useState<File | null>(null);
  const [phase, setPhase] = useState<Phase>({ kind: 'idle' });
  const [checked, setChecked] = useState<Report | null>(null);
  const [overwrite, setOverwrite] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);

  const run = async (dryRun: boolean) => {
    if (!file) return;
    setError(null);
    const chunks = chunkLines(new Uint8Array(await file.arrayBuffer()));
    const lines = chunks.reduce((n, c) => n + c.lines, 0);
    let report = emptyReport(dryRun);
    setPhase({ kind: 'running', dryRun, done: 0, lines });
    try {
      for (const chunk of chunks) {
        const piece = await call(
          api.POST('/v1/import', {
            params: { query: { dry_run: dryRun, ...(overwrite ? { overwrite: true } : {}) } },
            body: '' as never,
            bodySerializer: () => file.slice(chunk.start, chunk.end),
            headers: { 'Content-Type': 'application/x-ndjson' },
          }),
        );
        report = addReport(report, piece, chunk);
        setPhase({ kind: 'running', dryRun, done: chunk.firstLine + chunk.lines, lines });
      }
      setPhase({ kind: 'done', report });
      if (dryRun) setChecked(report);
    } catch (err) {
      setError(asApiError(err));
      setPhase(report.created + report.updated + report.unchanged + report.failed > 0 ? { kind: 'done', report } : { kind: 'idle' });
    }
  };

  const running = phase.kind === 'running';
  const report = phase.kind === 'done' ? phase.report : null;
  return (
    <section aria-labelledby="transfer-title" className="transfer">
      <header className="page-header">
        <h1 id="transfer-title">Import &amp; export</h1>
      </header>

      <section aria-labelledby="import-title" className="panel">
        <h2 id="import-title">Import articles</h2>
        <p className="muted">
          One article a line (NDJSON), in the shape the export writes. Articles are matched by <code>external_id</code>, else by slug: a line equal to what is stored is left
          unchanged, and articles edited here since they were last imported are not overwritten unless you say so.
        </p>
        <div className="inline-form">
          <label>
            File
            <input
              type="file"
              accept=".ndjson,.jsonl,application/x-ndjson,application/json"
              onChange={(e) => {
                setFile(e.target.files?.[0] ?? null);
                setChecked(null);
                setPhase({ kind: 'idle' });
              }}
            />
          </label>
          <label className="check">
            <input type="checkbox" checked={overwrite} onChange={(e) => setOverwrite(e.target.checked)} />
            Overwrite articles edited in Galley since their last import
          </label>
          <button type="button" disabled={!file || running} onClick={() => void run(true)}>
            Check the file (dry run)
          </button>
          <button type="button" className="primary" disabled={!file || running || !checked} onClick={() => void run(false)}>
            Import
          </button>
        </div>
        {file && !checked && !running && <p className="muted">Check the file first: nothing is written by a check.</p>}
        {running && (
          <div className="progress" role="status">
            <progress max={phase.lines} value={phase.done} aria-label={phase.dryRun ? 'Checked' : 'Imported'} />
            {phase.dryRun ? 'Checking' : 'Importing'}: {phase.done.toLocaleString()} of {phase.lines.toLocaleString()} lines
          </div>
        )}
        {error && <ErrorNotice error={error} />}
        {report && <ImportReport report={report} />}
      </section>

      <section aria-labelledby="export-title" className="panel">
        <h2 id="export-title">Export articles</h2>
        <p className="muted">Every article, drafts included, one a line, ready to import into another Galley (images are named by their SHA-256).</p>
        <a className="button" href="/v1/export" download>
          Download the export (NDJSON)
        </a>
      </section>
    </section>
  );
}

function ImportReport({ report }: { report: Report }) {
  const counts: [string, number][] = [
    [report.dry_run ? 'would be created' : 'created', report.created],
    [report.dry_run ? 'would be updated' : 'updated', report.updated],
    ['unchanged', report.unchanged],
    ['failed', report.failed],
  ];
  return (
    <div className="report" aria-label={report.dry_run ? 'Check report' : 'Import report'} role="region">
      <p role="status">
        <strong>{report.dry_run ? 'Check done' : 'Import done'}:</strong> {counts.map(([label, n]) => `${n.toLocaleString()} ${label}`).join(' · ')}
        {report.dry_run && report.failed > 0 && ' — the failing lines are skipped by the import; the others are written.'}
      </p>
      {report.errors.length > 0 && (
        <div className="table-wrap">
          <table>
            <caption>Lines that fail{report.failed > report.errors.length ? ` (the first ${report.errors.length} of ${report.failed})` : ''}</caption>
            <thead>
              <tr>
                <th scope="col" className="number">
                  Line
                </th>
                <th scope="col">Status</th>
                <th scope="col">Problem</th>
                <th scope="col">Fields</th>
              </tr>
            </thead>
            <tbody>
              {report.errors.map((e) => (
                <tr key={e.line}>
                  <td className="number">{e.line}</td>
                  <td>{e.status}</td>
                  <td>{e.detail}</td>
                  <td>
                    {e.errors?.map((f) => (
                      <div key={f.field}>
                        <code>{f.field}</code>: {f.message}
                      </div>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
