// Opens the page at <base url>, follows its link to the API reference (/docs) in headless Chromium and reports, as one
// JSON line, what it shows: {"step":"rendered","url":…,"title":…,"text":<the visible text>,"offLoopback":[…],"violations":[…],"problems":[…]}.
//   node docs-test.mjs <base url> <screenshot path>
import { recordOffLoopback, recordPolicyViolations, run, send } from './browser.mjs';

const [baseUrl, shot] = process.argv.slice(2);
await run(async (browser) => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const offLoopback = recordOffLoopback(context);
  const violations = await recordPolicyViolations(context);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(error.message));

  await page.goto(baseUrl);
  await page.click('#api-reference');
  // Rendered: Scalar has read the document and shows its operations.
  await page.getByText('Stream tasks as server-sent events').first().waitFor({ timeout: 30_000 });
  await page.waitForLoadState('networkidle');
  await page.screenshot({ path: shot });
  send({
    step: 'rendered',
    url: new URL(page.url()).pathname,
    title: await page.title(),
    text: await page.evaluate(() => document.body.innerText),
    offLoopback,
    violations,
    problems,
  });
});
