import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { buildIde } from '../../scripts/build-ide.js';
import { dbLabel } from '../support/db.js';
import { gqlOk, startTestStack, type TestStack } from '../support/stack.js';

// Debian's chromium (.ci/run installs it); another build can be named here.
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_BROWSER = existsSync(CHROMIUM);
const IN_CI = process.env.CI === 'true';

// Without a browser the test is skipped with one visible line, except in CI, where it must never stop running silently.
if (!HAVE_BROWSER && !IN_CI) {
  process.stderr.write(`browser-ide.test.ts: SKIPPED, no browser at ${CHROMIUM} (install Debian's chromium or set CHROMIUM_PATH)\n`);
}
const describeWithBrowser = HAVE_BROWSER ? describe : describe.skip;

if (!HAVE_BROWSER && IN_CI) {
  test('CI has the browser the IDE test needs', () => {
    throw new Error(`CI=true and no browser at ${CHROMIUM}: .ci/run must install chromium (or set CHROMIUM_PATH)`);
  });
}

/** Replaces the query editor's text by typing, as a person would (CodeMirror closes the braces itself). */
async function typeQuery(page: Page, opening: string): Promise<void> {
  await page.click('.graphiql-query-editor .CodeMirror');
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type(opening);
}

const responseText = (page: Page) => page.locator('.graphiql-response .CodeMirror-code').innerText();

async function runAndWaitFor(page: Page, text: string): Promise<string> {
  await page.click('.graphiql-execute-button');
  await page.waitForFunction((t) => document.querySelector('.graphiql-response')?.textContent?.includes(t), text, { timeout: 30_000 });
  return responseText(page);
}

describeWithBrowser(`the GraphQL IDE in a browser (${dbLabel()})`, () => {
  let stack: TestStack;
  let browser: Browser;
  let origin: string;

  beforeAll(async () => {
    // The page must work from the bundle the build makes now, not from a stale one.
    await buildIde();
    stack = await startTestStack();
    origin = new URL(stack.gateway.url).origin;
    const issuer = await stack.token('issuer-co', ['ISSUER_AGENT']);
    await gqlOk(stack.gateway.url, issuer, 'mutation { registerInvestor(input: { idempotencyKey: "ide-1", legalName: "Jane Doe", type: INDIVIDUAL, jurisdiction: "US", usPerson: true }) { id } }');
    await gqlOk(stack.gateway.url, await stack.token('globex', ['ISSUER_AGENT']), 'mutation { registerInvestor(input: { idempotencyKey: "ide-2", legalName: "Otto Other", type: INDIVIDUAL, jurisdiction: "DE", usPerson: false }) { id } }');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  test('opens from the gateway root, runs a query with a picked dev token and shows that organisation\'s data, loading nothing from elsewhere', async () => {
    const page = await browser.newPage();
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    try {
      await page.goto(`${origin}/`);
      expect(page.url()).toBe(`${origin}/ide`);
      await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: 30_000 });

      const options = await page.locator('#dev-token option').allInnerTexts();
      expect(options).toEqual(expect.arrayContaining(['issuer agent (org issuer-co)', 'broker-dealer (org broker-co)', 'auditor (org issuer-co)']));
      await page.selectOption('#dev-token', { label: 'issuer agent (org issuer-co)' });
      // The pick shows up as the Authorization header, where a developer can read and change it.
      await page.waitForFunction(() => document.querySelector('.graphiql-editor-tool')?.textContent?.includes('Bearer ey'), undefined, { timeout: 10_000 });

      await typeQuery(page, '{ investors { legalName jurisdiction');
      const shown = await runAndWaitFor(page, 'Jane Doe');
      expect(JSON.parse(shown.replace(/\u00a0/g, ' '))).toEqual({ data: { investors: [{ legalName: 'Jane Doe', jurisdiction: 'US' }] } });

      // Without a token the same query is refused: the picked token is what authenticated it.
      await page.selectOption('#dev-token', { label: 'none (set Authorization in Headers)' });
      expect(await runAndWaitFor(page, 'UNAUTHENTICATED')).not.toContain('Jane Doe');

      expect(problems).toEqual([]);
      expect(requested.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith('data:'))).toEqual([]);
      expect(requested).toEqual(expect.arrayContaining([`${origin}/ide/ide.js`, `${origin}/ide/ide.css`, `${origin}/graphql`]));
    } finally {
      await page.close();
    }
  }, 120_000);
});
