import { getSchema } from '@tiptap/core';
import { Node as PMNode } from '@tiptap/pm/model';
import { describe, expect, it } from 'vitest';
import { fromEditor, toEditor, type Block } from './blocks';
import { galleyExtensions, isAllowedLink } from './schema';

const schema = getSchema(galleyExtensions());

/** Through the editor's schema and back, as the editor would hold and save it. */
function roundTrip(blocks: Block[]): Block[] {
  const doc = PMNode.fromJSON(schema, toEditor(blocks));
  doc.check();
  return fromEditor(doc.toJSON());
}

const IMAGE = '0191a5a0-0000-7000-8000-000000000001';

const everything: Block[] = [
  { type: 'heading', level: 1, children: [{ type: 'text', text: '松弛感 at the Olympics' }] },
  { type: 'heading', level: 6, children: [{ type: 'text', text: 'Small print' }] },
  {
    type: 'paragraph',
    children: [
      { type: 'text', text: '管静鹏 wrote ' },
      { type: 'text', text: 'bold', bold: true },
      { type: 'text', text: ', ' },
      { type: 'text', text: 'italic', italic: true },
      { type: 'text', text: ', ' },
      { type: 'text', text: 'underlined', underline: true },
      { type: 'text', text: ', ' },
      { type: 'text', text: 'struck', strikethrough: true },
      { type: 'text', text: ', ' },
      { type: 'text', text: 'let x = 1', code: true },
      { type: 'text', text: ' and ' },
      { type: 'text', text: 'all of them', bold: true, italic: true, underline: true, strikethrough: true, code: true },
      { type: 'text', text: ' about ' },
      {
        type: 'link',
        url: 'https://example.com/我的阿勒泰?q=1&r=2',
        children: [
          { type: 'text', text: '我的' },
          { type: 'text', text: '阿勒泰', bold: true },
        ],
      },
      { type: 'text', text: ', ' },
      { type: 'link', url: 'mailto:desk@example.com', children: [{ type: 'text', text: 'mail us' }] },
      { type: 'text', text: ', ' },
      { type: 'link', url: '/articles/relative', children: [{ type: 'text', text: 'a relative link', italic: true }] },
    ],
  },
  { type: 'paragraph', children: [] },
  { type: 'quote', children: [{ type: 'text', text: '“Relax,” she said — 松弛一点。' }] },
  {
    type: 'list',
    format: 'unordered',
    children: [
      { type: 'list-item', children: [{ type: 'text', text: 'Music' }] },
      { type: 'list-item', children: [{ type: 'link', url: 'https://radii.co', children: [{ type: 'text', text: 'RADII' }] }] },
    ],
  },
  {
    type: 'list',
    format: 'ordered',
    children: [
      { type: 'list-item', children: [{ type: 'text', text: 'first' }] },
      { type: 'list-item', children: [] },
    ],
  },
  { type: 'code', language: 'rust', text: 'fn main() {\n    println!("你好");\n}' },
  { type: 'code', text: 'no language' },
  { type: 'code', text: '' },
  { type: 'image', image_id: IMAGE, alt: 'Pan Zhanle at the wall', caption: 'The final 10 metres', credit: 'Photo by AFP-JIJI' },
  { type: 'image', image_id: IMAGE, alt: 'undefined' },
  { type: 'image', image_id: IMAGE, alt: '', caption: '冠军' },
  { type: 'image', image_id: IMAGE },
  { type: 'embed', url: 'https://www.youtube.com/watch?v=abc', caption: 'The race' },
  { type: 'embed', url: 'https://x.com/status/1' },
  { type: 'divider' },
  { type: 'paragraph', children: [{ type: 'text', text: 'The end.' }] },
];

