// What the browser tests share: Debian's headless Chromium through playwright-core (the browser comes from apt,
// not from `npx playwright install`), and a record of every request it makes that leaves loopback.
import { chromium } from 'playwright-core';

export const launch = (...extraArgs) => chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
});

const loopback = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The URLs of every request the context's pages make to a host other than loopback (data: and blob: are not requests). */
export function recordOffLoopback(context) {
  const urls = [];
  context.on('request', (request) => {
    const url = new URL(request.url());
    if (['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol) && !loopback.has(url.hostname)) urls.push(request.url());
  });
  return urls;
}

/** Content-Security-Policy violations in the context's pages (what the page tried and its policy refused). */
export async function recordPolicyViolations(context) {
  const violations = [];
  await context.exposeFunction('reportPolicyViolation', (text) => violations.push(text));
  await context.addInitScript(() => document.addEventListener('securitypolicyviolation',
    (e) => window.reportPolicyViolation(`${e.violatedDirective} ${e.blockedURI}`)));
  return violations;
}

export const send = (message) => console.log(JSON.stringify(message));

/** Runs a test's steps with a browser: a step that throws is reported as {"step":"failed"}; exits 0 or 1 once the browser is closed. */
export async function run(steps, ...extraArgs) {
  const browser = await launch(...extraArgs);
  let exitCode = 0;
  try {
    await steps(browser);
  } catch (error) {
    exitCode = 1;
    send({ step: 'failed', error: String(error?.message ?? error) });
  } finally {
    await browser.close();
    process.exit(exitCode);
  }
}
