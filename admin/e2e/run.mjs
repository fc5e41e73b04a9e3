// End-to-end tests of the admin in Debian's Chromium against a real Galley (started by
// tests/admin.rs on a fresh database). Each step drives the page as an editor would and checks
// the result through the public API. Screenshots go to e2e/artifacts/ (look at them; not
// committed). Any page error or CSP violation fails the run.
//
//   GALLEY_URL=http://127.0.0.1:PORT ADMIN_EMAIL=… ADMIN_PASSWORD=… node e2e/run.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import { crc32, deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';

const BASE = process.env.GALLEY_URL ?? 'http://127.0.0.1:8080';
const ADMIN = { email: process.env.ADMIN_EMAIL ?? 'admin@example.com', password: process.env.ADMIN_PASSWORD ?? 'e2e-password-1' };
const ARTIFACTS = new URL('./artifacts/', import.meta.url).pathname;
mkdirSync(ARTIFACTS, { recursive: true });

/** A small PNG (a gradient, so that it is a real photo-like image) for the upload step. */
function png(width, height) {
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
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      rows.set([(x * 255) / width, (y * 255) / height, 128], y * (width * 3 + 1) + 1 + x * 3);
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

const failures = [];
const problems = [];

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function api(method, path, { token, body, headers = {} } = {}) {
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

async function tokenFor(email, password) {
  const answer = await api('POST', '/v1/auth/login', { body: { email, password } });
  check(answer.status === 200, `login ${email}: ${answer.status}`);
  return answer.json.token;
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
});

const open = [];

async function newPage(name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, timezoneId: 'Asia/Shanghai', locale: 'en-GB' });
  const page = await context.newPage();
  page.on('pageerror', (error) => problems.push(`${name}: page error: ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    if (message.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|403|404|409|412|422)/.test(text)) {
      problems.push(`${name}: console error: ${text}`);
    }
  });
  page.on('dialog', (dialog) => void dialog.accept(page.nextPrompt ?? undefined));
  page.on('close', () => open.splice(open.indexOf(page), 1));
  open.push(page);
  return page;
}

async function signIn(page, email, password) {
  await page.goto(`${BASE}/admin/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Articles' }).waitFor();
}

async function step(name, body) {
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

const shot = (page, name) => page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });

// People and content the steps use, made through the API as an admin would.
const adminToken = await tokenFor(ADMIN.email, ADMIN.password);
const people = {};
for (const role of ['editor', 'contributor']) {
  const email = `${role}-${Date.now()}@example.com`;
  const made = await api('POST', '/v1/users', {
    token: adminToken,
    body: { email, name: role === 'editor' ? '管静鹏' : 'Casey Contributor', role, password: 'e2e-password-1' },
  });
  check(made.status === 201, `create ${role}: ${made.status} ${JSON.stringify(made.json)}`);
  people[role] = { email, password: 'e2e-password-1', id: made.json.id };
}
for (const title of ['我的阿勒泰 returns', 'Music of the year', 'Olympics diary']) {
  await api('POST', '/v1/articles', { token: adminToken, body: { title, body_markdown: `About ${title}.`, status: 'published' } });
}

const editor = await newPage('editor');
let written = null;

await step('sign in and see who I am', async () => {
  await signIn(editor, people.editor.email, people.editor.password);
  const who = await editor.locator('.who').textContent();
  check(who?.includes('管静鹏') && who.includes('(editor)'), `signed in as ${who}`);
  await editor.getByRole('link', { name: 'Olympics diary' }).waitFor();
  await shot(editor, '01-article-list');
});

await step('search finds Chinese titles', async () => {
  await editor.getByLabel('Search').fill('阿勒泰');
  await editor.getByRole('button', { name: 'Search' }).click();
  await editor.getByText('1 article', { exact: true }).waitFor();
  await editor.getByRole('link', { name: '我的阿勒泰 returns' }).waitFor();
  check((await editor.getByRole('link', { name: 'Music of the year' }).count()) === 0, 'search did not filter');
  await editor.goto(`${BASE}/admin/`);
});

