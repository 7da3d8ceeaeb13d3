// The article's story in a real browser (Debian's chromium, driven by
// playwright-core): pages served by nginx + php-fpm, msgpushd behind nginx.
//   node browser_scenario.js SITE_URL MSGPUSHD_URL OUTPUT_DIR
// Each step waits for what the user would see and fails (exit 1) if it does
// not come. Prints one JSON summary line of what the pages showed.
'use strict';
const chromium = require('./chromium');
const path = require('path');

const [site, msgpushd, outDir] = process.argv.slice(2);
const ARTICLE = 'Man Always Remember Love Because Of Romance Only';
const WAIT = { timeout: 15000 };

async function push(query) {
  const res = await fetch(`${site}/home/index/pushmsg?${query}`);
  const body = await res.json();
  if (!res.ok) throw new Error(`push ${query} failed: ${JSON.stringify(body)}`);
  return body;
}

const messages = (page) => page.$$eval('#messages li', (items) => items.map((li) => li.textContent));
const waitMessage = (page, text) =>
  page.waitForFunction((t) => [...document.querySelectorAll('#messages li')].some((li) => li.textContent === t), text, WAIT);
const waitCount = (page, text) =>
  page.waitForFunction((t) => document.getElementById('count').textContent === t, text, WAIT);

(async () => {
  const browser = await chromium.launch();
  const summary = {};
  try {
    // User 123 through the site's origin (Socket.IO proxied by nginx).
    const alice = await (await browser.newContext()).newPage();
    await alice.goto(`${site}/?uid=123`);
    await alice.waitForSelector('#status[data-state=online]', WAIT);

    // User 456 in another browser context, connected straight to msgpushd's port.
    const bobContext = await browser.newContext();
    const bob = await bobContext.newPage();
    await bob.goto(`${site}/?uid=456&server=${encodeURIComponent(msgpushd)}`);
    await bob.waitForSelector('#status[data-state=online]', WAIT);
    await waitCount(alice, '当前2人在线，共打开2个页面');

    // Bob's page claims to be 123, as any page could with web-msg-sender: refused.
    await bob.evaluate(() => socket.emit('login', '123'));
    await bob.waitForSelector('#login-error:not(:empty)', WAIT);
    summary.bobClaims123 = await bob.textContent('#login-error');

    // The article's push action, for 123 only.
    summary.push123 = await push('uid=123');
    await waitMessage(alice, ARTICLE);
    summary.push456 = await push('uid=456&text=' + encodeURIComponent('only for bob'));
    await waitMessage(bob, 'only for bob');

    // Markup is shown as text, never run.
    const markup = '<img src=x onerror="document.title=\'owned\'">';
    await push('uid=123&text=' + encodeURIComponent(markup));
    await waitMessage(alice, markup);
    summary.aliceTitle = await alice.title();

    // Everyone.
    summary.broadcast = await push('uid=&text=' + encodeURIComponent('to everyone'));
    await waitMessage(alice, 'to everyone');
    await waitMessage(bob, 'to everyone');
    summary.aliceMessages = await messages(alice);
    summary.bobMessages = await messages(bob);
    await alice.screenshot({ path: path.join(outDir, 'alice-123.png'), fullPage: true });
    await bob.screenshot({ path: path.join(outDir, 'bob-456.png'), fullPage: true });

    // Bob closes his tab: Alice's count goes down.
    await bobContext.close();
    await waitCount(alice, '当前1人在线，共打开1个页面');
    summary.aliceCountAfterClose = await alice.textContent('#count');
    await alice.screenshot({ path: path.join(outDir, 'alice-after-bob-left.png'), fullPage: true });

    // An existing web-msg-sender front end: socket.io-client 2.x.
    const legacy = await (await browser.newContext()).newPage();
    await legacy.goto(`${site}/legacy?uid=789`);
    await legacy.waitForSelector('body[data-online="1"]', WAIT);
    summary.pushLegacy = await push('uid=789&text=' + encodeURIComponent('hello old page'));
    await legacy.waitForFunction(() => document.getElementById('target').textContent.includes('hello old page'), null, WAIT);
    summary.legacyTarget = await legacy.textContent('#target');
    summary.legacyClient = await legacy.evaluate(() => io.protocol);
    await legacy.screenshot({ path: path.join(outDir, 'legacy-789.png'), fullPage: true });

    process.stdout.write(JSON.stringify(summary) + '\n');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  process.stderr.write(`browser scenario failed: ${e.stack || e}\n`);
  process.exit(1);
});
