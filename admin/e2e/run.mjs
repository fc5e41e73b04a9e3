// End-to-end tests of the admin in Debian's Chromium against a real Galley (started by
// tests/api/admin_client.rs on a fresh database). Each step drives the page as an editor
// would and checks the result through the public API. Screenshots go to e2e/artifacts/ (look
// at them; not committed). Any page error or CSP violation fails the run. The steps of the
// writing desk are here; those of the library, people, administration and import in
// library.mjs.
//
//   GALLEY_URL=http://127.0.0.1:PORT ADMIN_EMAIL=… ADMIN_PASSWORD=… node e2e/run.mjs
import { writeFileSync } from 'node:fs';
import { ADMIN, ARTIFACTS, BASE, api, browser, check, finish, newPage, png, shot, signIn, step, tokenFor } from './harness.mjs';
import { libraryAndAdministration } from './library.mjs';

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
  check((await editor.evaluate(() => document.activeElement?.id)) === 'conflict-title', 'the conflict did not take the focus');
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
  await editor.getByText('“undefined” is not a description of the image.', { exact: true }).waitFor();
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
  // The preview shows the page as the public will, and Escape gives the focus back.
  await editor.getByRole('button', { name: 'Preview' }).click();
  const dialog = editor.getByRole('dialog', { name: /Preview/ });
  await dialog.getByText('World record').waitFor();
  check((await dialog.locator('a[href="https://example.com/olympics"]').count()) === 1, 'the preview lost the link');
  for (let i = 0; i < 6; i++) await editor.keyboard.press('Tab');
  check(await dialog.evaluate((d) => d.contains(document.activeElement)), 'Tab left the preview dialog');
  await editor.keyboard.press('Escape');
  check((await editor.getByRole('dialog').count()) === 0, 'Escape did not close the preview');
  check((await editor.evaluate(() => document.activeElement?.textContent)) === 'Preview', 'focus did not return to Preview');
});

await step('paste from a web page and a word processor keeps structure and drops the rest', async () => {
  await editor.goto(`${BASE}/admin/articles/new`);
  await editor.getByLabel('Title', { exact: true }).fill('Pasted 我的阿勒泰');
  const body = editor.getByRole('textbox', { name: 'Body' });
  await body.click();
  const paste = (html) =>
    editor.evaluate((content) => {
      const data = new DataTransfer();
      data.setData('text/html', content);
      data.setData('text/plain', content.replace(/<[^>]+>/g, ''));
      document.querySelector('.body-editor').dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
    }, html);
  await paste(
    '<h2 style="color:red">我的阿勒泰</h2><p class="lead">A <b>bold</b> <span style="font-size:30px">start</span> <a href="javascript:alert(1)">bad</a> <a href="https://example.com/x">good</a></p>' +
      '<script>alert(1)</script><img src="https://tracker.example/p.gif"><table><tr><td>cell</td></tr></table><ul><li>one</li><li>two</li></ul>',
  );
  // Out of the pasted list first, as a writer would.
  await editor.keyboard.press('Enter');
  await editor.keyboard.press('Enter');
  await paste('<p class=MsoNormal><b><span lang=ZH-CN>管静鹏</span></b><span> wrote this.<o:p></o:p></span></p>');
  await editor.waitForURL(/\/admin\/articles\/[0-9a-f-]{36}$/, { timeout: 10_000 });
  await editor.getByText(/^Saved · version/).waitFor({ timeout: 10_000 });
  const id = editor.url().split('/').pop();
  const saved = (await api('GET', `/v1/articles/${id}?view=working`, { token: adminToken })).json.body;
  const types = saved.map((b) => b.type).join(',');
  check(types.startsWith('heading,paragraph'), `blocks: ${types} ${JSON.stringify(saved)}`);
  check(saved[0].level === 2 && saved[0].children[0].text === '我的阿勒泰', JSON.stringify(saved[0]));
  const json = JSON.stringify(saved);
  check(json.includes('"text":"bold","bold":true'), `bold kept: ${json}`);
  check(!json.includes('javascript') && !json.includes('alert') && !json.includes('tracker'), `script, bad link or foreign image kept: ${json}`);
  check(json.includes('"url":"https://example.com/x"'), `good link lost: ${json}`);
  check(saved.some((b) => b.type === 'list' && b.children.length === 2), `list lost: ${types}`);
  check(json.includes('管静鹏') && json.includes(' wrote this.'), `word processor text lost: ${json}`);
  check(saved.some((b) => b.type === 'paragraph' && b.children.some((c) => c.text === '管静鹏' && c.bold)), `word processor bold lost: ${json}`);
});

