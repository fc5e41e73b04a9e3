// Alt text that says nothing to a reader who cannot see the image: none at all, or what a
// template or an upload tool leaves behind ("undefined", "IMG_2043.jpg"). A warning to act on,
// never a reason to refuse a save or a publish.
const PLACEHOLDERS = new Set(['undefined', 'null', 'nan', 'none', 'image', 'img', 'photo', 'picture', 'alt', 'untitled', '[object object]', 'placeholder']);
const FILE_NAME = /^[\w\- ]+\.(jpe?g|png|gif|webp|heic|avif|tiff?)$/i;

/** Why this alt text needs work, or null when it describes something. */
export function altProblem(alt: string | null | undefined, fallback: string | null = null): string | null {
  const text = (alt ?? fallback ?? '').trim();
  if (text === '') return 'No alt text: describe the image for readers who cannot see it.';
  if (PLACEHOLDERS.has(text.toLowerCase())) return `“${text}” is not a description of the image.`;
  if (FILE_NAME.test(text)) return `“${text}” is a file name, not a description of the image.`;
  return null;
}
