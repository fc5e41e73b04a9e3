// The editor's schema: StarterKit narrowed to what Galley's blocks can hold, plus image and
// embed blocks. `blocks.ts` maps it one to one; the editor page adds its node views on top.
import { Node, mergeAttributes, type AnyExtension } from '@tiptap/core';
import Blockquote from '@tiptap/extension-blockquote';
import Code from '@tiptap/extension-code';
import { ListItem } from '@tiptap/extension-list';
import StarterKit from '@tiptap/starter-kit';

/** Link URLs the API takes: http, https, mailto, or relative. */
export function isAllowedLink(url: string): boolean {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url.trim());
  if (!scheme) return !/[\s\u0000-\u001f]/.test(url) && url.trim() !== '';
  return ['http', 'https', 'mailto'].includes(scheme[1]!.toLowerCase());
}

/** An attribute kept as `data-<html>` in copied HTML, so that copy and paste within the
 * editor keeps a block's words. */
const dataAttribute = (name: string, html = name, fallback: string | null = null) => ({
  default: fallback,
  parseHTML: (element: HTMLElement) => element.getAttribute(`data-${html}`),
  renderHTML: (attributes: Record<string, unknown>) =>
    attributes[name] == null ? {} : { [`data-${html}`]: String(attributes[name]) },
});

/** Image and embed blocks: one node each, selected, dragged and deleted as a whole. */
const atomBlock = { group: 'block', atom: true, draggable: true, selectable: true } as const;

/** `image{image_id, alt?, caption?, credit?}`: a library image with its words. */
export const GalleyImage = Node.create({
  name: 'galleyImage',
  ...atomBlock,
  addAttributes() {
    return {
      imageId: dataAttribute('imageId', 'image-id'),
      alt: dataAttribute('alt'),
      caption: dataAttribute('caption'),
      credit: dataAttribute('credit'),
      // The image as the API embeds it, for showing; not part of the block.
      image: { default: null, rendered: false, parseHTML: () => null },
    };
  },
  // Only Galley's own figures: an image pasted from another site is not in the library.
  parseHTML() {
    return [{ tag: 'figure[data-image-id]' }];
  },
  renderHTML({ HTMLAttributes }) {
    return ['figure', mergeAttributes(HTMLAttributes, { class: 'galley-image' })];
  },
});

/** `embed{url (https), caption?}`. */
export const GalleyEmbed = Node.create({
  name: 'galleyEmbed',
  ...atomBlock,
  addAttributes() {
    return {
      url: dataAttribute('url', 'embed-url', ''),
      caption: dataAttribute('caption'),
    };
  },
  parseHTML() {
    return [{ tag: 'div[data-embed-url]' }];
  },
  renderHTML({ HTMLAttributes }) {
    return ['div', mergeAttributes(HTMLAttributes, { class: 'galley-embed' })];
  },
});

export function galleyExtensions(): AnyExtension[] {
  return [
    StarterKit.configure({
      // One paragraph per quote and per list item, no nested lists, no line breaks: what the
      // API's quote, list-item and inline types hold.
      blockquote: false,
      listItem: false,
      code: false,
      hardBreak: false,
      heading: { levels: [1, 2, 3, 4, 5, 6] },
      link: {
        openOnClick: false,
        autolink: true,
        defaultProtocol: 'https',
        isAllowedUri: (url) => isAllowedLink(url),
        HTMLAttributes: { rel: null, target: null, class: null },
      },
      trailingNode: false,
    }),
    // Galley's runs may be code and bold at once; TipTap's code mark excludes every other.
    Code.extend({ excludes: '' }),
    Blockquote.extend({ content: 'paragraph' }),
    ListItem.extend({ content: 'paragraph' }),
    GalleyImage,
    GalleyEmbed,
  ];
}
