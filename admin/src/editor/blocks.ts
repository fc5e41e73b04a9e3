// Galley's body blocks ↔ the editor's document (ProseMirror JSON), one to one: every block
// and mark the API knows has exactly one editor counterpart, and the editor's schema allows
// nothing the API would refuse (no nested lists, one paragraph per quote or list item, no
// line breaks, no marks in code). The only normalisation is ProseMirror's own: adjacent runs
// with the same marks are one run, and empty runs do not exist.
import type { JSONContent } from '@tiptap/core';
import type { components } from '../api/galley';

export type Block = components['schemas']['Block'];
export type ShownBlock = components['schemas']['ShownBlock'];
export type Inline = components['schemas']['Inline'];
export type TextRun = components['schemas']['TextRun'];
export type Image = components['schemas']['Image'];
type ImageBlock = components['schemas']['BlockImage'];

type Mark = NonNullable<JSONContent['marks']>[number];

/** Marks of a run, in the order the editor keeps them. */
const RUN_MARKS = [
  ['bold', 'bold'],
  ['italic', 'italic'],
  ['underline', 'underline'],
  ['strikethrough', 'strike'],
  ['code', 'code'],
] as const;

function runToText(run: TextRun, link?: string): JSONContent | null {
  if (run.text === '') return null;
  const marks: Mark[] = [];
  for (const [field, mark] of RUN_MARKS) {
    if (run[field]) marks.push({ type: mark });
  }
  if (link !== undefined) marks.push({ type: 'link', attrs: { href: link } });
  return marks.length ? { type: 'text', text: run.text, marks } : { type: 'text', text: run.text };
}

function inlineToEditor(children: Inline[]): JSONContent[] {
  const out: JSONContent[] = [];
  for (const child of children) {
    if (child.type === 'link') {
      for (const run of child.children) {
        const text = runToText(run, child.url);
        if (text) out.push(text);
      }
    } else {
      const text = runToText(child);
      if (text) out.push(text);
    }
  }
  return out;
}

function withContent(node: JSONContent, content: JSONContent[]): JSONContent {
  return content.length ? { ...node, content } : node;
}

/** The editor document of a body (as the API shows or takes it). */
export function toEditor(blocks: readonly (Block | ShownBlock)[]): JSONContent {
  const content = blocks.map((block): JSONContent => {
    switch (block.type) {
      case 'paragraph':
        return withContent({ type: 'paragraph' }, inlineToEditor(block.children));
      case 'heading':
        return withContent({ type: 'heading', attrs: { level: block.level } }, inlineToEditor(block.children));
      case 'quote':
        return {
          type: 'blockquote',
          content: [withContent({ type: 'paragraph' }, inlineToEditor(block.children))],
        };
      case 'list':
        return {
          type: block.format === 'ordered' ? 'orderedList' : 'bulletList',
          content: block.children.map((item) => ({
            type: 'listItem',
            content: [withContent({ type: 'paragraph' }, inlineToEditor(item.children))],
          })),
        };
      case 'code':
        return withContent(
          { type: 'codeBlock', attrs: { language: block.language ?? null } },
          block.text === '' ? [] : [{ type: 'text', text: block.text }],
        );
      case 'image':
        return {
          type: 'galleyImage',
          attrs: {
            imageId: block.image_id,
            alt: block.alt ?? null,
            caption: block.caption ?? null,
            credit: block.credit ?? null,
            // Shown in the editor only; never sent back.
            image: 'image' in block ? block.image : null,
          },
        };
      case 'embed':
        return { type: 'galleyEmbed', attrs: { url: block.url, caption: block.caption ?? null } };
      case 'divider':
        return { type: 'horizontalRule' };
    }
  });
  return { type: 'doc', content: content.length ? content : [{ type: 'paragraph' }] };
}

function textToRun(node: JSONContent): TextRun {
  const run: TextRun = { type: 'text', text: node.text ?? '' };
  const marks = new Set((node.marks ?? []).map((m) => m.type));
  for (const [field, mark] of RUN_MARKS) {
    if (marks.has(mark)) run[field] = true;
  }
  return run;
}

function linkOf(node: JSONContent): string | undefined {
  const link = node.marks?.find((m) => m.type === 'link');
  const href: unknown = link?.attrs?.['href'];
  return typeof href === 'string' ? href : undefined;
}

/** Runs in order; neighbours with one link's URL become that link's children. */
function inlineFromEditor(nodes: readonly JSONContent[] | undefined): Inline[] {
  const out: Inline[] = [];
  for (const node of nodes ?? []) {
    if (node.type !== 'text' || !node.text) continue;
    const url = linkOf(node);
    if (url === undefined) {
      out.push(textToRun(node));
      continue;
    }
    const last = out[out.length - 1];
    if (last?.type === 'link' && last.url === url) {
      last.children.push(textToRun(node));
    } else {
      out.push({ type: 'link', url, children: [textToRun(node)] });
    }
  }
  return out;
}

function firstParagraph(node: JSONContent): Inline[] {
  return inlineFromEditor(node.content?.[0]?.content);
}

function text(node: JSONContent): string {
  return (node.content ?? []).map((child) => child.text ?? '').join('');
}

function optional(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The body blocks of an editor document, ready to send. */
export function fromEditor(doc: JSONContent): Block[] {
  const blocks: Block[] = [];
  for (const node of doc.content ?? []) {
    const attrs = node.attrs ?? {};
    switch (node.type) {
      case 'paragraph':
        blocks.push({ type: 'paragraph', children: inlineFromEditor(node.content) });
        break;
      case 'heading':
        blocks.push({
          type: 'heading',
          level: Number(attrs['level'] ?? 2),
          children: inlineFromEditor(node.content),
        });
        break;
      case 'blockquote':
        blocks.push({ type: 'quote', children: firstParagraph(node) });
        break;
      case 'bulletList':
      case 'orderedList':
        blocks.push({
          type: 'list',
          format: node.type === 'orderedList' ? 'ordered' : 'unordered',
          children: (node.content ?? []).map((item) => ({
            type: 'list-item',
            children: firstParagraph(item),
          })),
        });
        break;
      case 'codeBlock': {
        const language = optional(attrs['language']);
        blocks.push(language ? { type: 'code', language, text: text(node) } : { type: 'code', text: text(node) });
        break;
      }
      case 'galleyImage': {
        const image: ImageBlock = { type: 'image', image_id: String(attrs['imageId'] ?? '') };
        for (const field of ['alt', 'caption', 'credit'] as const) {
          const value = optional(attrs[field]);
          if (value !== undefined) image[field] = value;
        }
        blocks.push(image);
        break;
      }
      case 'galleyEmbed': {
        const caption = optional(attrs['caption']);
        const url = String(attrs['url'] ?? '');
        blocks.push(caption !== undefined ? { type: 'embed', url, caption } : { type: 'embed', url });
        break;
      }
      case 'horizontalRule':
        blocks.push({ type: 'divider' });
        break;
      default:
        // The schema has no other node; anything else is a bug, not content to drop silently.
        throw new Error(`the editor holds a node Galley has no block for: ${String(node.type)}`);
    }
  }
  // A new article's one empty paragraph is no body at all.
  const only = blocks[0];
  if (blocks.length === 1 && only?.type === 'paragraph' && only.children.length === 0) return [];
  return blocks;
}
