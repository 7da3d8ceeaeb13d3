// The example site's chat room in a real browser (Debian's chromium, driven
// by playwright-core): a group by the page's login token, who is here, who
// arrives and leaves, messages to the room but not to the sender.
//   node room_scenario.js SITE_URL OUTPUT_DIR
// Each step waits for what the user would see and fails (exit 1) if it does
// not come. Prints one JSON summary line of what the pages showed.
'use strict';
const chromium = require('./chromium');
const path = require('path');

const [site, outDir] = process.argv.slice(2);
const WAIT = { timeout: 15000 };

const texts = (page, list) => page.$$eval(`#${list} li`, (items) => items.map((li) => li.textContent));
const waitFor = (page, list, want) =>
  page.waitForFunction(
    ([list, want]) => JSON.stringify([...document.querySelectorAll(`#${list} li`)].map((li) => li.textContent)) === want,
    [list, JSON.stringify(want)],
    WAIT,
  );

async function open(browser, uid, room) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${site}/room?uid=${uid}&room=${room}`);
  await page.waitForSelector('#status[data-state=online]', WAIT);
  return { context, page };
}

async function say(page, text) {
  await page.fill('#say input', text);
  await page.click('#say button');
}

(async () => {
  const browser = await chromium.launch();
  const summary = {};
  try {
    const alice = await open(browser, '123', '7');
    await waitFor(alice.page, 'members', ['123 (you)']);
    // Every announcement alice's page hears, besides what it shows.
    await alice.page.evaluate(() => {
      window.heard = [];
      socket.on('msgpush:joined', (who) => heard.push(`joined ${who.group} ${who.uid}`));
      socket.on('msgpush:left', (who) => heard.push(`left ${who.group} ${who.uid}`));
    });
    const bob = await open(browser, '456', '7');
    const carol = await open(browser, '789', '8');
    // Each page learnt who was there; alice's was told bob arrived.
    await waitFor(alice.page, 'members', ['123 (you)', '456']);
    summary.bobSees = await texts(bob.page, 'members');
    summary.carolSees = await texts(carol.page, 'members');

    // Bob speaks: alice's page gets it from msgpushd, bob's shows its own once, carol's room nothing.
    await say(bob.page, 'hello room 7');
    await waitFor(alice.page, 'messages', ['456: hello room 7']);
    await waitFor(bob.page, 'messages', ['456: hello room 7']);
    await say(carol.page, 'hello room 8');
    await waitFor(carol.page, 'messages', ['789: hello room 8']);
    await say(alice.page, 'hi bob');
    await waitFor(bob.page, 'messages', ['456: hello room 7', '123: hi bob']);
    summary.aliceMessages = await texts(alice.page, 'messages');
    summary.carolMessages = await texts(carol.page, 'messages');
    await alice.page.screenshot({ path: path.join(outDir, 'room-7-alice.png'), fullPage: true });

    // A reload of bob's page is no departure; closing it is, once the grace ends.
    await bob.page.reload();
    await bob.page.waitForSelector('#status[data-state=online]', WAIT);
    summary.bobSeesAfterReload = await texts(bob.page, 'members');
    await bob.context.close();
    await waitFor(alice.page, 'members', ['123 (you)']);
    summary.aliceHeard = await alice.page.evaluate(() => heard);
    await alice.page.screenshot({ path: path.join(outDir, 'room-7-after-bob-left.png'), fullPage: true });

    process.stdout.write(JSON.stringify(summary) + '\n');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  process.stderr.write(`room scenario failed: ${e.stack || e}\n`);
  process.exit(1);
});