await step('an invalid block is pointed out on the block itself', async () => {
  await editor.getByRole('textbox', { name: 'Body' }).click();
  await editor.keyboard.press('Control+End');
  editor.nextPrompt = 'https://';
  await editor.getByRole('button', { name: 'Embed', exact: true }).click();
  const message = editor.locator('.block-error-message');
  await message.waitFor({ timeout: 10_000 });
  const text = await message.textContent();
  check(/^Block \d+: url: /.test(text ?? ''), `message: ${text}`);
  check((await editor.locator('.body-editor .block-error').count()) === 1, 'the block is not outlined');
  await shot(editor, '06-block-error');
});

await step('edits made offline are kept in the browser and saved when back', async () => {
  check(written, 'needs the written article');
  const context = editor.context();
  await editor.goto(`${BASE}/admin/articles/${written.id}`);
  await editor.getByLabel('Subtitle').waitFor();
  await context.setOffline(true);
  await editor.getByLabel('Subtitle').fill('Written on the train 火车上');
  await editor.getByText(/^Offline: your edits are kept/).waitFor({ timeout: 10_000 });
  await shot(editor, '06-offline');
  // The tab is closed while offline; the edits stay in this browser.
  await editor.goto('about:blank');
  await context.setOffline(false);
  check((await api('GET', `/v1/articles/${written.id}?view=working`, { token: adminToken })).json.subtitle !== 'Written on the train 火车上', 'saved while offline?');
  await editor.goto(`${BASE}/admin/articles/${written.id}`);
  await editor.getByText('Restored edits kept in this browser that were not saved yet; they save now.').waitFor();
  await editor.getByText(/^Saved · version/).waitFor({ timeout: 10_000 });
  const working = await api('GET', `/v1/articles/${written.id}?view=working`, { token: adminToken });
  check(working.json.subtitle === 'Written on the train 火车上', `subtitle after coming back: ${working.json.subtitle}`);
});

await step('a conflict resolved by taking theirs drops my edit and keeps theirs', async () => {
  check(written, 'needs the written article');
  await editor.goto(`${BASE}/admin/articles/${written.id}`);
  await editor.getByLabel('Excerpt').waitFor();
  const current = await api('GET', `/v1/articles/${written.id}?view=working`, { token: adminToken });
  const theirs = await api('PATCH', `/v1/articles/${written.id}`, {
    token: adminToken,
    headers: { 'if-match': current.headers.get('etag') },
    body: { excerpt: 'Their excerpt, 他们的' },
  });
  check(theirs.status === 200, `their save: ${theirs.status}`);
  await editor.getByLabel('Excerpt').fill('My excerpt');
  await editor.getByRole('alertdialog').waitFor({ timeout: 10_000 });
  await editor.getByRole('button', { name: 'Take theirs (drop my edits)' }).click();
  check((await editor.getByLabel('Excerpt').inputValue()) === 'Their excerpt, 他们的', 'the editor does not show theirs');
  await new Promise((r) => setTimeout(r, 2500));
  const after = await api('GET', `/v1/articles/${written.id}?view=working`, { token: adminToken });
  check(after.json.excerpt === 'Their excerpt, 他们的' && after.json.version === theirs.json.version, `after taking theirs: ${after.json.excerpt} v${after.json.version}`);
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
  await shot(editor, '07-scheduled');
  check((await api('GET', `/v1/articles/${draft.json.id}`)).status === 404, 'live before its time');
  let status = 0;
  for (let i = 0; i < 40 && status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 250));
    status = (await api('GET', `/v1/articles/${draft.json.id}`)).status;
  }
  check(status === 200, 'not live after its time');
});

