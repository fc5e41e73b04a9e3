// The body's toolbar: one button per mark and block, each with its name and shortcut, in one
// tab stop (arrow keys move within it).
import type { Editor } from '@tiptap/react';
import { useEditorState } from '@tiptap/react';
import { useRef, type KeyboardEvent } from 'react';
import { isAllowedLink } from './schema';

interface Tool {
  label: string;
  text: string;
  keys?: string;
  active?: (e: Editor) => boolean;
  run: (e: Editor) => void;
}

const TOOLS: Tool[] = [
  { label: 'Bold', text: 'B', keys: 'Ctrl+B', active: (e) => e.isActive('bold'), run: (e) => e.chain().focus().toggleBold().run() },
  { label: 'Italic', text: 'I', keys: 'Ctrl+I', active: (e) => e.isActive('italic'), run: (e) => e.chain().focus().toggleItalic().run() },
  { label: 'Underline', text: 'U', keys: 'Ctrl+U', active: (e) => e.isActive('underline'), run: (e) => e.chain().focus().toggleUnderline().run() },
  { label: 'Strikethrough', text: 'S', keys: 'Ctrl+Shift+S', active: (e) => e.isActive('strike'), run: (e) => e.chain().focus().toggleStrike().run() },
  { label: 'Code', text: '</>', keys: 'Ctrl+E', active: (e) => e.isActive('code'), run: (e) => e.chain().focus().toggleCode().run() },
  {
    label: 'Link',
    text: 'Link',
    keys: 'Ctrl+K',
    active: (e) => e.isActive('link'),
    run: (e) => {
      const current = (e.getAttributes('link')['href'] as string | undefined) ?? '';
      const url = window.prompt('Link URL (https://…, mailto:… or /relative); empty removes the link', current);
      if (url === null) return;
      if (url.trim() === '') e.chain().focus().extendMarkRange('link').unsetLink().run();
      else if (isAllowedLink(url)) e.chain().focus().extendMarkRange('link').setLink({ href: url.trim() }).run();
      else window.alert('Links may be http, https, mailto or relative.');
    },
  },
  { label: 'Heading 2', text: 'H2', keys: 'Ctrl+Alt+2', active: (e) => e.isActive('heading', { level: 2 }), run: (e) => e.chain().focus().toggleHeading({ level: 2 }).run() },
  { label: 'Heading 3', text: 'H3', keys: 'Ctrl+Alt+3', active: (e) => e.isActive('heading', { level: 3 }), run: (e) => e.chain().focus().toggleHeading({ level: 3 }).run() },
  { label: 'Quote', text: '“', keys: 'Ctrl+Shift+B', active: (e) => e.isActive('blockquote'), run: (e) => e.chain().focus().toggleBlockquote().run() },
  { label: 'Bulleted list', text: '•', keys: 'Ctrl+Shift+8', active: (e) => e.isActive('bulletList'), run: (e) => e.chain().focus().toggleBulletList().run() },
  { label: 'Numbered list', text: '1.', keys: 'Ctrl+Shift+7', active: (e) => e.isActive('orderedList'), run: (e) => e.chain().focus().toggleOrderedList().run() },
  { label: 'Code block', text: '{ }', keys: 'Ctrl+Alt+C', active: (e) => e.isActive('codeBlock'), run: (e) => e.chain().focus().toggleCodeBlock().run() },
  { label: 'Divider', text: '—', run: (e) => e.chain().focus().setHorizontalRule().run() },
  {
    label: 'Embed',
    text: 'Embed',
    run: (e) => {
      const url = window.prompt('Embed URL (https://…)');
      if (url?.startsWith('https://')) e.chain().focus().insertContent({ type: 'galleyEmbed', attrs: { url } }).run();
    },
  },
];

export function Toolbar({ editor, extra }: { editor: Editor; extra?: { label: string; text: string; run: () => void }[] }) {
  const active = useEditorState({ editor, selector: ({ editor: e }) => TOOLS.map((t) => t.active?.(e) ?? false) });
  const bar = useRef<HTMLDivElement>(null);
  const move = (event: KeyboardEvent) => {
    if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
    const buttons = [...(bar.current?.querySelectorAll('button') ?? [])];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    const next = buttons[(at + (event.key === 'ArrowRight' ? 1 : -1) + buttons.length) % buttons.length];
    next?.focus();
    event.preventDefault();
  };
  return (
    <div className="toolbar" role="toolbar" aria-label="Formatting" ref={bar} onKeyDown={move}>
      {TOOLS.map((tool, i) => (
        <button
          key={tool.label}
          type="button"
          tabIndex={i === 0 ? 0 : -1}
          aria-label={tool.label}
          aria-pressed={tool.active ? active[i] : undefined}
          title={tool.keys ? `${tool.label} (${tool.keys})` : tool.label}
          onMouseDown={(e) => e.preventDefault()}
          onClick={() => tool.run(editor)}
        >
          {tool.text}
        </button>
      ))}
      {extra?.map((tool) => (
        <button key={tool.label} type="button" tabIndex={-1} aria-label={tool.label} title={tool.label} onClick={tool.run}>
          {tool.text}
        </button>
      ))}
    </div>
  );
}
