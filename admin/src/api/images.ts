// Uploading to the image library: multipart, as `POST /v1/images` takes it, through
// XMLHttpRequest because fetch cannot report upload progress. The same bytes uploaded again
// answer the existing image (200) instead of a new one (201).
import { reportSignedOut, type Schemas } from './client';
import { ApiError, type Problem } from './problem';

export type Image = Schemas['Image'];
export type ImageUse = Schemas['ImageUse'];

export interface Uploaded {
  image: Image;
  duplicate: boolean;
}

export function uploadImage(
  file: File,
  { words = {}, onProgress }: { words?: { alt?: string; caption?: string; credit?: string }; onProgress?: (fraction: number) => void } = {},
): Promise<Uploaded> {
  const form = new FormData();
  for (const [key, value] of Object.entries(words)) if (value) form.append(key, value);
  form.append('file', file, file.name);
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', '/v1/images');
    request.setRequestHeader('X-Galley-CSRF', '1');
    request.responseType = 'json';
    request.upload.onprogress = (event) => {
      if (event.lengthComputable) onProgress?.(event.loaded / event.total);
    };
    request.onerror = () => reject(new ApiError(0, null));
    request.onload = () => {
      const body: unknown = request.response;
      if (request.status === 200 || request.status === 201) {
        onProgress?.(1);
        resolve({ image: body as Image, duplicate: request.status === 200 });
        return;
      }
      const problem = body && typeof body === 'object' && 'status' in body ? (body as Problem) : null;
      if (request.status === 401) reportSignedOut(problem?.detail ?? '');
      reject(new ApiError(request.status, problem));
    };
    request.send(form);
  });
}

/** The smallest variant at least `width` pixels wide (the largest one if none is), else the original. */
export function variantUrl(image: Image, width: number): string {
  const webp = image.variants.filter((v) => v.mime_type === 'image/webp');
  const pool = webp.length ? webp : image.variants;
  return (pool.find((v) => v.width >= width) ?? pool.at(-1))?.url ?? image.url;
}

/** The WebP variants as a `srcset` (the browser picks by the `sizes` given and the screen's density). */
export function variantSrcSet(image: Image): string | undefined {
  const webp = image.variants.filter((v) => v.mime_type === 'image/webp');
  return webp.length ? webp.map((v) => `${v.url} ${v.width}w`).join(', ') : undefined;
}