await step('write an article with Chinese text, marks and a link, and publish it', async () => {
  await editor.getByRole('link', { name: 'New article' }).click();
  await editor.getByLabel('Title', { exact: true }).fill('松弛感 at the Olympics');
  const body = editor.getByRole('textbox', { name: 'Body' });
  await body.click();
  await editor.keyboard.type('Pan Zhanle swam with 松弛感. ');
  await editor.keyboard.press('Control+b');
  await editor.keyboard.type('World record');
  await editor.keyboard.press('Control+b');
  await editor.keyboard.type(' in Paris.');
  await editor.keyboard.press('Enter');
  await editor.keyboard.type('## Reactions');
  await editor.keyboard.press('Enter');
  await editor.keyboard.type('Read ');
  editor.nextPrompt = 'https://example.com/olympics';
  await editor.keyboard.type('the report');
  for (let i = 0; i < 'the report'.length; i++) await editor.keyboard.press('Shift+ArrowLeft');
  await editor.getByRole('button', { name: 'Link', exact: true }).click();
  // Byline and tag, created on the fly.
  const authors = editor.getByRole('combobox', { name: 'Authors' });
  await authors.fill('管静鹏');
  await editor.getByRole('option', { name: 'Create “管静鹏”' }).waitFor();
  await authors.press('Enter');
  const tags = editor.getByRole('combobox', { name: 'Tags' });
  await tags.fill('Olympics');
  await editor.getByRole('option', { name: 'Create “Olympics”' }).waitFor();
  await tags.press('Enter');
  await editor.getByLabel('SEO title').fill('Pan Zhanle and 松弛感');
  await editor.waitForURL(/\/admin\/articles\/[0-9a-f-]{36}$/, { timeout: 10_000 }).catch(async (e) => {
    await shot(editor, '02-editor-unsaved');
    throw e;
  });
  await editor.getByText(/^Saved · version/).waitFor({ timeout: 10_000 });
  await shot(editor, '02-editor');
  await editor.getByRole('button', { name: 'Publish', exact: true }).click();
  await editor.getByText('Publish: done.').waitFor();
  const id = editor.url().split('/').pop();
  const live = await api('GET', `/v1/articles/${id}`);
  check(live.status === 200, `public read ${live.status}`);
  written = live.json;
  // What the editor saved is what the public reads, block for block.
  const working = await api('GET', `/v1/articles/${id}?view=working`, { token: adminToken });
  check(JSON.stringify(live.json.body) === JSON.stringify(working.json.body), 'public body is not the saved one');
  const [first, heading, last] = live.json.body;
  const text = (block) => block.children.map((c) => (c.type === 'link' ? c.children.map((r) => r.text).join('') : c.text)).join('');
  check(live.json.body.length === 3, `blocks: ${JSON.stringify(live.json.body)}`);
  check(text(first) === 'Pan Zhanle swam with 松弛感. World record in Paris.', `first paragraph: ${text(first)}`);
  check(first.children.some((c) => c.bold && c.text.trim() === 'World record'), `bold: ${JSON.stringify(first)}`);
  check(heading.type === 'heading' && heading.level === 2 && text(heading) === 'Reactions', JSON.stringify(heading));
  const link = last.children.find((c) => c.type === 'link');
  check(link?.url === 'https://example.com/olympics' && link.children[0].text === 'the report', JSON.stringify(last));
  check(live.json.title === '松弛感 at the Olympics', live.json.title);
  check(live.json.authors.map((a) => a.name).join() === '管静鹏', `authors: ${JSON.stringify(live.json.authors)}`);
  check(live.json.tags.map((t) => t.name).join() === 'Olympics', `tags: ${JSON.stringify(live.json.tags)}`);
  check(live.json.seo.title === 'Pan Zhanle and 松弛感', `seo: ${JSON.stringify(live.json.seo)}`);
});

