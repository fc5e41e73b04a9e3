// The API's field errors for the body (`body[3].children[0].url`) shown on the block they name:
// the block is outlined and the message follows it. Top-level nodes and body blocks are one
// to one (blocks.ts), so the first index of the path is the node's.
import { Extension } from '@tiptap/core';
import { Plugin, PluginKey } from '@tiptap/pm/state';
import { Decoration, DecorationSet } from '@tiptap/pm/view';

export const blockErrorsKey = new PluginKey<Map<number, string[]>>('galleyBlockErrors');

/** `[path, message]` pairs of a problem document → messages by block index. */
export function byBlock(errors: Iterable<[string, string]>): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const [field, message] of errors) {
    const match = /^body\[(\d+)\](.*)$/.exec(field);
    if (!match) continue;
    const index = Number(match[1]);
    const where = match[2]?.replace(/^\./, '') ?? '';
    out.set(index, [...(out.get(index) ?? []), where ? `${where}: ${message}` : message]);
  }
  return out;
}

export const BlockErrors = Extension.create({
  name: 'galleyBlockErrors',
  addProseMirrorPlugins() {
    return [
      new Plugin<Map<number, string[]>>({
        key: blockErrorsKey,
        state: {
          init: () => new Map(),
          // Set by the page after a save; an edit keeps them until the next save answers.
          apply: (tr, errors) => tr.getMeta(blockErrorsKey) ?? errors,
        },
        props: {
          decorations(state) {
            const errors = blockErrorsKey.getState(state);
            if (!errors?.size) return null;
            const decorations: Decoration[] = [];
            let index = 0;
            state.doc.forEach((node, offset) => {
              const messages = errors.get(index);
              if (messages) {
                decorations.push(Decoration.node(offset, offset + node.nodeSize, { class: 'block-error' }));
                decorations.push(
                  Decoration.widget(offset + node.nodeSize, () => {
                    const note = document.createElement('div');
                    note.className = 'block-error-message';
                    note.setAttribute('role', 'alert');
                    note.contentEditable = 'false';
                    note.textContent = `Block ${index + 1}: ${messages.join('; ')}`;
                    return note;
                  }, { side: -1, key: `error-${index}-${messages.join()}` }),
                );
              }
              index += 1;
            });
            return DecorationSet.create(state.doc, decorations);
          },
        },
      }),
    ];
  },
});