describe('blocks ↔ editor', () => {
  it('round-trips every block and mark unchanged', () => {
    expect(roundTrip(everything)).toEqual(everything);
  });

  it.each(everything.map((block, i) => [i, block.type, block] as const))(
    'round-trips block %i (%s) on its own',
    (_i, _type, block) => {
      const alone = block.type === 'paragraph' && block.children.length === 0 ? [] : [block];
      expect(roundTrip([block])).toEqual(alone);
    },
  );

  it('keeps an "undefined" alt as the words it is, and an empty alt as empty', () => {
    const [undef, empty, none] = roundTrip([
      { type: 'image', image_id: IMAGE, alt: 'undefined' },
      { type: 'image', image_id: IMAGE, alt: '' },
      { type: 'image', image_id: IMAGE },
    ]);
    expect(undef).toEqual({ type: 'image', image_id: IMAGE, alt: 'undefined' });
    expect(empty).toEqual({ type: 'image', image_id: IMAGE, alt: '' });
    expect(none).toEqual({ type: 'image', image_id: IMAGE });
  });

  it('drops the embedded image the API shows, which the API does not take back', () => {
    const shown = {
      type: 'image' as const,
      image_id: IMAGE,
      caption: 'c',
      image: { id: IMAGE, url: '/media/x.jpg' },
    };
    const doc = PMNode.fromJSON(schema, toEditor([shown as unknown as Block]));
    expect(fromEditor(doc.toJSON())).toEqual([{ type: 'image', image_id: IMAGE, caption: 'c' }]);
  });

  it('treats a new article’s empty paragraph as no body', () => {
    expect(roundTrip([])).toEqual([]);
    expect(toEditor([])).toEqual({ type: 'doc', content: [{ type: 'paragraph' }] });
  });

  it('joins neighbouring runs with the same marks, as the editor shows them', () => {
    expect(
      roundTrip([
        {
          type: 'paragraph',
          children: [
            { type: 'text', text: 'Olym', bold: true },
            { type: 'text', text: 'pics', bold: true },
          ],
        },
      ]),
    ).toEqual([{ type: 'paragraph', children: [{ type: 'text', text: 'Olympics', bold: true }] }]);
  });

  it('refuses what the schema cannot hold rather than dropping it', () => {
    expect(() => fromEditor({ type: 'doc', content: [{ type: 'table' }] })).toThrow(/no block/);
    // Nested content the API has no place for is not valid in the schema either.
    const nested = {
      type: 'doc',
      content: [{ type: 'blockquote', content: [{ type: 'paragraph' }, { type: 'paragraph' }] }],
    };
    expect(() => PMNode.fromJSON(schema, nested).check()).toThrow();
  });
});

describe('link URLs', () => {
  it.each([
    ['https://example.com', true],
    ['http://example.com', true],
    ['mailto:desk@example.com', true],
    ['/relative/path', true],
    ['#section', true],
    ['javascript:alert(1)', false],
    ['JavaScript:alert(1)', false],
    ['data:text/html,x', false],
    ['ftp://example.com', false],
    ['java\tscript:alert(1)', false],
    ['', false],
  ])('%s → %s', (url, allowed) => {
    expect(isAllowedLink(url)).toBe(allowed);
  });
});

describe('comparing bodies', async () => {
  const { sameJson } = await import('../api/same');
  it('ignores key order (jsonb sorts keys) but not content', () => {
    expect(sameJson({ type: 'text', text: '松弛感', bold: true }, { bold: true, text: '松弛感', type: 'text' })).toBe(true);
    expect(sameJson([{ a: 1 }], [{ a: 2 }])).toBe(false);
    expect(sameJson({ a: null }, {})).toBe(false);
  });
});

describe('body errors by block', async () => {
  const { byBlock } = await import('./blockErrors');
  it('groups the API paths by their block', () => {
    expect(
      byBlock([
        ['body[3].children[0].url', 'must be http, https, mailto or relative'],
        ['body[3].children[2].url', 'must not be empty'],
        ['body[0]', 'too long'],
        ['title', 'must not be empty'],
      ]),
    ).toEqual(
      new Map([
        [3, ['children[0].url: must be http, https, mailto or relative', 'children[2].url: must not be empty']],
        [0, ['too long']],
      ]),
    );
  });
});

describe('pasted HTML', async () => {
  const { cleanPastedHtml } = await import('./paste');
  it('loses styles, scripts and Office markup, keeps structure and text', () => {
    expect(
      cleanPastedHtml(
        '<p class=MsoNormal style="margin:0"><b><span lang=ZH-CN style=\'font-size:12pt\'>管静鹏</span></b><o:p></o:p></p><style>p{}</style><script>alert(1)</script><!--[if gte mso 9]>x<![endif]--><a href="https://x.y" onclick="evil()">x</a>',
      ),
    ).toBe('<p><b><span lang=ZH-CN>管静鹏</span></b></p><a href="https://x.y">x</a>');
  });
});
