// Uploading an image to the library: multipart, as `POST /v1/images` takes it. Uploading the
// same bytes again answers the existing image (200) instead of a new one (201).
import { api, type Schemas } from './client';
import { answer } from './problem';

export type Image = Schemas['Image'];

export async function uploadImage(file: File, words: { alt?: string; caption?: string; credit?: string } = {}): Promise<{ image: Image; duplicate: boolean }> {
  let status = 0;
  const { data } = await answer(
    api
      .POST('/v1/images', {
        body: { file: '', ...words },
        bodySerializer: () => {
          const form = new FormData();
          for (const [key, value] of Object.entries(words)) if (value) form.append(key, value);
          form.append('file', file, file.name);
          return form;
        },
      })
      .then((result) => {
        status = result.response.status;
        return result;
      }),
  );
  return { image: data, duplicate: status === 200 };
}
