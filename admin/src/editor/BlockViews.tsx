// How image and embed blocks look and are edited inside the body: their words are fields of
// the block, edited in place, so the block ↔ API mapping stays one to one.
import { NodeViewWrapper, type ReactNodeViewProps } from '@tiptap/react';
import type { Image } from './blocks';
import { altProblem } from '../images/alt';

function Field({ label, value, onChange, warn }: { label: string; value: string | null; onChange: (v: string | null) => void; warn?: string | null }) {
  return (
    <label className="block-field">
      {label}
      <input value={value ?? ''} onChange={(e) => onChange(e.target.value === '' ? null : e.target.value)} />
      {warn && <span className="warn">{warn}</span>}
    </label>
  );
}

export function ImageBlockView({ node, updateAttributes, selected }: ReactNodeViewProps) {
  const attrs = node.attrs as { imageId: string; alt: string | null; caption: string | null; credit: string | null; image: Image | null };
  const image = attrs.image;
  const thumb = image?.variants.find((v) => v.width >= 480) ?? image?.variants.at(-1);
  return (
    <NodeViewWrapper className={`block-image${selected ? ' selected' : ''}`} data-drag-handle="">
      <figure>
        {image ? (
          <img src={thumb?.url ?? image.url} alt={attrs.alt ?? image.alt ?? ''} width={image.width} height={image.height} />
        ) : (
          <div className="placeholder">Image {attrs.imageId}</div>
        )}
        <div className="block-fields" contentEditable={false}>
          <Field label="Alt text" value={attrs.alt} onChange={(alt) => updateAttributes({ alt })} warn={altProblem(attrs.alt, image?.alt ?? null)} />
          <Field label="Caption" value={attrs.caption} onChange={(caption) => updateAttributes({ caption })} />
          <Field label="Credit" value={attrs.credit} onChange={(credit) => updateAttributes({ credit })} />
        </div>
      </figure>
    </NodeViewWrapper>
  );
}

export function EmbedBlockView({ node, updateAttributes, selected }: ReactNodeViewProps) {
  const attrs = node.attrs as { url: string; caption: string | null };
  return (
    <NodeViewWrapper className={`block-embed${selected ? ' selected' : ''}`} data-drag-handle="">
      <div className="block-fields" contentEditable={false}>
        <Field label="Embed URL (https)" value={attrs.url} onChange={(url) => updateAttributes({ url: url ?? '' })} />
        <Field label="Caption" value={attrs.caption} onChange={(caption) => updateAttributes({ caption })} />
      </div>
    </NodeViewWrapper>
  );
}
