// Drives TaskStream's page in Debian's headless Chromium (browser.mjs) and reports what a person would see, one
// JSON line per step on stdout. The .NET test that starts it asserts on those reports and answers on stdin when it
// has stopped or restarted the server.
//
//   node page-test.mjs browse  <base url> <screenshot prefix> [follow]  seed list, filter, (follow: then as the test commands)
//   node page-test.mjs restart <base url> <screenshot prefix>           a stream survives the server stopping and coming back
// Screenshots: <prefix>-desktop.png and <prefix>-phone.png (<prefix>-failure.png when a step failed).
import { createInterface } from 'node:readline';
import { launch, send } from './browser.mjs';

const [mode, baseUrl, shots, option] = process.argv.slice(2);
const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const timeout = 30_000;

async function waitForCommand(expected) {
  const { value, done } = await stdin.next();
  if (done || value.trim() !== expected) throw new Error(`expected "${expected}" on stdin, got ${done ? 'end of input' : value}`);
}

// What the page shows: its status line and its list.
const view = (page) => page.evaluate(() => ({
  state: document.querySelector('#state').dataset.state,
  status: document.querySelector('#status').innerText.replace(/\s+/g, ' ').trim(),
  events: Number(document.querySelector('#event-count').textContent),
  markupInList: document.querySelectorAll('#tasks b, #tasks img, #tasks script').length,
  rows: [...document.querySelectorAll('#tasks > li')].map((li) => ({
    id: Number(li.dataset.id),
    title: li.querySelector('.task-title').textContent,
    completed: li.dataset.completed === 'true',
  })),
  message: [...document.querySelectorAll('.message')].filter((m) => !m.hidden).map((m) => m.textContent).join('\n') || null,
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

  if (option === 'follow') {
    await page.selectOption('#filters select[name="completed"]', '');
    await page.check('#filters input[name="follow"]');
    await stateIs(page, 'live');
    send({ step: 'follow-live', ...(await view(page)) });
    await followCommands(page);
  }

  await screenshots(page);
}

async function screenshots(page) {
  await page.screenshot({ path: `${shots}-desktop.png`, fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.screenshot({ path: `${shots}-phone.png`, fullPage: true });
}

const row = (page, id) => page.locator(`#tasks > li[data-id="${Number(id)}"]`);

// The test drives the rest: it changes tasks (through the API or the form here) and asks what the page shows.
//   wait-row ID TITLE | wait-completed ID true|false | wait-gone ID   wait for the list to show it, then report
//   add TITLE | toggle ID | delete ID | add-empty                    use the page's form and buttons, wait for the list
//   finish                                                           take the screenshots and stop
async function followCommands(page) {
  for (;;) {
    const { value, done } = await stdin.next();
    if (done) throw new Error('stdin closed before "finish"');
    const [command, id, ...rest] = value.trim().split(' ');
    const text = rest.join(' ');
    switch (command) {
      case 'wait-row':
        await row(page, id).filter({ hasText: text }).waitFor({ timeout });
        break;
      case 'wait-completed':
        await page.locator(`#tasks > li[data-id="${Number(id)}"][data-completed="${text}"]`).waitFor({ timeout });
        break;
      case 'wait-gone':
        await row(page, id).waitFor({ state: 'detached', timeout });
        break;
      case 'add': {
        const title = [id, text].join(' ').trim();
        await page.fill('#add input[name="title"]', title);
        await page.fill('#add textarea[name="description"]', 'typed into the page');
        await page.click('#add button[type="submit"]');
        await page.locator('#tasks > li', { hasText: title }).waitFor({ timeout });
        break;
      }
      case 'add-empty':
        // Past the form's own `required` check, so the server's 400 problem must reach the person.
        await page.evaluate(() => document.querySelector('#add').dispatchEvent(new Event('submit', { cancelable: true })));
        await page.waitForFunction(() => !document.querySelector('#add-message').hidden, null, { timeout });
        break;
      case 'toggle': {
        const was = await row(page, id).getAttribute('data-completed');
        await row(page, id).locator('button.toggle').click();
        await page.locator(`#tasks > li[data-id="${Number(id)}"][data-completed="${was !== 'true'}"]`).waitFor({ timeout });
        break;
      }
      case 'delete':
        await row(page, id).locator('button.delete').click();
        await row(page, id).waitFor({ state: 'detached', timeout });
        break;
      case 'finish':
        return;
      default:
        throw new Error(`unknown command: ${value}`);
    }
    send({ step: command, ...(await view(page)) });
  }
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
  await screenshots(page);
}

const browser = await launch();
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
  await page.screenshot({ path: `${shots}-failure.png`, fullPage: true }).catch(() => {});
  send({ step: 'failed', error: String(error?.message ?? error), problems, ...(await view(page).catch(() => ({}))) });
} finally {
  await browser.close();
  process.exit(exitCode);
}
