// Rendering with the generated types: the compiler checks every field name and every union case.
import type { Article, Image, ShownBlock } from "./client.js";

const escape = (text: string) =>
  text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** `srcset` of an image's WebP variants, for a responsive `<img>`. */
export function srcset(image: Image): string {
  return image.variants
    .filter((v) => v.mime_type === "image/webp")
    .map((v) => `${v.url} ${v.width}w`)
    .join(", ");
}

export function banner(article: Article): string {
  if (!article.banner) return "";
  const { image, caption, credit } = article.banner;
  const words = [caption ?? image.caption, credit ?? image.credit].filter(Boolean).join(" ");
  return `<figure><img src="${escape(image.url)}" srcset="${escape(srcset(image))}" sizes="100vw" ` +
    `width="${image.width}" height="${image.height}" alt="${escape(image.alt ?? "")}">` +
    (words ? `<figcaption>${escape(words)}</figcaption>` : "") + `</figure>`;
}

export function listItem(article: Article): string {
  const byline = article.authors.map((a) => a.name).join(", ");
  const tags = article.tags.map((t) => `#${t.name}`).join(" ");
  const when = article.published_at ? new Date(article.published_at).toISOString().slice(0, 10) : "draft";
  return `${when}  ${article.title}${byline ? ` — by ${byline}` : ""}${tags ? `  ${tags}` : ""}`;
}

/** The images a body shows, from its blocks (an exhaustive switch over the block union). */
export function bodyImages(blocks: ShownBlock[]): Image[] {
  const images: Image[] = [];
  for (const block of blocks) {
    switch (block.type) {
      case "image":
        if (block.image) images.push(block.image);
        break;
      case "paragraph":
      case "heading":
      case "quote":
      case "list":
      case "code":
      case "embed":
      case "divider":
        break;
      default: {
        const unknown: never = block;
        throw new Error(`a block type this frontend does not know: ${JSON.stringify(unknown)}`);
      }
    }
  }
  return images;
}

/** A whole article page: banner, title, byline and the server-rendered, escaped body HTML. */
export function page(article: Article): string {
  return `<article><h1>${escape(article.title)}</h1>${banner(article)}` +
    `<p class="byline">${escape(article.authors.map((a) => a.name).join(", "))}</p>` +
    `${article.body_html ?? ""}</article>`;
}
