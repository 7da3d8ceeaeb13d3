// The status page in a real browser (Debian's chromium, driven by
// playwright-core): opens it, saves a screenshot, and prints one JSON line
// of the figures it shows.
//   node status_page.js STATUS_URL SCREENSHOT_PATH
'use strict';
const chromium = require('./chromium');

const [url, screenshot] = process.argv.slice(2);

(async () => {
  const browser = await chromium.launch();
  try {
    const page = await browser.newPage({ viewport: { width: 1000, height: 720 } });
    const requests = [];
    page.on('request', (request) => requests.push(request.url()));
    const response = await page.goto(url);
    await page.waitForSelector('#chart polyline', { timeout: 15000 });
    await page.screenshot({ path: screenshot, fullPage: true });
    const text = (id) => page.$eval(`#${id}`, (e) => e.textContent).catch(() => null);
    const figures = {
      status: response.status(),
      title: await page.title(),
      requests,
      points: await page.$eval('#chart polyline', (e) => e.getAttribute('points').trim().split(/\s+/).length),
    };
    for (const id of ['uptime', 'sockets', 'users', 'pushes-per-sec', 'pushes', 'dropped', 'memory', 'redis']) {
      figures[id] = await text(id);
    }
    process.stdout.write(JSON.stringify(figures) + '\n');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
