// `bench/run library`: whether the image library stays smooth at 10,000 images, in Debian's
// headless Chromium against a seeded Galley. Opens the library, then scrolls its grid from the
// first image to the last at one row per frame (a fast flick, held) while recording every
// frame's interval, how many cells the page holds, and how many thumbnails it fetched.
//
//   node e2e/library-bench.mjs BASE EMAIL PASSWORD
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

mkdirSync(new URL('./artifacts/', import.meta.url).pathname, { recursive: true });

const [base, email, password] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--enable-precise-memory-info'],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
const page = await context.newPage();
let thumbnails = 0;
let pages = 0;
page.on('request', (request) => {
  const url = new URL(request.url());
  if (url.pathname.startsWith('/media/')) thumbnails += 1;
  if (url.pathname === '/v1/images') pages += 1;
});
await page.goto(`${base}/admin/`);
await page.getByLabel('Email').fill(email);
await page.getByLabel('Password').fill(password);
await page.getByRole('button', { name: 'Sign in' }).click();
await page.getByRole('heading', { name: 'Articles' }).waitFor();

const opened = performance.now();
await page.getByRole('link', { name: 'Images', exact: true }).click();
await page.waitForFunction(() => [...document.querySelectorAll('.library-cell img')].some((img) => img.complete && img.naturalWidth > 0));
const firstScreen = performance.now() - opened;
await page.screenshot({ path: new URL('./artifacts/library-bench.png', import.meta.url).pathname });
const total = await page.evaluate(() => Number(document.querySelector('.library-cell')?.getAttribute('aria-setsize')));

const scrolled = await page.evaluate(
  (all) =>
    new Promise((resolve) => {
      const scroller = document.querySelector('.library-scroll');
      const row = document.querySelector('.library-row')?.getBoundingClientRect().height ?? 240;
      const frames = [];
      let maxCells = 0;
      let last = performance.now();
      const started = last;
      const tick = (now) => {
        frames.push(now - last);
        last = now;
        maxCells = Math.max(maxCells, document.querySelectorAll('.library-cell').length);
        const lastShown = document.querySelector(`.library-cell[aria-posinset="${all}"]`);
        if (lastShown || now - started > 180_000) {
          const memory = performance.memory?.usedJSHeapSize ?? 0;
          resolve({ frames, maxCells, ms: now - started, reached: Boolean(lastShown), heap: memory });
          return;
        }
        scroller.scrollTop += row;
        requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    }),
  total,
);
await browser.close();

const sorted = [...scrolled.frames.slice(1)].sort((a, b) => a - b);
const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(1);
const long = sorted.filter((f) => f > 50).length;
console.log(`library → first thumbnails on screen   ${firstScreen.toFixed(0)} ms`);
console.log(`scrolled ${total.toLocaleString()} images top to bottom   ${(scrolled.ms / 1000).toFixed(1)} s, ${sorted.length} frames${scrolled.reached ? '' : ' (did NOT reach the last image)'}`);
console.log(`frame interval                         p50 ${at(0.5)} ms   p95 ${at(0.95)} ms   p99 ${at(0.99)} ms   max ${sorted.at(-1).toFixed(1)} ms`);
console.log(`frames over 50 ms                      ${long} of ${sorted.length}`);
console.log(`cells in the page at most              ${scrolled.maxCells} (of ${total.toLocaleString()})`);
console.log(`list pages fetched                     ${pages}; thumbnails fetched ${thumbnails}`);
console.log(`JS heap after                          ${(scrolled.heap / 1048576).toFixed(1)} MiB`);
if (!scrolled.reached) process.exit(1);
