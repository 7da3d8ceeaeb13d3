// The article's page in Debian's chromium (driven by playwright-core), once
// per variant: a socket.io client version, a login (uid or token), and a
// transport (the default, or polling only because websockets are blocked,
// as behind a proxy that refuses them). Each page must connect, log in,
// show the online count, and show the message the article's PHP action
// pushes to it.
//   node article_matrix.js SITE_URL OUTPUT_DIR VARIANTS_JSON
// VARIANTS_JSON: [{"name", "page", "uid", "api", "polling"}...]
// Prints one JSON line: by variant name, what its page showed.
'use strict';
const chromium = require('./chromium');
const path = require('path');

const [site, outDir, variantsJson] = process.argv.slice(2);
const ARTICLE = 'Man Always Remember Love Because Of Romance Only';
const WAIT = { timeout: 15000 };

async function visit(browser, variant) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const seen = { errors: [], websocketFrames: 0 };
  page.on('pageerror', (e) => seen.errors.push(String(e)));
  page.on('websocket', (ws) => ws.on('framereceived', () => { seen.websocketFrames += 1; }));
  if (variant.polling) {
    // A proxy that refuses websockets: the client stays on long-polling.
    await page.routeWebSocket(/.*/, (ws) => ws.close());
  }
  try {
    await page.goto(site + variant.page);
    await page.waitForFunction(() => document.getElementById('count').textContent.includes('当前1人在线'), null, WAIT);
    seen.count = await page.textContent('#count');
    const pushed = await fetch(`${site}/pushmsg.php?uid=${encodeURIComponent(variant.uid)}&api=${variant.api}`);
    seen.pushAnswer = await pushed.text();
    await page.waitForFunction((t) => document.getElementById('target').textContent.includes(t), ARTICLE, WAIT);
    seen.target = await page.textContent('#target');
    await page.screenshot({ path: path.join(outDir, variant.name + '.png') });
  } catch (e) {
    seen.failure = String(e.message || e).split('\n')[0];
    seen.count = seen.count || (await page.textContent('#count').catch(() => null));
  } finally {
    await context.close();
  }
  return seen;
}

(async () => {
  const browser = await chromium.launch();
  const summary = {};
  try {
    // One page at a time: every page logs in as the article's uid 123.
    for (const variant of JSON.parse(variantsJson)) summary[variant.name] = await visit(browser, variant);
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(summary) + '\n');
})().catch((e) => {
  process.stderr.write(`article matrix failed: ${e.stack || e}\n`);
  process.exit(1);
});
