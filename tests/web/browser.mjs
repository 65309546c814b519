// SPDX-License-Identifier: MIT
// The page as a user sees it, in headless Debian Chromium driven by playwright-core:
//   node browser.mjs URL SCREENSHOT.png
// Opens a TCP listener of its own (this node process holds it), types its port into the filter,
// sees its row (with command line, CPU and memory when the daemon sends them), closes it and sees
// the row go and the history grow without a reload. Exit status 0 when everything was seen.
import { chromium } from 'playwright-core';
import net from 'node:net';

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error('usage: node browser.mjs URL SCREENSHOT.png');
  process.exit(2);
}
const timeout = 20000;

// Polls a condition (the page's CSP forbids the eval that page.waitForFunction needs).
async function until(condition, what) {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for ' + what);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const server = net.createServer((socket) => socket.end());
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = server.address().port;
console.log(`listening on ${port} as pid ${process.pid}`);

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
let failed = false;
try {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on('console', (m) => console.log('page:', m.type(), m.text()));
  page.on('pageerror', (e) => { console.error('page error:', e.message); failed = true; });
  await page.goto(url);
  // The token moved from the address's fragment into sessionStorage; the address bar is clean.
  if (page.url().includes('token=')) throw new Error('token still in the address: ' + page.url());
  await page.locator('#live.on').waitFor({ timeout });
  await page.evaluate(() => { window.notReloaded = true; });

  // Keyboard: the port filter is reachable and labelled.
  await page.getByRole('textbox', { name: 'Port', exact: true }).first().focus();
  if (await page.evaluate(() => document.activeElement.id) !== 'ports-port') throw new Error('Port filter not focused');
  await page.keyboard.type(String(port));
  const portsRows = page.locator('#ports-table tbody tr:not(.group)');
  await portsRows.filter({ hasText: `:${port}` }).first().waitFor({ timeout });
  await until(() => page.evaluate((p) => [...document.querySelectorAll('#ports-table tbody tr:not(.group)')]
    .every((tr) => tr.textContent.includes(`:${p}`)), port), 'the ports filtered by the port');
  const row = portsRows.filter({ hasText: `:${port}` }).first();
  const rowText = await row.innerText();
  if (!rowText.includes(String(process.pid)) || !rowText.includes('node'))
    throw new Error('the row does not show this process: ' + rowText);
  const headings = await page.locator('#ports-table thead th').allInnerTexts();
  console.log('columns:', headings.join(' | '));
  for (const optional of ['Command line', 'CPU', 'Memory']) {
    if (headings.some((h) => h.startsWith(optional))) {
      if (optional === 'Command line' && !rowText.includes('browser.mjs'))
        throw new Error('command line column without the command line: ' + rowText);
      console.log(`${optional}: shown`);
    } else {
      console.log(`${optional}: not sent by this porteyed; column hidden`);
    }
  }

  // History for this port: the open is there; filter by the same port.
  await page.locator('#history-port').fill(String(port));
  const historyRows = page.locator('#history-table tbody tr:not(.group)').filter({ hasText: `:${port}` });
  await historyRows.filter({ hasText: 'opened' }).first().waitFor({ timeout });
  await until(() => page.evaluate((p) => [...document.querySelectorAll('#history-table tbody tr:not(.group)')]
    .every((tr) => tr.textContent.includes(`:${p}`)), port), 'the history filtered by the port');
  const before = await historyRows.count();

  // Sorting by keyboard: focus a heading button and press Enter.
  await page.locator('#ports-table thead button', { hasText: 'PID' }).focus();
  await page.keyboard.press('Enter');
  if (await page.locator('#ports-table thead th[aria-sort="ascending"]').count() !== 1)
    throw new Error('sorting by PID did not mark the column');

  await page.screenshot({ path: screenshot, fullPage: false });

  // Close the listener: the row goes and the history grows, live.
  await new Promise((resolve) => server.close(resolve));
  await portsRows.filter({ hasText: `:${port}` }).first().waitFor({ state: 'detached', timeout });
  await historyRows.filter({ hasText: 'closed' }).first().waitFor({ timeout });
  const after = await historyRows.count();
  if (after <= before) throw new Error(`history did not grow: ${before} -> ${after}`);
  if (!(await page.evaluate(() => window.notReloaded === true))) throw new Error('the page was reloaded');
  console.log(`row gone, history ${before} -> ${after} rows, no reload`);
} catch (e) {
  console.error('FAILED:', e.message);
  failed = true;
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
