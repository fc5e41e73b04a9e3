// End-to-end steps of the library, people, administration and import (issue #18): images
// uploaded several at a time with progress, words and focal points, uses and refused deletes,
// alt text flagged; authors with avatars; users, API tokens and webhooks; import and export.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createHmac, randomBytes } from 'node:crypto';
import { ADMIN, ARTIFACTS, BASE, api, browser, check, newPage, png, pngOf, shot, signIn, step } from './harness.mjs';

/** A PNG of noise: it does not compress, so its upload takes long enough to show progress. */
function noisePng(width, height) {
  const rows = randomBytes((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) rows[y * (width * 3 + 1)] = 0;
  return pngOf(width, height, rows, 0);
}

async function upload(token, bytes, name, words = {}) {
  const form = new FormData();
  for (const [key, value] of Object.entries(words)) form.append(key, value);
  form.append('file', new Blob([bytes], { type: 'image/png' }), name);
  const response = await fetch(`${BASE}/v1/images`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
  check(response.status === 201 || response.status === 200, `upload ${name}: ${response.status}`);
  return response.json();
}

/** A webhook receiver on loopback that records what it is sent. */
async function receiver() {
  const received = [];
  const server = createServer((request, response) => {
    const chunks = [];
    request.on('data', (c) => chunks.push(c));
    request.on('end', () => {
      received.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      response.writeHead(200, { 'content-type': 'text/plain' }).end('thanks');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}/hooks/galley`, received, close: () => server.close() };
}

/** Standard Webhooks: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under the secret's bytes. */
function signs(secret, headers, body) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64');
  return headers['webhook-signature'].split(' ').includes(`v1,${expected}`);
}

export async function libraryAndAdministration({ adminToken, people, editor }) {
  const editorToken = (await api('POST', '/v1/auth/login', { body: { email: people.editor.email, password: people.editor.password } })).json.token;
  const pool = png(320, 200); // the bytes the editor's step uploaded: a duplicate here
  const banner = await upload(adminToken, png(640, 360), 'banner.png', { alt: 'The pool at dawn', caption: 'Before the final' });
  const cover = await api('POST', '/v1/articles', { token: adminToken, body: { title: 'Swimming 游泳 at dawn', banner: { image_id: banner.id }, body_markdown: 'Before the final.' } });
  check(cover.status === 201, `article with a banner: ${cover.status}`);

  await step('upload several images at once by drag and drop, with progress and a duplicate recognised', async () => {
    await editor.goto(`${BASE}/admin/images`);
    await editor.getByRole('heading', { name: 'Images' }).waitFor();
    // Slow uploads down so that the progress is seen moving, not only finished.
    const cdp = await editor.context().newCDPSession(editor);
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: -1, uploadThroughput: 400 * 1024 });
    const files = [
      { name: 'noise-a.png', bytes: noisePng(500, 400) },
      { name: 'noise-b.png', bytes: noisePng(480, 400) },
      { name: 'pool-again.png', bytes: pool },
    ];
    const transfer = await editor.evaluateHandle((list) => {
      const data = new DataTransfer();
      for (const f of list) data.items.add(new File([new Uint8Array(f.bytes)], f.name, { type: 'image/png' }));
      return data;
    }, files.map((f) => ({ name: f.name, bytes: [...f.bytes] })));
    await editor.locator('section.images').dispatchEvent('dragover', { dataTransfer: transfer });
    await editor.locator('section.images').dispatchEvent('drop', { dataTransfer: transfer });
    const bar = editor.getByLabel('noise-a.png uploaded');
    await editor.waitForFunction(() => {
      const p = document.querySelector('progress[aria-label="noise-a.png uploaded"]');
      return p instanceof HTMLProgressElement && p.value > 0.05 && p.value < 0.95;
    });
    await shot(editor, '11-uploads-in-progress');
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await editor.locator('li.upload.added').nth(1).waitFor({ timeout: 30_000 });
    await editor.locator('li.upload.duplicate').getByText('Already in the library').waitFor();
    check((await bar.evaluate((p) => p.value)) === 1, 'noise-a did not finish at 100 %');
    check((await editor.locator('li.upload').count()) === 3, 'three uploads listed');
    const listed = await api('GET', '/v1/images?limit=100', { token: adminToken });
    const sizes = listed.json.data.map((i) => `${i.width}x${i.height}`);
    check(sizes.includes('500x400') && sizes.includes('480x400'), `library: ${sizes}`);
    check(sizes.filter((s) => s === '320x200').length === 1, `the duplicate made a second image: ${sizes}`);
    await editor.locator('.library-cell').first().waitFor();
    await shot(editor, '12-library');
  });

  await step('edit the credit and the focal point of an image and see them in the API', async () => {
    await editor.goto(`${BASE}/admin/images/${banner.id}`);
    const picture = editor.locator('.focal-frame img');
    await picture.waitFor();
    await editor.getByLabel('Credit').fill('Photo by 管静鹏');
    const box = await picture.boundingBox();
    await picture.click({ position: { x: box.width * 0.25, y: box.height * 0.75 } });
    await editor.locator('.focal-mark').waitFor();
    await editor.getByRole('button', { name: 'Save' }).click();
    await editor.getByText('Saved.').waitFor();
    await shot(editor, '13-image-focal-point');
    const image = (await api('GET', `/v1/images/${banner.id}`)).json;
    check(image.credit === 'Photo by 管静鹏', `credit: ${image.credit}`);
    check(Math.abs(image.focal_point?.x - 0.25) < 0.02 && Math.abs(image.focal_point?.y - 0.75) < 0.02, `focal point: ${JSON.stringify(image.focal_point)}`);
    // The live page of the article re-renders with the new credit only once published; the working copy shows it at once.
    const working = await api('GET', `/v1/articles/${cover.json.id}?view=working`, { token: adminToken });
    check(working.json.banner.image.credit === 'Photo by 管静鹏', `banner image credit: ${working.json.banner.image.credit}`);
  });

  await step('the editor inserts an image from the library into the body', async () => {
    await editor.goto(`${BASE}/admin/articles/${cover.json.id}`);
    await editor.getByRole('textbox', { name: 'Body' }).click();
    await editor.keyboard.press('Control+End');
    await editor.getByRole('button', { name: 'Insert an image from the library' }).click();
    await editor.getByRole('dialog', { name: 'Insert an image' }).getByRole('button', { name: 'Choose The pool at dawn' }).click();
    await editor.locator('.block-image img').waitFor();
    await editor.getByText(/^Saved · version/).waitFor({ timeout: 10_000 });
    const working = await api('GET', `/v1/articles/${cover.json.id}?view=working`, { token: adminToken });
    check(working.json.body.some((b) => b.type === 'image' && b.image_id === banner.id), JSON.stringify(working.json.body));
  });

  await step('deleting an image in use is refused and says who uses it', async () => {
    await editor.goto(`${BASE}/admin/images/${banner.id}`);
    await editor.getByRole('heading', { name: 'Where it is used' }).waitFor();
    await editor.locator('.uses li').first().waitFor();
    const uses = await editor.locator('.uses li').allTextContents();
    check(uses.join('|') === 'Banner of Swimming 游泳 at dawn|In the body of Swimming 游泳 at dawn', `uses: ${uses}`);
    await editor.getByRole('button', { name: 'Delete image' }).click();
    const alert = editor.getByRole('alert');
    await alert.waitFor();
    const said = await alert.textContent();
    check(said.includes('in use') && said.includes('Swimming 游泳 at dawn'), `refusal: ${said}`);
    await shot(editor, '14-delete-refused');
    check((await api('GET', `/v1/images/${banner.id}`)).status === 200, 'the image was deleted');
  });

  await step('an image whose alt text is "undefined" is flagged in the library and before publishing', async () => {
    const careless = await upload(adminToken, png(300, 300), 'careless.png', { alt: 'undefined' });
    const made = await api('POST', '/v1/articles', { token: editorToken, body: { title: 'A careless banner', banner: { image_id: careless.id } } });
    check(made.status === 201, `article: ${made.status}`);
    await editor.goto(`${BASE}/admin/images`);
    const cell = editor.locator('.library-cell', { has: editor.locator(`a[href$="/images/${careless.id}"]`) });
    await cell.getByText('Alt text is a placeholder').waitFor();
    await editor.goto(`${BASE}/admin/images/${careless.id}`);
    await editor.getByText('“undefined” is not a description of the image.').waitFor();
    await editor.goto(`${BASE}/admin/articles/${made.json.id}`);
    const note = editor.getByRole('note', { name: 'Before publishing' });
    await note.getByText('The banner: “undefined” is not a description of the image.').waitFor();
    await shot(editor, '15-alt-warning-before-publish');
    // A warning, not a block: publishing still works.
    await editor.getByRole('button', { name: 'Publish', exact: true }).click();
    await editor.getByText('Publish: done.').waitFor();
    check((await api('GET', `/v1/articles/${made.json.id}`)).status === 200, 'not published');
  });

  await step('create an author with an avatar from the library, bio and links; deleting one with articles is explained', async () => {
    await editor.goto(`${BASE}/admin/authors`);
    await editor.getByRole('link', { name: 'New author' }).click();
    await editor.getByLabel('Name', { exact: true }).fill('王旭 Wang Xu');
    await editor.getByLabel('Bio').fill('Drummer of White+, 北京.');
    await editor.getByLabel('Website').fill('https://whiteplus.example');
    await editor.getByRole('button', { name: 'Add a link' }).click();
    await editor.getByLabel('Network').fill('weibo');
    await editor.getByLabel('Profile URL').fill('https://weibo.com/whiteplus');
    await editor.getByRole('button', { name: 'Choose from the library' }).click();
    const dialog = editor.getByRole('dialog', { name: 'Choose a picture' });
    await dialog.getByRole('button', { name: 'Choose The pool at dawn' }).click();
    await editor.locator('.avatar-field img').waitFor();
    await editor.getByRole('button', { name: 'Create author' }).click();
    await editor.getByRole('heading', { name: '王旭 Wang Xu' }).waitFor();
    await shot(editor, '16-author');
    const found = (await api('GET', `/v1/authors?q=${encodeURIComponent('Wang Xu')}`)).json.data;
    check(found.length === 1, `authors named Wang Xu: ${found.length}`);
    const author = found[0];
    check(author.avatar?.id === banner.id, `avatar: ${JSON.stringify(author.avatar)}`);
    check(author.bio === 'Drummer of White+, 北京.' && author.social.weibo === 'https://weibo.com/whiteplus', JSON.stringify(author));
    // On a byline, the author cannot be deleted; the page says why and where.
    const bylined = await api('POST', '/v1/articles', { token: editorToken, body: { title: 'Bye Bye Disco', authors: [{ name: author.name, slug: author.slug }] } });
    check(bylined.status === 201, `bylined: ${bylined.status} ${JSON.stringify(bylined.json)}`);
    await editor.reload();
    await editor.getByRole('button', { name: 'Delete author' }).click();
    await editor.locator('.danger-zone [role=alert]').getByText('Remove 王旭 Wang Xu from those bylines first').waitFor();
    check((await api('GET', `/v1/authors/${author.id}`)).status === 200, 'the author was deleted');
    await editor.goto(`${BASE}/admin/authors`);
    await editor.getByRole('link', { name: '王旭 Wang Xu', exact: true }).waitFor();
    await shot(editor, '17-authors');
  });

  await step('create a tag with a Chinese name, find it by search, and delete it', async () => {
    await editor.goto(`${BASE}/admin/tags`);
    await editor.getByRole('link', { name: 'New tag' }).click();
    await editor.getByLabel('Name', { exact: true }).fill('松弛感');
    await editor.getByLabel('Description').fill('Relaxed, unbothered: 2024’s word.');
    await editor.getByRole('button', { name: 'Create tag' }).click();
    await editor.getByRole('heading', { name: '松弛感' }).waitFor();
    const tag = (await api('GET', '/v1/tags/song-chi-gan')).json;
    check(tag.name === '松弛感' && tag.description === 'Relaxed, unbothered: 2024’s word.', JSON.stringify(tag));
    await editor.goto(`${BASE}/admin/tags`);
    await editor.getByLabel('Search').fill('松弛');
    await editor.getByRole('button', { name: 'Search' }).click();
    await editor.getByText('1 tag', { exact: true }).waitFor();
    await editor.getByRole('link', { name: '松弛感', exact: true }).click();
    await editor.getByText(/takes it off every article that has it/).waitFor();
    await editor.getByRole('button', { name: 'Delete tag' }).click();
    await editor.getByRole('heading', { name: 'Tags' }).waitFor();
    check((await api('GET', '/v1/tags/song-chi-gan')).status === 404, 'the tag is still there');
  });

  const admin = await newPage('admin');
  await signIn(admin, ADMIN.email, ADMIN.password);

  await step('an admin creates a user, changes the role and disables them', async () => {
    await admin.getByRole('link', { name: 'Users' }).click();
    const form = admin.getByRole('form', { name: 'New user' });
    await form.getByLabel('Email').fill('lil.cany@example.com');
    await form.getByLabel('Name').fill('Lil Cany 小叶');
    await form.getByLabel('Role').selectOption('contributor');
    await form.getByLabel('First password').fill('photo-desk-2026');
    await form.getByRole('button', { name: 'Create user' }).click();
    await admin.getByText('Lil Cany 小叶 (lil.cany@example.com) can now sign in as contributor.').waitFor();
    await admin.getByLabel('Role of lil.cany@example.com').selectOption('author');
    await admin.waitForFunction(() => !document.querySelector('select[aria-label="Role of lil.cany@example.com"]')?.disabled);
    await admin.getByRole('button', { name: 'Disable lil.cany@example.com' }).click();
    await admin.getByRole('button', { name: 'Enable lil.cany@example.com' }).waitFor();
    await shot(admin, '18-users');
    // 120 more accounts were seeded (staff-001… sort after everyone else): a hundred at first,
    // the rest on asking.
    await admin.getByText(/^The first 100 of \d+ users, by email\./).waitFor();
    check(!(await admin.getByRole('cell', { name: 'staff-120@example.org', exact: true }).isVisible()), 'all users on the first page');
    await admin.getByRole('button', { name: 'Show more users' }).click();
    await admin.getByRole('cell', { name: 'staff-120@example.org', exact: true }).waitFor();
    check((await admin.locator('tbody tr').count()) > 120, 'the next page did not add its rows');
    check(!(await admin.getByRole('button', { name: 'Show more users' }).isVisible()), 'more after the last page');
    const users = (await api('GET', '/v1/users?limit=100', { token: adminToken })).json.data;
    const made = users.find((u) => u.email === 'lil.cany@example.com');
    check(made?.role === 'author' && made.disabled === true, JSON.stringify(made));
    const login = await api('POST', '/v1/auth/login', { body: { email: 'lil.cany@example.com', password: 'photo-desk-2026' } });
    check(login.status === 401, `a disabled user signed in: ${login.status}`);
  });

  await step('create an API token, see its secret once, and revoke it', async () => {
    await admin.getByRole('link', { name: 'API tokens' }).click();
    const form = admin.getByRole('form', { name: 'New API token' });
    await form.getByLabel('Name').fill('web frontend');
    await form.getByLabel('Role').selectOption('reader');
    await form.getByRole('button', { name: 'Create token' }).click();
    const secret = admin.getByRole('textbox', { name: 'The secret of “web frontend”' });
    const token = await secret.inputValue();
    check(token.startsWith('glt_'), `secret: ${token}`);
    await admin.getByRole('button', { name: 'Copy' }).click();
    await admin.getByText(/^(Copied\.|Copying was refused)/).waitFor();
    await shot(admin, '19-token-secret');
    check((await api('GET', '/v1/me', { token })).status === 200, 'the new token does not work');
    await admin.getByRole('button', { name: 'I have stored it' }).click();
    check(!(await admin.content()).includes(token), 'the secret is still in the page');
    await admin.reload();
    await admin.getByRole('cell', { name: 'web frontend', exact: true }).waitFor();
    check(!(await admin.content()).includes(token), 'the secret came back after a reload');
    await admin.getByRole('button', { name: 'Revoke web frontend' }).click();
    await admin.getByRole('cell', { name: 'web frontend', exact: true }).waitFor({ state: 'detached' });
    check((await api('GET', '/v1/me', { token })).status === 401, 'the revoked token still works');
  });

  await step('create a webhook, see a signed delivery in its log after a publish, redeliver it, rotate the secret', async () => {
    const hook = await receiver();
    try {
      await admin.getByRole('link', { name: 'Webhooks' }).click();
      const form = admin.getByRole('form', { name: 'New webhook' });
      await form.getByLabel('Receiver URL').fill(hook.url);
      await form.getByLabel('Description').fill('Rebuild the site');
      await form.getByRole('button', { name: 'Create webhook' }).click();
      const secret = await admin.getByRole('textbox', { name: `The signing secret of ${hook.url}` }).inputValue();
      check(secret.startsWith('whsec_'), `secret: ${secret}`);
      await admin.getByRole('button', { name: 'I have stored it' }).click();
      const story = await api('POST', '/v1/articles', { token: editorToken, body: { title: '松弛感 goes live', body_markdown: 'Relaxed.' } });
      await api('POST', `/v1/articles/${story.json.id}/publish`, { token: editorToken, body: {} });
      await admin.getByRole('link', { name: hook.url }).click();
      const row = admin.locator('tr.delivery', { hasText: 'article.published' });
      await row.getByRole('cell', { name: 'delivered' }).waitFor({ timeout: 15_000 });
      await shot(admin, '20-webhook-log');
      const sent = hook.received.filter((r) => r.body.includes('"article.published"'));
      check(sent.length === 1, `received ${sent.length} publish events`);
      check(signs(secret, sent[0].headers, sent[0].body), 'the signature does not verify with the secret shown');
      check(JSON.parse(sent[0].body).data.object.title === '松弛感 goes live', sent[0].body);
      await row.getByRole('button', { name: 'Redeliver' }).click();
      await admin.getByText('article.published is queued to be delivered again.').waitFor();
      const deadline = Date.now() + 15_000;
      while (hook.received.filter((r) => r.body.includes('"article.published"')).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const again = hook.received.filter((r) => r.body.includes('"article.published"'));
      check(again.length === 2 && again[1].headers['webhook-id'] === sent[0].headers['webhook-id'], `redelivery: ${again.length}, ids ${again.map((r) => r.headers['webhook-id'])}`);
      await admin.getByRole('button', { name: 'Rotate secret' }).click();
      const rotated = await admin.getByRole('textbox', { name: 'The new signing secret' }).inputValue();
      check(rotated.startsWith('whsec_') && rotated !== secret, 'no new secret');
      await admin.getByText(/the previous secret signs too until/).waitFor();
    } finally {
      hook.close();
    }
  });

  await step('check an import with a broken line, import it with progress, then export', async () => {
    const lines = [
      JSON.stringify({ title: '我的阿勒泰: the series', external_id: 'e2e-1', status: 'published', body_markdown: 'Li Juan’s Altay.' }),
      '{"title": "broken", ',
      JSON.stringify({ title: 'Olympics 奥运 recap', external_id: 'e2e-2', tags: [{ name: 'Olympics' }] }),
    ];
    const file = `${ARTIFACTS}import.ndjson`;
    writeFileSync(file, `${lines.join('\n')}\n`);
    await admin.getByRole('link', { name: 'Import & export' }).click();
    await admin.getByLabel('File').setInputFiles(file);
    check(await admin.getByRole('button', { name: 'Import', exact: true }).isDisabled(), 'import allowed before a check');
    await admin.getByRole('button', { name: 'Check the file (dry run)' }).click();
    const checkReport = admin.getByRole('region', { name: 'Check report' });
    await checkReport.getByText('2 would be created').waitFor();
    const rows = checkReport.locator('tbody tr');
    await rows.first().waitFor();
    const cells = await rows.first().locator('td').allTextContents();
    check((await rows.count()) === 1 && cells[0] === '2' && cells[1] === '400', `failing lines: ${cells}`);
    await shot(admin, '21-import-check');
    const before = await api('GET', '/v1/articles?view=working&q=recap', { token: adminToken });
    check(before.json.meta.total === 0, 'the dry run wrote');
    await admin.getByRole('button', { name: 'Import', exact: true }).click();
    const report = admin.getByRole('region', { name: 'Import report' });
    await report.getByText('2 created').waitFor();
    await report.getByText('1 failed').waitFor();
    await shot(admin, '22-import-done');
    const live = await api('GET', `/v1/articles?q=series`);
    check(live.json.data.some((a) => a.title === '我的阿勒泰: the series'), 'the published line is not live');
    const [download] = await Promise.all([admin.waitForEvent('download'), admin.getByRole('link', { name: 'Download the export (NDJSON)' }).click()]);
    check(/^galley-export-\d{4}-\d{2}-\d{2}\.ndjson$/.test(download.suggestedFilename()), `file name: ${download.suggestedFilename()}`);
    const exported = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    check(exported.some((a) => a.external_id === 'e2e-2' && a.title === 'Olympics 奥运 recap'), 'the export lacks the imported article');
  });

  await step('the new pages pass an accessibility check (WCAG 2 A/AA)', async () => {
    const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    await page.goto(`${BASE}/admin/`);
    await page.getByLabel('Email').fill(ADMIN.email);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Articles' }).waitFor();
    const pages = [
      ['/images', '.library-cell'],
      [`/images/${banner.id}`, '.uses'],
      ['/authors', 'tbody tr'],
      ['/authors/new', '.avatar-field'],
      ['/tags', 'h1'],
      ['/users', 'tbody tr'],
      ['/tokens', 'form'],
      ['/webhooks', 'tbody tr'],
      ['/transfer', 'h2'],
    ];
    for (const [path, ready] of pages) {
      await page.goto(`${BASE}/admin${path}`);
      await page.locator(ready).first().waitFor();
      await page.addScriptTag({ path: new URL('../node_modules/axe-core/axe.min.js', import.meta.url).pathname });
      const result = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }));
      const found = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.length} × ${v.nodes[0]?.target.join(' ')}`);
      check(found.length === 0, `${path}: ${found.join('; ')}`);
    }
    await context.close();
  });
  await admin.close();
}
