import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentIdempotencyKey } from '../../providers/payment-provider';
import type { Pool } from '../../lib/db/pool';
import { PROJECT_ROOT } from '../../lib/paths';
import { browserOrReport, launchChromium } from '../support/browser';
import { freshProduct, testPool } from '../support/db';
import { call } from '../support/http';
import { startStack, waitFor, type Stack } from '../support/stack';

/**
 * The console at GET / in a real Chromium, against real API and worker processes:
 * what a person sees when an order completes, is declined, is cancelled during a
 * slow charge, and what one caller sees of another's orders.
 */

const executable = browserOrReport('test/e2e/console.e2e.test.ts');
const SHOTS = path.join(PROJECT_ROOT, '.data', 'test', 'screenshots');
const KEYS = 'alice=alice-key,bob=bob-key,ops:admin=ops-key';

let pool: Pool;
let browser: Browser;
let open: Stack; // a 7 s charge, as in slow-provider.e2e: a click on Cancel surely lands while it runs
let keyed: Stack;
const customer = `c-console-${Date.now().toString(36)}`;

describe.skipIf(!executable)('the order console in Chromium', () => {
  beforeAll(async () => {
    pool = testPool();
    [open, keyed, browser] = await Promise.all([
      startStack('console', { INVENTORY_LATENCY_MS: '50', PAYMENT_LATENCY_MS: '7000', NOTIFY_LATENCY_MS: '50' }),
      startStack('console-keyed', { API_KEYS: KEYS }),
      launchChromium(executable!),
    ]);
  });

  afterAll(async () => {
    await browser?.close();
    await Promise.all([open?.stop(), keyed?.stop()]);
    await pool?.end();
  });

  const pageAt = async (stack: Stack, context?: BrowserContext): Promise<Page> => {
    const page = await (context ?? (await browser.newContext())).newPage();
    page.on('pageerror', (err) => process.stderr.write(`[console page error] ${err.message}\n`));
    await page.goto(`${stack.baseUrl}/`);
    return page;
  };

  /** Fills the form as a person would, and returns the id the console reports. */
  async function placeOrder(page: Page, productId: string, paymentMethod = 'pm_card_visa', who = customer): Promise<string> {
    await page.getByLabel('Customer', { exact: true }).fill(who);
    await page.getByLabel('Product', { exact: true }).selectOption(productId);
    await page.getByLabel('Quantity', { exact: true }).fill('1');
    await page.getByLabel('Payment method', { exact: true }).selectOption(paymentMethod);
    await page.getByRole('button', { name: 'Place order' }).click();
    const result = page.locator('#place-result');
    await result.getByText(/Accepted \(202\)/).waitFor();
    const id = await result.getByRole('link').textContent();
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    return id!;
  }

  /** The order's row in the orders table, once it shows `text` (its status word, a reason). */
  const rowOf = (page: Page, orderId: string) => page.getByRole('row').filter({ hasText: orderId });
  async function untilRowShows(page: Page, orderId: string, ...texts: string[]): Promise<void> {
    let row = rowOf(page, orderId);
    for (const text of texts) row = row.filter({ hasText: text });
    await row.waitFor({ timeout: 30_000 });
  }

  it('places an order and sees it reach COMPLETED, with its history', async () => {
    const product = await freshProduct(pool, { name: 'Console kettle', stock: 5, priceCents: 2500 });
    const page = await pageAt(open);
    const orderId = await placeOrder(page, product.id);
    await untilRowShows(page, orderId, 'COMPLETED');

    await rowOf(page, orderId).getByRole('link', { name: orderId }).click();
    await page.getByRole('heading', { name: `Order ${orderId}` }).waitFor();
    const history = page.locator('ol.history');
    await history.getByText('COMPLETED', { exact: true }).waitFor();
    expect(await history.locator('.status').allTextContents()).toEqual(['PENDING', 'RESERVED', 'PAID', 'COMPLETED']);
    expect(await page.getByRole('button', { name: 'Cancel order' }).isVisible()).toBe(false);

    const api = (await call(open.baseUrl, 'GET', `/api/orders/${orderId}`)).body;
    expect(api.history.map((h: { status: string }) => h.status)).toEqual(['PENDING', 'RESERVED', 'PAID', 'COMPLETED']);
    await page.context().close();
  });

  it('the declined card shows FAILED / PAYMENT_DECLINED', async () => {
    const product = await freshProduct(pool, { name: 'Console teapot', stock: 5, priceCents: 1800 });
    const page = await pageAt(open);
    const orderId = await placeOrder(page, product.id, 'pm_card_chargeDeclined');
    await untilRowShows(page, orderId, 'FAILED', 'PAYMENT_DECLINED');
    await page.context().close();
  });

  it('cancels an order during a slow charge: CANCELLED, nothing charged', async () => {
    const product = await freshProduct(pool, { name: 'Console mug', stock: 5, priceCents: 900 });
    const page = await pageAt(open);
    const orderId = await placeOrder(page, product.id);
    await page.locator('#place-result').getByRole('link', { name: orderId }).click();
    await page.locator('#order-body .facts').getByText('RESERVED', { exact: true }).waitFor({ timeout: 15_000 });
    await page.getByRole('button', { name: 'Cancel order' }).click();
    await page.locator('#order-action-result').getByText(/Cancel accepted \(202\)/).waitFor();
    await page.locator('#order-body .facts').getByText('CANCELLED', { exact: true }).waitFor({ timeout: 30_000 });
    await page.locator('#order-body .facts').getByText('0.00', { exact: true }).first().waitFor();
    expect(await page.getByRole('button', { name: 'Cancel order' }).isVisible()).toBe(false);

    const api = (await call(open.baseUrl, 'GET', `/api/orders/${orderId}`)).body;
    expect(api).toMatchObject({ status: 'CANCELLED', failureReason: 'CANCELLED_BY_CUSTOMER', payment: { chargedCents: 0, refundedCents: 0 } });
    const provider = await pool.query<{ status: string }>(`SELECT status FROM simulated_provider.charges WHERE idempotency_key = $1`, [
      paymentIdempotencyKey({ orderId, attempt: 1 }),
    ]);
    expect(provider.rows[0]?.status).toBe('CANCELED');

    // The orders view with the three orders of this file: the README's screenshot.
    await page.getByRole('link', { name: 'Orders', exact: true }).click();
    await page.getByLabel('Show orders of').fill(customer);
    await untilRowShows(page, orderId, 'CANCELLED');
    const rows = page.locator('#orders-table tbody tr');
    await waitFor('the three orders of this file alone', async () => ((await rows.count()) === 3 ? true : undefined));
    for (const text of ['COMPLETED', 'PAYMENT_DECLINED', 'CANCELLED']) await rows.filter({ hasText: text }).waitFor();
    await page.getByLabel('Show orders of').blur();
    await screenshot(page, 'console.png', { width: 1100, height: 900 });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('heading', { name: 'Orders', exact: true }).scrollIntoViewIfNeeded();
    await page.evaluate('window.scrollTo(0, document.getElementById("orders-heading").offsetTop - 8)');
    await screenshot(page, 'console-phone.png', { width: 390, height: 844 });
    await page.context().close();
  });

  it('with API_KEYS, asks for a key and shows each caller only its own orders; an admin sees all', async () => {
    const product = await freshProduct(pool, { name: 'Console spoon', stock: 10, priceCents: 300 });
    const signIn = async (key: string) => {
      const page = await pageAt(keyed);
      await page.getByLabel('API key').fill(key);
      await page.getByRole('button', { name: 'Use this key' }).click();
      await page.getByRole('button', { name: 'Place order' }).waitFor();
      return page;
    };
    const alice = await signIn('alice-key');
    const aliceOrder = await placeOrder(alice, product.id, 'pm_card_visa', 'c-alice');
    await untilRowShows(alice, aliceOrder, 'COMPLETED');
    // Kept in this tab's session storage only.
    // A string: this file is type-checked for Node, where the page's globals do not exist.
    expect(await alice.evaluate('[sessionStorage.length, localStorage.length, document.cookie]')).toEqual([1, 0, '']);

    const bob = await signIn('bob-key');
    const bobOrder = await placeOrder(bob, product.id, 'pm_card_visa', 'c-bob');
    await untilRowShows(bob, bobOrder, 'COMPLETED');
    expect(await rowOf(bob, aliceOrder).count()).toBe(0);
    await bob.goto(`${keyed.baseUrl}/#/orders/${aliceOrder}`);
    await bob.locator('#order-error').getByText(/No such order/).waitFor();
    expect(await bob.getByRole('link', { name: 'Stock' }).isVisible()).toBe(false);
    await alice.reload();
    await untilRowShows(alice, aliceOrder, 'COMPLETED');
    expect(await rowOf(alice, bobOrder).count()).toBe(0);

    const ops = await signIn('ops-key');
    await untilRowShows(ops, aliceOrder, 'COMPLETED');
    await untilRowShows(ops, bobOrder, 'COMPLETED');
    await ops.getByRole('link', { name: 'Stock' }).click();
    await ops.getByLabel(`On hand of ${product.name}`, { exact: true }).fill('42');
    await ops.getByRole('button', { name: `Save ${product.name}`, exact: true }).click();
    await ops.locator('#stock-result').getByText(/Saved \(200\)/).waitFor();
    for (const page of [alice, bob, ops]) await page.context().close();
  });
});

/** Into .data/test/screenshots; with UPDATE_SCREENSHOTS=1 also into docs/images (the README's). */
async function screenshot(page: Page, name: string, viewport: { width: number; height: number }): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.setViewportSize(viewport);
  const file = path.join(SHOTS, name);
  await page.screenshot({ path: file, fullPage: false });
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    mkdirSync(path.join(PROJECT_ROOT, 'docs', 'images'), { recursive: true });
    copyFileSync(file, path.join(PROJECT_ROOT, 'docs', 'images', name));
  }
}
