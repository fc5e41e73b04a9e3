// `node dist/main.js [base-url] [slug]`: the latest articles, then one article's page.
import { GalleyError, articleBySlug, galley, latestArticles } from "./client.js";
import { bodyImages, listItem, page } from "./render.js";

const base = process.argv[2] ?? "http://127.0.0.1:8080";
const api = galley(base, process.env.GALLEY_TOKEN);

try {
  const articles = await latestArticles(api);
  for (const article of articles) console.log(listItem(article));
  const slug = process.argv[3] ?? articles[0]?.slug;
  if (slug) {
    const article = await articleBySlug(api, slug);
    console.log(`\n${page(article)}`);
    console.log(`\n${bodyImages(article.body ?? []).length} image(s) in the body`);
  }
} catch (err) {
  if (err instanceof GalleyError) {
    console.error(`Galley said no: ${err.message}`);
    process.exitCode = 1;
  } else {
    throw err;
  }
}
