import { forwardRef } from 'react';

/** A hidden file input for images, opened by a visible button elsewhere (`ref.click()`). */
export const ImageFileInput = forwardRef<HTMLInputElement, { label: string; onFile: (file: File) => void }>(function ImageFileInput(
  { label, onFile },
  ref,
) {
  return (
    <input
      ref={ref}
      type="file"
      accept="image/jpeg,image/png,image/gif,image/webp"
      className="visually-hidden"
      aria-label={label}
      tabIndex={-1}
      onChange={(e) => {
        const file = e.target.files?.[0];
        e.target.value = '';
        if (file) onFile(file);
      }}
    />
  );
});
