// Opens the page at <base url>/?follow=true in <tabs> tabs of one headless Chromium (certificate errors ignored: the
// tests' certificate is self-signed) and reports, one JSON line per step:
//   {"step":"opened","live":K,"protocols":[…]}  K tabs showed `live` within <wait ms>; each live tab's protocol (h2, http/1.1)
// then, after the test writes a task and sends "wrote <id> <epoch ms>" on stdin:
//   {"step":"arrived","delays":[…]}             for each live tab, ms from the write to the task in its list (-1: not within 5 s)
//   node followers-test.mjs <base url> <tabs> <wait ms>
import { createInterface } from 'node:readline';
import { recordOffLoopback, run, send } from './browser.mjs';

const [baseUrl, tabCount, waitMs] = process.argv.slice(2);
const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
await run(async (browser) => {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const offLoopback = recordOffLoopback(context);
  const deadline = Date.now() + Number(waitMs);
  const pages = await Promise.all(Array.from({ length: Number(tabCount) }, () => context.newPage()));
  // All tabs at once, as a person opening bookmarks: over HTTP/1.1 the browser holds each host to six connections.
  const live = await Promise.all(pages.map(async (page, tab) => {
    try {
      // An address per tab, so that no tab's page comes from the cache (a cached page reports no protocol).
      await page.goto(new URL(`/?follow=true&tab=${tab}`, baseUrl).toString(), { timeout: Math.max(1, deadline - Date.now()) });
      await page.waitForFunction(() => document.querySelector('#state').dataset.state === 'live', null,
        { timeout: Math.max(1, deadline - Date.now()) });
      return true;
    } catch {
      return false;
    }
  }));
  const livePages = pages.filter((_, i) => live[i]);
  const protocols = await Promise.all(livePages.map((page) =>
    page.evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol)));
  // When each row first appeared, taken as it is added (not when a poll notices it).
  await Promise.all(livePages.map((page) => page.evaluate(() => {
    window.arrivals = {};
    new MutationObserver((changes) => changes.flatMap((c) => [...c.addedNodes])
      .forEach((row) => { window.arrivals[row.dataset?.id] ??= Date.now(); }))
      .observe(document.querySelector('#tasks'), { childList: true });
  })));
  send({ step: 'opened', live: livePages.length, protocols, offLoopback });

  const { value } = await stdin.next();
  const [command, id, writtenAt] = value.trim().split(' ');
  if (command !== 'wrote') throw new Error(`expected "wrote <id> <ms>" on stdin, got ${value}`);
  const delays = await Promise.all(livePages.map(async (page) => {
    try {
      const handle = await page.waitForFunction((taskId) => window.arrivals[taskId], id, { timeout: 5_000 });
      return (await handle.jsonValue()) - Number(writtenAt);
    } catch {
      return -1;
    }
  }));
  send({ step: 'arrived', delays });
}, '--ignore-certificate-errors');
