// An NDJSON file cut into pieces at line ends, so that a long import shows its progress piece
// by piece and a report's line numbers still count from the top of the file. The bytes go as
// they are (no decoding): a line that is not UTF-8 fails on the server with its number.
export const CHUNK_LINES = 1000;
export const CHUNK_BYTES = 4 * 1024 * 1024;

export interface Chunk {
  /** Byte range in the file. */
  start: number;
  end: number;
  /** Lines before this piece. */
  firstLine: number;
  lines: number;
}

const NEWLINE = 10;

export function chunkLines(bytes: Uint8Array, maxLines = CHUNK_LINES, maxBytes = CHUNK_BYTES): Chunk[] {
  const chunks: Chunk[] = [];
  let start = 0;
  let lines = 0;
  let firstLine = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== NEWLINE) continue;
    lines += 1;
    if (lines >= maxLines || i + 1 - start >= maxBytes) {
      chunks.push({ start, end: i + 1, firstLine, lines });
      firstLine += lines;
      start = i + 1;
      lines = 0;
    }
  }
  if (start < bytes.length) chunks.push({ start, end: bytes.length, firstLine, lines: lines + 1 });
  return chunks;
}

export interface LineError {
  line: number;
  status: number;
  detail: string;
  errors?: { field: string; message: string }[] | null;
}

export interface Report {
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
  errors: LineError[];
  dry_run: boolean;
}

/** At most this many line errors are kept for the table (the counts stay exact). */
export const LISTED_ERRORS = 1000;

export function emptyReport(dryRun: boolean): Report {
  return { created: 0, updated: 0, unchanged: 0, failed: 0, errors: [], dry_run: dryRun };
}

/** Adds one piece's report, its line numbers moved to the file's. */
export function addReport(total: Report, piece: Report, chunk: Chunk): Report {
  const errors = total.errors.concat(piece.errors.map((e) => ({ ...e, line: e.line + chunk.firstLine })));
  return {
    created: total.created + piece.created,
    updated: total.updated + piece.updated,
    unchanged: total.unchanged + piece.unchanged,
    failed: total.failed + piece.failed,
    errors: errors.slice(0, LISTED_ERRORS),
    dry_run: total.dry_run,
  };
}
