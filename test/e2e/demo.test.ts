import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { demoCredentials, DEMO_SUBGRAPH_ENV, seedStack } from '../../scripts/demoMarket.js';
import { playDemo, type DemoOutcome } from '../../scripts/demo/scenario.js';
import { playDistribution } from '../../scripts/demo/distribution.js';
import { DEMO_INVESTORS, DEMO_TOKENS, type SeedReport } from '../../scripts/seed.js';
import { dbLabel } from '../support/db.js';
import { gqlOk, startTestStack, type TestStack } from '../support/stack.js';

/** The first hour of a new user: `npm start`'s seeded market, then `npm run demo`'s scenario, through the gateway. */
describe(`the seeded demo market and the guided demo (${dbLabel()}, anvil)`, () => {
  let stack: TestStack;
  let seeded: SeedReport & { dividend?: { distributionId: string; status: string } };
  const lines: string[] = [];

  beforeAll(async () => {
    stack = await startTestStack({ chain: 'anvil', subgraphEnv: DEMO_SUBGRAPH_ENV });
    seeded = await seedStack(stack, stack.token);
  }, 600_000);
  afterAll(async () => stack?.stop());

  test('the seed makes tokens under 506(c), Reg S and Reg A+ Tier 2, a dozen investors in several countries with funded custody accounts, and resting orders', async () => {
    expect(Object.keys(seeded.tokens).sort()).toEqual(DEMO_TOKENS.map((t) => t.symbol).sort());
    expect(Object.keys(seeded.investors)).toHaveLength(12);
    expect(new Set(DEMO_INVESTORS.map((i) => i.o.country)).size).toBeGreaterThanOrEqual(8);
    const broker = await stack.token('broker-co', ['BROKER_DEALER']);
    const d = await gqlOk<{ orderBook: { bids: unknown[]; asks: unknown[] }; custodyAccount: { balances: { asset: string }[] } }>(stack.gateway.url, broker, `query($t: ID!, $a: ID!) { orderBook(tokenId: $t) { bids { price quantity } asks { price quantity } }
      custodyAccount(id: $a) { balances { asset total available reserved } } }`, { t: seeded.tokens.ACME, a: seeded.accounts['Jonas Berg'].id });
    expect(d.orderBook.asks).toEqual([{ price: '105', quantity: '500' }, { price: '106', quantity: '300' }]);
    expect(d.orderBook.bids).toEqual([{ price: '101', quantity: '200' }, { price: '100', quantity: '150' }]);
    // Jonas's bid holds 200 x 101 whole cash units of his 1,000,000.
    expect(d.custodyAccount.balances.find((b) => b.asset === 'CASH')).toMatchObject({ total: '1000000000000', reserved: String(200n * 101n * 1_000_000n) });
    // Nobody registered the tokens or credited the mints by hand: custody learnt the token from issuance's feed and booked the mint it saw on chain.
    const avery = await gqlOk<{ custodyAccount: { deposits: unknown[]; balances: { asset: string }[] } }>(stack.gateway.url, broker, `query($a: ID!) { custodyAccount(id: $a) { deposits { asset amount fromAddress }
      balances { asset total onChain } } }`, { a: seeded.accounts['Avery Capital LLC'].id });
    expect(avery.custodyAccount.deposits).toEqual(expect.arrayContaining([{ asset: seeded.tokens.ACME, amount: '5000', fromAddress: '0x0000000000000000000000000000000000000000' }]));
    expect(avery.custodyAccount.balances.find((b) => b.asset === seeded.tokens.ACME)).toEqual({ asset: seeded.tokens.ACME, total: '5000', onChain: '5000' });
  });

  test('the seed pays one dividend on ACME from the issuer\'s treasury, tax withheld per holder', async () => {
    expect(seeded.dividend?.status).toBe('COMPLETED');
    const issuer = await stack.token('issuer-co', ['ISSUER_AGENT', 'AUDITOR']);
    const d = (await gqlOk<{ distribution: { kind: string; gross: string; withheld: string; entitlements: { investor: { legalName: string }; withheld: string; status: string }[] } }>(stack.gateway.url, issuer, `query($id: ID!) { distribution(id: $id) { kind gross withheld net
      entitlements { investor { legalName } gross withheld net status txHash } } }`, { id: seeded.dividend!.distributionId })).distribution;
    expect([d.kind, d.gross]).toEqual(['DIVIDEND', String(10_000n * 1_000_000n)]);
    expect(d.entitlements.map((e) => e.status)).toEqual(d.entitlements.map(() => 'PAID'));
    expect(d.entitlements.find((e) => e.investor.legalName === 'Avery Capital LLC')!.withheld).toBe('0'); // W-9 on file
    expect(BigInt(d.withheld) > 0n).toBe(true); // Northwind's treaty rate, Blake's backup withholding
  }, 60_000);

  test('seeding again on the same market changes nothing', async () => {
    const again = await seedStack(stack, stack.token);
    expect(again).toEqual(seeded);
    const book = await gqlOk<{ orderBook: { asks: { quantity: string }[] } }>(stack.gateway.url, await stack.token('broker-co', ['BROKER_DEALER']), `query($t: ID!) { orderBook(tokenId: $t) { asks { quantity } } }`, { t: seeded.tokens.ACME });
    expect(book.orderBook.asks.map((a) => a.quantity)).toEqual(['500', '300']);
  }, 300_000);

  test('the distribution demo announces a dividend, shows the withholding and follows it to PAID on chain', async () => {
    const out = await playDistribution(stack.gateway.url, stack.token, (l) => lines.push(l));
    expect(out.status).toBe('COMPLETED');
    expect(BigInt(out.gross)).toBe(BigInt(out.withheld) + BigInt(out.net));
    expect(out.txHashes.length).toBe(out.paid);
    expect(out.txHashes.every((h) => /^0x[0-9a-f]{64}$/.test(h))).toBe(true);
    expect(lines.join('\n')).toMatch(/withholding report/);
  }, 300_000);

  test('the demo crosses orders, streams the fill, settles on chain with a verified attestation, and shows refusals with every reason', async () => {
    const out: DemoOutcome = await playDemo(stack.gateway.url, await demoCredentials(stack.token), (l) => lines.push(l));
    expect(out.statuses).toEqual(expect.arrayContaining(['RECEIVED', 'VERIFIED', 'SETTLED']));
    expect(out.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(out.attestationSigner).toMatch(/^0x[0-9a-fA-F]{40}$/);
    expect(out.refusedOrderCodes.length).toBeGreaterThan(0);
    expect(out.refusedTransferCodes).toContain('COUNTRY_NOT_BLOCKED_RECEIVER');
    expect(lines.join('\n')).toMatch(/Fill streamed to the UI/);
    // A second play trades fresh orders on the same market.
    const again = await playDemo(stack.gateway.url, await demoCredentials(stack.token), () => undefined);
    expect(again.settlementId).not.toBe(out.settlementId);
  }, 400_000);
});