await step('two editors on one article: the second sees the 412 and chooses', async () => {
  check(written, 'needs the written article');
  const other = await newPage('other');
  await signIn(other, ADMIN.email, ADMIN.password);
  await other.goto(`${BASE}/admin/articles/${written.id}`);
  await editor.goto(`${BASE}/admin/articles/${written.id}`);
  await other.getByLabel('Title', { exact: true }).waitFor();
  await editor.getByLabel('Title', { exact: true }).waitFor();
  await other.getByLabel('Subtitle').fill('Edited by the admin');
  await other.getByText(/^Saved · version/).waitFor({ timeout: 10_000 });
  await editor.getByLabel('Title', { exact: true }).fill('松弛感 at the Paris Olympics');
  await editor.getByRole('alertdialog').waitFor({ timeout: 10_000 });
  await editor.getByText('Subtitle').first().waitFor();
  await shot(editor, '03-conflict');
  await editor.getByRole('button', { name: 'Overwrite with mine' }).click();
  await editor.getByText(/^Saved · version/).waitFor({ timeout: 10_000 });
  const working = await api('GET', `/v1/articles/${written.id}?view=working`, { token: adminToken });
  check(working.json.title === '松弛感 at the Paris Olympics', `title ${working.json.title}`);
  check(working.json.subtitle === 'Edited by the admin', `their change to a field I did not touch stays: ${working.json.subtitle}`);
  await other.context().close();
});

await step('upload an image from the editor and give it a caption and credit', async () => {
  check(written, 'needs the written article');
  const file = `${ARTIFACTS}pool.png`;
  writeFileSync(file, png(320, 200));
  await editor.goto(`${BASE}/admin/articles/${written.id}`);
  await editor.getByRole('textbox', { name: 'Body' }).click();
  await editor.keyboard.press('Control+End');
  await editor.getByLabel('Image file to insert').setInputFiles(file);
  await editor.getByLabel('Caption').fill('冠军 at the wall');
  await editor.getByLabel('Credit').fill('Photo by AFP-JIJI');
  await editor.getByLabel('Alt text').fill('undefined');
  await editor.getByText('“undefined” is not a description of the image.').waitFor();
  await editor.getByLabel('Alt text').fill('Pan Zhanle touches the wall');
  await editor.getByLabel('Banner image file').setInputFiles(file);
  await editor.getByLabel('Banner credit').fill('Banner Image via AFP-JIJI.');
  await editor.getByText(/^Saved · version/).waitFor({ timeout: 10_000 });
  await shot(editor, '04-image');
  const working = await api('GET', `/v1/articles/${written.id}?view=working`, { token: adminToken });
  const image = working.json.body.find((b) => b.type === 'image');
  check(image, `no image block: ${JSON.stringify(working.json.body)}`);
  check(image.caption === '冠军 at the wall' && image.credit === 'Photo by AFP-JIJI' && image.alt === 'Pan Zhanle touches the wall', JSON.stringify(image));
  check(image.image?.width === 320, `embedded image: ${JSON.stringify(image.image)}`);
  check(working.json.banner?.credit === 'Banner Image via AFP-JIJI.' && working.json.banner.image.id === image.image_id, `banner: ${JSON.stringify(working.json.banner)}`);
});

