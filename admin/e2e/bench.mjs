// `bench/run admin`: how fast the admin is for an editor, in Debian's headless Chromium against
// a seeded Galley. Each figure is the time from the action to its result on screen, over fresh
// browser contexts (cold: nothing cached but what the server keeps).
//
//   node e2e/bench.mjs BASE EMAIL PASSWORD [WORD] [RUNS]   (searches alternate WORD and 松弛感)
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const [base, email, password, word = 'music', runs = '7'] = process.argv.slice(2);
const dist = new URL('../dist/', import.meta.url).pathname;

// What the first screen loads: index.html's script and stylesheet (the editor is a separate
// chunk, loaded when an article is opened).
const html = readFileSync(`${dist}index.html`, 'utf8');
const first = [...html.matchAll(/(?:src|href)="\/admin\/(assets\/[^"]+)"/g)].map((m) => m[1]);
const gz = (file) => gzipSync(readFileSync(`${dist}${file}`), { level: 9 }).length;
const firstJs = first.filter((f) => f.endsWith('.js')).reduce((n, f) => n + gz(f), 0);
const editorJs = readdirSync(`${dist}assets`).filter((f) => f.startsWith('ArticleEditor') && f.endsWith('.js'));
console.log(`initial JavaScript: ${(firstJs / 1024).toFixed(1)} KB gzip (${first.join(', ')})`);
console.log(`editor chunk (on demand): ${(editorJs.reduce((n, f) => n + gz(`assets/${f}`), 0) / 1024).toFixed(1)} KB gzip`);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

const figures = { 'sign-in → list on screen': [], 'next page on screen': [], 'open an article in the editor': [], 'back to the list': [], 'search results on screen': [] };
const time = async (name, action, done) => {
  const started = performance.now();
  await action();
  await done();
  figures[name].push(performance.now() - started);
};

for (let run = 0; run < Number(runs); run++) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  await page.goto(`${base}/admin/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  const rows = page.locator('tbody tr');
  await time(
    'sign-in → list on screen',
    () => page.getByRole('button', { name: 'Sign in' }).click(),
    () => rows.nth(49).waitFor(),
  );
  const firstTitle = await rows.first().locator('a.title').textContent();
  await time(
    'next page on screen',
    () => page.getByRole('button', { name: 'Next' }).click(),
    () => page.waitForFunction((t) => document.querySelector('tbody tr a.title')?.textContent !== t, firstTitle),
  );
  await time(
    'open an article in the editor',
    () => rows.first().locator('a.title').click(),
    () => page.getByRole('textbox', { name: 'Body' }).waitFor(),
  );
  await time(
    'back to the list',
    () => page.getByRole('link', { name: '← Articles' }).click(),
    () => rows.nth(49).waitFor(),
  );
  const whole = await page.locator('.pager [role="status"]').textContent();
  await time(
    'search results on screen',
    async () => {
      await page.getByLabel('Search').fill(run % 2 ? word : '松弛感');
      await page.getByRole('button', { name: 'Search' }).click();
    },
    // Done when the count is the search's (at most 1,000), no longer the whole list's.
    () =>
      page.waitForFunction((all) => {
        const count = document.querySelector('.pager [role="status"]')?.textContent ?? '';
        return document.querySelector('[aria-busy="false"]') && count !== '' && count !== all;
      }, whole),
  );
  if (run === 0) console.log(`search shows: ${await page.locator('.pager [role="status"]').textContent()}`);
  await context.close();
}
await browser.close();

for (const [name, values] of Object.entries(figures)) {
  values.sort((a, b) => a - b);
  const median = values[Math.floor(values.length / 2)];
  console.log(`${name.padEnd(34)} median ${median.toFixed(0).padStart(5)} ms   max ${values.at(-1).toFixed(0).padStart(5)} ms   (n=${values.length})`);
}
