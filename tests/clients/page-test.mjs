// Drives TaskStream's page in Debian's headless Chromium (playwright-core; the browser comes from apt, not from
// `npx playwright install`) and reports what a person would see, one JSON line per step on stdout. The .NET
// test that starts it asserts on those reports and answers on stdin when it has stopped or restarted the server.
//
//   node page-test.mjs browse  <base url> <artifact dir> [writes]  seed list, filter, (writes: add/toggle/delete in follow mode)
//   node page-test.mjs restart <base url> <artifact dir>           a stream survives the server stopping and coming back
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [mode, baseUrl, artifacts, option] = process.argv.slice(2);
const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const timeout = 30_000;

const send = (message) => console.log(JSON.stringify(message));

async function waitForCommand(expected) {
  const { value, done } = await stdin.next();
  if (done || value.trim() !== expected) throw new Error(`expected "${expected}" on stdin, got ${done ? 'end of input' : value}`);
}

// What the page shows: its status line and its list.
const view = (page) => page.evaluate(() => ({
  state: document.querySelector('#state').dataset.state,
  status: document.querySelector('#status').innerText.replace(/\s+/g, ' ').trim(),
  events: Number(document.querySelector('#event-count').textContent),
  rows: [...document.querySelectorAll('#tasks > li')].map((li) => ({
    id: Number(li.dataset.id),
    title: li.querySelector('.task-title').textContent,
    completed: li.dataset.completed === 'true',
  })),
  message: document.querySelector('#message').hidden ? null : document.querySelector('#message').textContent,
  url: location.pathname + location.search,
}));

const stateIs = (page, state) =>
  page.waitForFunction((s) => document.querySelector('#state').dataset.state === s, state, { timeout });

// Every state the status line passes through, in order (installed once the page has loaded).
const recordStates = (page) => page.evaluate(() => {
  const state = document.querySelector('#state');
  window.seenStates = [state.dataset.state];
  new MutationObserver(() => {
    if (window.seenStates.at(-1) !== state.dataset.state) window.seenStates.push(state.dataset.state);
  }).observe(state, { attributes: true, attributeFilter: ['data-state'] });
});

async function browse(page) {
  await page.goto(baseUrl);
  await stateIs(page, 'ended');
  send({ step: 'seed', ...(await view(page)) });

  await page.selectOption('#filters select[name="completed"]', 'true');
  await page.waitForFunction(() => location.search.includes('completed=true'), null, { timeout });
  await stateIs(page, 'ended');
  send({ step: 'completed-true', ...(await view(page)) });

  if (option === 'writes') {
    await page.selectOption('#filters select[name="completed"]', '');
    await page.check('#filters input[name="follow"]');
    await stateIs(page, 'live');
    send({ step: 'follow-live', ...(await view(page)) });

    const title = 'Added from the <b>page</b> & "browser"';
    await page.fill('#add input[name="title"]', title);
    await page.fill('#add textarea[name="description"]', 'typed into the form');
    await page.click('#add button[type="submit"]');
    const row = page.locator('#tasks > li', { hasText: 'Added from the' });
    await row.waitFor({ timeout });
    send({ step: 'added', ...(await view(page)) });

    await row.locator('button.toggle').click();
    await page.waitForFunction(() => [...document.querySelectorAll('#tasks > li')]
      .some((li) => li.textContent.includes('Added from the') && li.dataset.completed === 'true'), null, { timeout });
    send({ step: 'toggled', ...(await view(page)) });

    await row.locator('button.delete').click();
    await row.waitFor({ state: 'detached', timeout });
    send({ step: 'deleted', ...(await view(page)) });

    // An empty title, past the form's own `required` check: the server's 400 problem must reach the person.
    await page.evaluate(() => document.querySelector('#add').dispatchEvent(new Event('submit', { cancelable: true })));
    await page.waitForFunction(() => !document.querySelector('#message').hidden, null, { timeout });
    send({ step: 'rejected', ...(await view(page)) });
  }

  await page.screenshot({ path: `${artifacts}/page-desktop.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${artifacts}/page-phone.png`, fullPage: true });
}

async function restart(page) {
  await page.goto(baseUrl);
  await recordStates(page);
  await page.locator('#tasks > li').first().waitFor({ timeout });
  send({ step: 'stop-server', ...(await view(page)) });
  await waitForCommand('stopped');

  await stateIs(page, 'reconnecting');
  send({ step: 'reconnecting', ...(await view(page)) });
  await waitForCommand('restarted');

  await stateIs(page, 'ended');
  send({ step: 'resumed', states: await page.evaluate(() => window.seenStates), ...(await view(page)) });
  await page.screenshot({ path: `${artifacts}/page-restart.png`, fullPage: true });
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
// Script errors only: the console also reports refused connections and 4xx answers, which some steps cause on purpose.
const problems = [];
page.on('pageerror', (error) => problems.push(error.message));

let exitCode = 0;
try {
  await (mode === 'restart' ? restart(page) : browse(page));
  send({ step: 'done', problems });
} catch (error) {
  exitCode = 1;
  await page.screenshot({ path: `${artifacts}/page-${mode}-failure.png`, fullPage: true }).catch(() => {});
  send({ step: 'failed', error: String(error?.message ?? error), problems, ...(await view(page).catch(() => ({}))) });
} finally {
  await browser.close();
  process.exit(exitCode);
}