await step('restore a revision', async () => {
  check(written, 'needs the written article');
  await editor.goto(`${BASE}/admin/articles/${written.id}`);
  await editor.getByRole('button', { name: 'Revisions' }).click();
  await editor.getByRole('button', { name: /^#1 管静鹏 created/ }).click();
  await editor.getByRole('rowheader', { name: 'Title', exact: true }).waitFor();
  await editor.getByRole('rowheader', { name: 'Body block 4' }).waitFor();
  check((await editor.getByRole('rowheader', { name: 'Body block 1' }).count()) === 0, 'an unchanged block is listed as changed');
  await shot(editor, '05-revisions');
  await editor.getByRole('button', { name: 'Restore #1' }).click();
  await editor.getByText('The revision is restored as the working copy; publish to put it live.').waitFor();
  const working = await api('GET', `/v1/articles/${written.id}?view=working`, { token: adminToken });
  check(working.json.title === '松弛感 at the Olympics', `restored title: ${working.json.title}`);
  check(!working.json.body.some((b) => b.type === 'image'), 'the image added later is still there');
  check((await editor.getByLabel('Title', { exact: true }).inputValue()) === '松弛感 at the Olympics', 'the editor shows the restored copy');
});

await step('schedule an article and see it go live', async () => {
  const draft = await api('POST', '/v1/articles', { token: adminToken, body: { title: 'Scheduled 管静鹏 piece', body_markdown: 'Soon.' } });
  await editor.goto(`${BASE}/admin/articles/${draft.json.id}`);
  const at = new Date(Date.now() + 4000);
  // datetime-local in the page's zone (Asia/Shanghai, UTC+8).
  const local = new Date(at.getTime() + 8 * 3600_000).toISOString().slice(0, 19);
  await editor.getByLabel(/Publish at/).fill(local);
  await editor.getByText('(UTC)').waitFor();
  await editor.getByRole('button', { name: 'Schedule' }).click();
  await editor.getByText('Schedule: done.').waitFor();
  await shot(editor, '06-scheduled');
  check((await api('GET', `/v1/articles/${draft.json.id}`)).status === 404, 'live before its time');
  let status = 0;
  for (let i = 0; i < 40 && status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 250));
    status = (await api('GET', `/v1/articles/${draft.json.id}`)).status;
  }
  check(status === 200, 'not live after its time');
});

await step('a contributor sees no publish action and cannot publish; disabled, is sent to sign in', async () => {
  const page = await newPage('contributor');
  await signIn(page, people.contributor.email, people.contributor.password);
  await page.getByRole('link', { name: 'New article' }).click();
  await page.getByLabel('Title', { exact: true }).fill('A contributor’s draft');
  await page.waitForURL(/\/admin\/articles\/[0-9a-f-]{36}$/, { timeout: 10_000 });
  await page.getByRole('button', { name: 'Submit for review' }).waitFor();
  check((await page.getByRole('button', { name: 'Publish', exact: true }).count()) === 0, 'publish offered');
  await page.getByText('Publish needs the author role.').waitFor();
  await shot(page, '07-contributor');
  const id = page.url().split('/').pop();
  const refused = await page.evaluate(async (articleId) => {
    const response = await fetch(`/v1/articles/${articleId}/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-galley-csrf': '1' },
      body: '{}',
    });
    return response.status;
  }, id);
  check(refused === 403, `publish by a contributor: ${refused}`);
  // Disabled by an admin, the contributor's next request lands on the sign-in page, saying why.
  const disabled = await api('PATCH', `/v1/users/${people.contributor.id}`, { token: adminToken, body: { disabled: true } });
  check(disabled.status === 200, `disable: ${disabled.status}`);
  await page.getByRole('link', { name: '← Articles' }).click();
  await page.getByText('the session has expired or was ended: sign in again').waitFor();
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await page.context().close();
});

await step('the page holds no readable credential and sign-out ends the session', async () => {
  const cookies = await editor.evaluate(() => document.cookie);
  check(!cookies.includes('galley_session'), `script can read the session: ${cookies}`);
  await editor.goto(`${BASE}/admin/`);
  await editor.getByRole('button', { name: 'Sign out' }).click();
  await editor.getByText('You have signed out.').waitFor();
  await shot(editor, '08-signed-out');
  const me = await editor.evaluate(async () => (await fetch('/v1/me')).status);
  check(me === 401, `after sign-out /v1/me is ${me}`);
});

await browser.close();
for (const problem of problems) console.log(`FAIL ${problem}`);
if (failures.length || problems.length) {
  console.log(`${failures.length} step(s) failed, ${problems.length} page problem(s); screenshots in ${ARTIFACTS}`);
  process.exit(1);
}
console.log(`all steps passed; screenshots in ${ARTIFACTS}`);
