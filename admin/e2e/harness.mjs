// What every end-to-end step uses: the browser, pages that record their errors, steps that
// screenshot every open page when they fail, and the API as a script sees it.
import { mkdirSync, rmSync } from 'node:fs';
import { crc32, deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

export const BASE = process.env.GALLEY_URL ?? 'http://127.0.0.1:8080';
export const ADMIN = { email: process.env.ADMIN_EMAIL ?? 'admin@example.com', password: process.env.ADMIN_PASSWORD ?? 'e2e-password-1' };
export const ARTIFACTS = new URL('./artifacts/', import.meta.url).pathname;
rmSync(ARTIFACTS, { recursive: true, force: true });
mkdirSync(ARTIFACTS, { recursive: true });

/** A PNG file of 8-bit RGB `rows` (each row led by its filter byte), stored as `level` deflate. */
export function pngOf(width, height, rows, level = 6) {
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    data.copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows, { level })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A small PNG (a gradient, so that it is a real photo-like image) for the upload steps. */
export function png(width, height) {
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      rows.set([(x * 255) / width, (y * 255) / height, 128], y * (width * 3 + 1) + 1 + x * 3);
    }
  }
  return pngOf(width, height, rows);
}

export const failures = [];
export const problems = [];

export function check(condition, message) {
  if (!condition) throw new Error(message);
}

export async function api(method, path, { token, body, headers = {} } = {}) {
  const response = await fetch(`${BASE}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : null };
}

export async function tokenFor(email, password) {
  const answer = await api('POST', '/v1/auth/login', { body: { email, password } });
  check(answer.status === 200, `login ${email}: ${answer.status}`);
  return answer.json.token;
}

export const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

const open = [];

export async function newPage(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, timezoneId: 'Asia/Shanghai', locale: 'en-GB' });
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`${name}: page error: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (message.type() === 'error' && !/Failed to load resource: (the server responded with a status of (401|403|404|409|412|422)|net::ERR_INTERNET_DISCONNECTED)/.test(text)) {
      problems.push(`${name}: console error: ${text}`);
    }
  });
  page.on('dialog', (dialog) => void dialog.accept(page.nextPrompt ?? undefined));
  page.on('close', () => open.splice(open.indexOf(page), 1));
  open.push(page);
  return page;
}

export async function signIn(page, email, password) {
  await page.goto(`${BASE}/admin/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Articles' }).waitFor();
}

export async function step(name, body) {
  const started = Date.now();
  try {
    await body();
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failures.push(name);
    for (const [i, page] of open.entries()) {
      await page.screenshot({ path: `${ARTIFACTS}failed-${failures.length}-${i}.png`, fullPage: true }).catch(() => undefined);
    }
    console.log(`FAIL ${name}: ${error.stack ?? error}`);
  }
}

export const shot = (page, name) => page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });

/** Prints every failure and ends the process: non-zero when a step or a page failed. */
export async function finish() {
  await browser.close();
  for (const problem of problems) console.log(`FAIL ${problem}`);
  if (failures.length || problems.length) {
    console.log(`${failures.length} step(s) failed, ${problems.length} page problem(s); screenshots in ${ARTIFACTS}`);
    process.exit(1);
  }
  console.log(`all steps passed; screenshots in ${ARTIFACTS}`);
}
