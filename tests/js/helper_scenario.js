// msgpush.js in a real browser (Debian's chromium, driven by playwright-core),
// on the example site's notices page (/notices), pushing through msgpushd's
// JSON HTTP API: a token that expires and is renewed, a reload that recovers
// what was pushed meanwhile, an inbox notice acknowledged once, a handler that
// throws (its notice comes back), a room's arrivals and departures, a chat
// line answered by the application, and a re-delivered message shown once.
//   node helper_scenario.js SITE_URL API_URL OUTPUT_DIR
// Each step waits for what the user would see and fails (exit 1) if it does
// not come. Prints one JSON summary line of what the pages showed.
'use strict';
const chromium = require('./chromium');
const path = require('path');

const [site, api, outDir] = process.argv.slice(2);
const WAIT = { timeout: 15000 };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function push(uid, text, extra) {
  const publish = Object.assign({ to: { users: [uid] }, event: 'new_msg', content: { text } }, extra);
  const response = await fetch(`${api}/api/v1`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ publish }),
  });
  const reply = await response.json();
  if (!reply.delivered) throw new Error(`push refused: ${JSON.stringify(reply)}`);
  return reply.delivered;
}

const list = (page, id) => page.$$eval(`#${id} li`, (items) => items.map((li) => li.textContent));
const waitList = (page, id, want) =>
  page.waitForFunction(
    ([id, want]) => JSON.stringify([...document.querySelectorAll(`#${id} li`)].map((li) => li.textContent)) === want,
    [id, JSON.stringify(want)],
    WAIT,
  );
const waitIncludes = (page, id, text) =>
  page.waitForFunction(
    ([id, text]) => [...document.querySelectorAll(`#${id} li`)].some((li) => li.textContent === text),
    [id, text],
    WAIT,
  );
const online = (page) => page.waitForSelector('#status[data-state=online]', WAIT);

async function open(context, uid, ttl) {
  const page = await context.newPage();
  await page.goto(`${site}/notices?uid=${uid}&room=9&ttl=${ttl || 86400}`);
  await online(page);
  return page;
}

(async () => {
  const browser = await chromium.launch();
  const summary = {};
  try {
    // A token of 6 s: renewed before it expires; a reconnect after it expired logs in.
    const tab = await browser.newContext();
    let tokens = 0;
    tab.on('request', (request) => { if (request.url().includes('/token?')) tokens += 1; });
    const page = await open(tab, 'h1', 6);
    await push('h1', 'first');
    await waitList(page, 'notices', ['first']);
    await sleep(7000);
    await page.evaluate(() => client.socket.disconnect());
    await push('h1', 'while away');
    await page.evaluate(() => client.socket.connect());
    await waitList(page, 'notices', ['first', 'while away']);
    summary.tokensFetched = tokens;

    // A reload presents what the tab saw: only what came meanwhile is shown.
    await page.goto('about:blank');
    await push('h1', 'between');
    await page.goto(`${site}/notices?uid=h1&room=9`);
    await online(page);
    await waitIncludes(page, 'notices', 'between');
    await sleep(500);
    summary.afterReload = await list(page, 'notices');

    // An inbox notice, shown and so acknowledged: a new tab does not get it again.
    await push('h1', 'kept once', { keep_secs: 60, history: false });
    await waitIncludes(page, 'notices', 'kept once');
    // A handler that throws: its notice stays in the inbox.
    await page.evaluate(() => client.on('new_msg', (content) => { if (content === 'boom') throw new Error('boom'); }));
    await push('h1', 'boom', { keep_secs: 60, history: false });
    await waitIncludes(page, 'notices', 'boom');
    await sleep(500);
    const later = await open(await browser.newContext(), 'h1');
    await waitIncludes(later, 'notices', 'boom');
    await sleep(500);
    summary.newTabGot = (await list(later, 'notices')).filter((text) => text === 'kept once' || text === 'boom');

    // A message the daemon delivers twice (sent again after its dedup window): shown once.
    await page.evaluate(() => {
      window.delivered = [];
      client.socket.on('new_msg', (content, meta) => delivered.push(meta.id));
    });
    const again = { msg_id: '00000000000000000000000000c0ffee' };
    await push('h1', 'only once', again);
    await waitIncludes(page, 'notices', 'only once');
    await sleep(1500);
    await push('h1', 'only once', again);
    await page.waitForFunction(() => delivered.length === 2, null, WAIT);
    await sleep(200);
    summary.onlyOnce = (await list(page, 'notices')).filter((text) => text === 'only once').length;

    // The room: h2 arrives, chats through the application, and leaves.
    await waitList(page, 'members', ['h1 (you)']);
    const other = await browser.newContext();
    const h2 = await open(other, 'h2');
    await waitList(page, 'members', ['h1 (you)', 'h2']);
    await h2.fill('#say input', 'hello room');
    await h2.click('#say button');
    await waitList(page, 'chat', ['h2: hello room']);
    await h2.waitForFunction(() => document.getElementById('said').textContent !== '', null, WAIT);
    summary.answer = JSON.parse(await h2.textContent('#said'));
    await page.screenshot({ path: path.join(outDir, 'notices-h1.png'), fullPage: true });
    await other.close();
    await waitList(page, 'members', ['h1 (you)']);
    summary.membersAfter = await list(page, 'members');

    process.stdout.write(JSON.stringify(summary) + '\n');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  process.stderr.write(`helper scenario failed: ${e.stack || e}\n`);
  process.exit(1);
});
