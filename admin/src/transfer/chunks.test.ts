import { describe, expect, it } from 'vitest';
import { addReport, chunkLines, emptyReport } from './chunks';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('chunkLines', () => {
  it('cuts at line ends and counts lines from the top', () => {
    const file = bytes('a\nb\nc\nd\ne');
    const chunks = chunkLines(file, 2);
    expect(chunks.map((c) => [c.firstLine, c.lines])).toEqual([
      [0, 2],
      [2, 2],
      [4, 1],
    ]);
    expect(chunks.map((c) => new TextDecoder().decode(file.slice(c.start, c.end)))).toEqual(['a\nb\n', 'c\nd\n', 'e']);
  });
  it('keeps multi-byte text whole and blank lines counted', () => {
    const file = bytes('{"title":"我的阿勒泰"}\n\n{"title":"松弛感"}\n');
    const chunks = chunkLines(file, 1000, 20);
    expect(chunks.map((c) => c.lines)).toEqual([1, 2]);
    expect(new TextDecoder().decode(file.slice(chunks[1]!.start, chunks[1]!.end))).toBe('\n{"title":"松弛感"}\n');
  });
  it('has no piece for an empty file', () => {
    expect(chunkLines(new Uint8Array())).toEqual([]);
  });
});

describe('addReport', () => {
  it('sums counts and moves line numbers to the file’s', () => {
    const chunk = { start: 0, end: 10, firstLine: 1000, lines: 1000 };
    const piece = { created: 3, updated: 1, unchanged: 0, failed: 1, dry_run: true, errors: [{ line: 7, status: 422, detail: 'bad' }] };
    const total = addReport(addReport(emptyReport(true), { ...piece, errors: [] }, { ...chunk, firstLine: 0 }), piece, chunk);
    expect(total).toMatchObject({ created: 6, updated: 2, failed: 2 });
    expect(total.errors).toEqual([{ line: 1007, status: 422, detail: 'bad' }]);
  });
});
