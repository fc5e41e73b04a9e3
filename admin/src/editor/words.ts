// The live word count while typing, counted as the API counts it after a save
// (src/articles/body/text.rs): a CJK character is a word; reading time is 230 words or 400
// CJK characters a minute. The saved article's `word_count` stays the authority.
import type { Block, Inline } from './blocks';

const WORDS_PER_MINUTE = 230;
const CJK_PER_MINUTE = 400;

function isCjk(code: number): boolean {
  return (
    (code >= 0x3040 && code <= 0x30ff) ||
    (code >= 0x3400 && code <= 0x4dbf) ||
    (code >= 0x4e00 && code <= 0x9fff) ||
    (code >= 0xac00 && code <= 0xd7af) ||
    (code >= 0xf900 && code <= 0xfaff) ||
    (code >= 0x20000 && code <= 0x2fa1f)
  );
}

function inline(children: Inline[]): string {
  return children.map((c) => (c.type === 'link' ? c.children.map((r) => r.text).join('') : c.text)).join('');
}

export function blockText(block: Block): string {
  switch (block.type) {
    case 'paragraph':
    case 'heading':
    case 'quote':
      return inline(block.children);
    case 'list':
      return block.children.map((item) => inline(item.children)).join('\n');
    case 'code':
      return block.text;
    case 'image':
      return [block.alt, block.caption, block.credit].filter(Boolean).join('\n');
    case 'embed':
      return block.caption ?? '';
    case 'divider':
      return '';
  }
}

export function countWords(blocks: Block[]): { words: number; minutes: number } {
  let words = 0;
  let cjk = 0;
  let inWord = false;
  for (const c of blocks.map(blockText).join('\n')) {
    const code = c.codePointAt(0) ?? 0;
    if (isCjk(code)) {
      cjk += 1;
      inWord = false;
    } else if (/[\p{L}\p{N}]/u.test(c)) {
      if (!inWord) words += 1;
      inWord = true;
    } else if (!((c === "'" || c === '’' || c === '-') && inWord)) {
      inWord = false;
    }
  }
  const total = words + cjk;
  const minutes = total === 0 ? 0 : Math.max(1, Math.ceil(words / WORDS_PER_MINUTE + cjk / CJK_PER_MINUTE));
  return { words: total, minutes };
}
