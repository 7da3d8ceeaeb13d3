// msgpushd's demo page in chromium: two tabs log in, one pushes through the
// form, the other shows the message.
//   node demo_scenario.js MSGPUSHD_URL OUTPUT_DIR
'use strict';
const chromium = require('./chromium');
const path = require('path');

const [daemon, outDir] = process.argv.slice(2);
const WAIT = { timeout: 15000 };

(async () => {
  const browser = await chromium.launch();
  try {
    const open = async (uid) => {
      const page = await (await browser.newContext()).newPage();
      await page.goto(daemon + '/');
      await page.waitForSelector('#status:text("connected")', WAIT);
      await page.fill('#uid', uid);
      await page.click('#login-form button');
      await page.waitForFunction(() => document.getElementById('count').textContent.length > 0, null, WAIT);
      return page;
    };
    const receiver = await open('alice');
    const sender = await open('bob');
    await sender.fill('#to', 'alice');
    await sender.fill('#content', 'typed into the form');
    await sender.click('#push-form button');
    await sender.waitForSelector('#push-result:text("reached 1 tab(s)")', WAIT);
    await receiver.waitForSelector('#messages li:text("typed into the form")', WAIT);
    const senderGotIt = await sender.$$eval('#messages li', (items) => items.length);
    await receiver.screenshot({ path: path.join(outDir, 'demo-receiver.png') });
    await sender.screenshot({ path: path.join(outDir, 'demo-sender.png') });
    process.stdout.write(JSON.stringify({ senderGotIt, result: await sender.textContent('#push-result') }) + '\n');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  process.stderr.write(`demo scenario failed: ${e.stack || e}\n`);
  process.exit(1);
});