await step('bulk-archive two articles from the list', async () => {
  const made = [];
  for (const title of ['Bulk one 一', 'Bulk two 二']) {
    made.push((await api('POST', '/v1/articles', { token: adminToken, body: { title, status: 'published' } })).json.id);
  }
  await editor.goto(`${BASE}/admin/?q=Bulk`);
  await editor.getByText('2 articles', { exact: true }).waitFor();
  await editor.getByRole('checkbox', { name: 'Select all on this page' }).check();
  await editor.getByRole('button', { name: 'Archive' }).click();
  await editor.getByText('archive: all 2 done.').waitFor();
  for (const id of made) {
    const after = await api('GET', `/v1/articles/${id}?view=working`, { token: adminToken });
    check(after.json.status === 'archived', `${id}: ${after.json.status}`);
    check((await api('GET', `/v1/articles/${id}`)).status === 404, 'an archived article is still public');
  }
});

await step('leaving with unsaved edits asks first', async () => {
  check(written, 'needs the written article');
  await editor.goto(`${BASE}/admin/articles/${written.id}`);
  await editor.getByLabel('Subtitle').fill('Unsaved for a moment');
  let asked = null;
  editor.once('dialog', (dialog) => {
    asked = dialog.message();
  });
  editor.nextPrompt = undefined;
  await editor.getByRole('link', { name: '← Articles' }).click();
  check(asked?.startsWith('Leave?'), `no question before leaving: ${asked}`);
  await editor.getByRole('heading', { name: 'Articles' }).waitFor();
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
  await shot(page, '08-contributor');
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

await libraryAndAdministration({ adminToken, people, editor });

await step('the list, the editor and sign-in pass an accessibility check (WCAG 2 A/AA)', async () => {
  // axe is injected as a script, which the admin's CSP refuses: this one context bypasses it.
  const context = await browser.newContext({ bypassCSP: true, viewport: { width: 1024, height: 768 } });
  const page = await context.newPage();
  const audit = async (name) => {
    await page.addScriptTag({ path: new URL('../node_modules/axe-core/axe.min.js', import.meta.url).pathname });
    const result = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }));
    check(result.passes.length > 10, `${name}: axe checked almost nothing (${result.passes.length} rules passed)`);
    const found = result.violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.length} × ${v.nodes[0]?.target.join(' ')}`);
    check(found.length === 0, `${name}: ${found.join('; ')}`);
  };
  await page.goto(`${BASE}/admin/`);
  await page.getByRole('button', { name: 'Sign in' }).waitFor();
  await audit('sign-in');
  await page.getByLabel('Email').fill(people.editor.email);
  await page.getByLabel('Password').fill(people.editor.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('tbody tr').first().waitFor();
  await audit('article list');
  await page.locator('tbody tr a.title').first().click();
  await page.getByRole('textbox', { name: 'Body' }).waitFor();
  await audit('editor');
  // Tablet width: the editor's columns stack.
  await page.setViewportSize({ width: 768, height: 1024 });
  await shot(page, '10-tablet-editor');
  await context.close();
});

await step('the page holds no readable credential and sign-out ends the session', async () => {
  const cookies = await editor.evaluate(() => document.cookie);
  check(!cookies.includes('galley_session'), `script can read the session: ${cookies}`);
  await editor.goto(`${BASE}/admin/`);
  await editor.getByRole('button', { name: 'Sign out' }).click();
  await editor.getByText('You have signed out.').waitFor();
  await shot(editor, '09-signed-out');
  const me = await editor.evaluate(async () => (await fetch('/v1/me')).status);
  check(me === 401, `after sign-out /v1/me is ${me}`);
});

await finish();
