import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Contract, JsonRpcProvider } from 'ethers';
import { TREASURY } from '../../scripts/seed-dividend.js';
import { PaymentRunner } from '../../subgraphs/issuance/distribution-payments.js';
import { PLACE, type MarketStatus, type Order, type OrderPayload } from '../trading/support.js';
import { DEMO_SUBGRAPH_ENV, seedStack } from '../../scripts/demoMarket.js';
import { IssuerDesk, type IssuanceResult } from '../../scripts/issuerDesk.js';
import type { SeedReport } from '../../scripts/seed.js';
import { loadArtifact } from '../../subgraphs/kit/chain/artifacts.js';
import { issuanceServices } from '../../subgraphs/issuance/index.js';
import { runDueSplits } from '../../subgraphs/issuance/splits.js';
import { dbLabel } from '../support/db.js';
import { gql, gqlOk, startTestStack, type TestStack } from '../support/stack.js';
import { tradingServices } from '../../subgraphs/trading/index.js';
import { until } from '../support/wait.js';
import type { WalletsAnswer } from './answers.js';
import { monthsAgo } from './flow.js';
import { wsClient } from '../support/ws.js';

const SPLIT = `id status numerator denominator supplyBefore supplyAfter txHashes lastError holders { investorId before after fractionNumerator cashInLieu cashInLieuStatus cashInLieuWithheld cashInLieuTxHash }`;
const ERC20 = ['function balanceOf(address) view returns (uint256)'];
const DAY = 86_400_000;

/** The parts of the answers these tests read (a test reads a part only where it expects it). */
interface SplitHolder {
  investorId: string; before: string; after: string; fractionNumerator: string;
  cashInLieu: string; cashInLieuStatus: string; cashInLieuWithheld: string | null; cashInLieuTxHash: string | null;
}
interface Split {
  id: string; status: string; numerator: string; denominator: string; supplyBefore: string; supplyAfter: string; txHashes: string[]; lastError: string | null;
  holders: SplitHolder[]; payingAccountId: string | null; cashInLieuDistribution: { id: string; kind: string; gross: string; withheld: string; net: string } | null;
}
interface Splits { splits: Split[] }
interface Balance { asset: string; total: string; onChain: string; reserved: string }
interface TransferRules { maxBalance: string | null; minHolding: string | null }

/**
 * A 2-for-1 split then a 1-for-10 reverse split of a token held in custody (and by one holder outside it), on anvil: lots,
 * chain and custody's books agree after each; the per-unit limits scale; while the split is under way trading cancels
 * the token's orders and refuses new ones, and forced transfers, issuances, rule changes and pauses are refused; the
 * reverse split's fractions are paid in cash from the issuer's treasury, once, with backup withholding where due.
 */
describe(`splits and reverse splits through the gateway (${dbLabel()}, anvil)`, () => {
  let stack: TestStack, seeded: SeedReport, desk: IssuerDesk, broker: string;
  let tokenId: string, token: Contract, provider: JsonRpcProvider, cash: Contract;
  let outsider: { id: string; wallet: string }, treasury: { id: string; wallet: string }, foreignAccount: string;
  const holders = ['Avery Capital LLC', 'Northwind Pension Fund', 'Blake Morgan'];
  const issuedAt: Record<string, Date> = {};
  const issued: Record<string, Pick<IssuanceResult, 'id' | 'status' | 'txHash'>> = {};
  let clock = 0;
  const services = () => issuanceServices(stack.subgraphs.issuance.runtime)!;
  const tradingPeers = () => tradingServices(stack.subgraphs.trading.runtime)!.peers;
  const inv = (name: string) => seeded.investors[name];
  const announce = (t: string, input: Record<string, unknown>) =>
    gql<{ announceSplit: Split }>(stack.gateway.url, t, `mutation($in: AnnounceSplitInput!) { announceSplit(input: $in) { ${SPLIT} } }`, { in: input });
  const codeOf = (r: { body: { errors?: { extensions?: Record<string, unknown> }[] } }) => r.body.errors?.[0]?.extensions?.code;

  /** What each holder has: lots (issuance), chain balance, custody's books. */
  async function positions() {
    const d = await desk.run<{ securityToken: { totalSupply: string; paused: boolean; capTable: { holders: { investor: { id: string }; lots: { remaining: string; holdingPeriodStart: string }[] }[] } } }>(`query($t: ID!) { securityToken(id: $t) { totalSupply paused capTable { totalSupply holders { investor { id } balance lots { remaining acquiredAt holdingPeriodStart source } } } } }`, { t: tokenId });
    const out: Record<string, { lots: string; lotDates: string[]; chain: bigint; custody: { total: string; onChain: string } | undefined }> = {};
    for (const name of holders) {
      const h = d.securityToken.capTable.holders.find((x) => x.investor.id === inv(name));
      const acc = (await gqlOk<{ custodyAccount: { balances: Omit<Balance, 'reserved'>[] } }>(stack.gateway.url, broker, `query($a: ID!) { custodyAccount(id: $a) { balances { asset total onChain } } }`, { a: seeded.accounts[name].id })).custodyAccount;
      const held = acc.balances.find((b) => b.asset === tokenId);
      out[name] = {
        lots: h ? h.lots.map((l) => l.remaining).join('+') : '0',
        lotDates: h ? h.lots.map((l) => l.holdingPeriodStart) : [],
        chain: await token.balanceOf(seeded.accounts[name].wallet),
        custody: held && { total: held.total, onChain: held.onChain },
      };
    }
    return { supply: d.securityToken.totalSupply, paused: d.securityToken.paused, chainSupply: await token.totalSupply(), holders: out };
  }

  /** Waits until the split is DONE and custody's books show every holder's chain balance. */
  async function settled(splitId: string) {
    await until('the split to be done', async () => {
      const s = (await desk.run<Splits>(`query($t: ID!) { splits(tokenId: $t) { id status lastError } }`, { t: tokenId })).splits.find((x) => x.id === splitId)!;
      return s.status === 'DONE' && s;
    }, 120_000);
    return until('custody to book the chain', async () => {
      const p = await positions();
      return Object.values(p.holders).every((h) => h.custody && BigInt(h.custody.total) === h.chain && BigInt(h.custody.onChain) === h.chain) && p;
    }, 120_000);
  }

  /** The 2-for-1 split's announcement, as first sent and as replayed. */
  const firstSplit = () => ({ idempotencyKey: 'splt-2for1', tokenId, numerator: '2', denominator: '1', effectiveDate: new Date(clock + DAY).toISOString(), cashInLieuPrice: '0' });
  const setRules = (t: string, rules: Record<string, unknown>) =>
    gql(stack.gateway.url, t, 'mutation($t: ID!, $r: TransferPolicyInput!) { setTransferRules(tokenId: $t, rules: $r, reason: "limits") { transferRules { maxBalance minHolding } } }', { t: tokenId, r: rules });
  const rulesNow = async () => (await desk.run<{ securityToken: { transferRules: TransferRules } }>('query($t: ID!) { securityToken(id: $t) { transferRules { maxBalance minHolding } } }', { t: tokenId })).securityToken.transferRules;
  const orderOf = async (id: string) => (await gqlOk<{ order: Order }>(stack.gateway.url, broker, 'query($id: ID!) { order(id: $id) { status cancelReason } }', { id })).order;
  const reserved = async (name: string, asset: string) => (await gqlOk<{ custodyAccount: { balances: Pick<Balance, 'asset' | 'reserved'>[] } }>(stack.gateway.url, broker, 'query($a: ID!) { custodyAccount(id: $a) { balances { asset reserved } } }', { a: seeded.accounts[name].id }))
    .custodyAccount.balances.find((b) => b.asset === asset)?.reserved ?? '0';
  const place = (name: string, side: string, price: string, quantity: string) =>
    gqlOk<{ placeOrder: OrderPayload }>(stack.gateway.url, broker, PLACE, { in: { tokenId, accountId: seeded.accounts[name].id, side, type: 'LIMIT', timeInForce: 'GTC', price, quantity, clientOrderId: `${name.replace(/\W/g, '')}-${Math.random().toString(36).slice(2)}` } }).then((d) => d.placeOrder);

  beforeAll(async () => {
    // Trading keeps a token's facts (its pause included) for 10 minutes: only the split's own events may make it read them again.
    stack = await startTestStack({ chain: 'anvil', subgraphEnv: { ...DEMO_SUBGRAPH_ENV, DISTRIBUTION_POLL_MS: '100', DISTRIBUTION_RETRY_MS: '300', TRADING_PEER_CACHE_MS: '600000' } });
    seeded = await seedStack(stack, stack.token);
    desk = new IssuerDesk(stack.gateway.url, await stack.token('issuer-co', ['ISSUER_AGENT', 'COMPLIANCE_OFFICER', 'AUDITOR']));
    broker = await stack.token('broker-co', ['BROKER_DEALER']);
    provider = new JsonRpcProvider(stack.chainRpcUrl, undefined, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
    tokenId = await desk.createToken('SPLT', 'REG_D_506C');
    token = new Contract((await desk.deploy(tokenId)).contracts!.token, loadArtifact('Token', 'trex').abi, provider);
    cash = new Contract(stack.cash!.address, ERC20, provider);
    // A holder outside custody (its own registered wallet), and the issuer's treasury the seed funded (it paid the demo dividend).
    outsider = await desk.onboard('Split Outsider', { accredited: true });
    const treasuryId = await desk.register(TREASURY, { country: 'US', type: 'ENTITY', issuerRelation: 'ISSUER' });
    const acc = (await gqlOk<{ openCustodyAccount: { id: string; walletAddress: string } }>(stack.gateway.url, broker, 'mutation($i: ID!) { openCustodyAccount(input: { idempotencyKey: "demo-treasury", investorId: $i, kind: SEGREGATED }) { id walletAddress } }', { i: treasuryId })).openCustodyAccount;
    treasury = { id: acc.id, wallet: acc.walletAddress };
    // An account of an investor another organisation onboarded: it cannot pay this issuer's cash in lieu.
    const foreign = (await gqlOk<{ registerInvestor: { id: string } }>(stack.gateway.url, await stack.token('other-bd', ['BROKER_DEALER']), 'mutation { registerInvestor(input: { idempotencyKey: "spl-pa-1", legalName: "Not The Issuer", type: ENTITY, jurisdiction: "US", usPerson: true }) { id } }')).registerInvestor.id;
    foreignAccount = (await gqlOk<{ openCustodyAccount: { id: string } }>(stack.gateway.url, await stack.token('other-bd', ['CUSTODIAN']), 'mutation($i: ID!) { openCustodyAccount(input: { idempotencyKey: "spl-pa-acc", investorId: $i, kind: SEGREGATED }) { id } }', { i: foreign })).openCustodyAccount.id;
    await until('the outside wallet on chain', async () => (await desk.run<WalletsAnswer>('query($i: ID!) { investor(id: $i) { wallets { registeredOnChain } } }', { i: outsider.id })).investor?.wallets?.[0]?.registeredOnChain, 120_000);
    expect((await desk.issue(tokenId, outsider.id, '27', monthsAgo(2))).status).toBe('DONE');
    // Custody wallets of seeded investors; Northwind's holding is two lots.
    for (const [name, amount, months] of [['Avery Capital LLC', '1000', 14], ['Northwind Pension Fund', '200', 13], ['Northwind Pension Fund', '133', 3], ['Blake Morgan', '7', 2]] as const) {
      const at = issuedAt[`${name}-${amount}`] = monthsAgo(months);
      const { id, status, txHash } = await desk.issue(tokenId, inv(name), amount, at);
      issued[`${name}-${amount}`] = { id, status, txHash };
      expect({ id, status, txHash }).toEqual({ id: expect.stringMatching(/^iss_/), status: 'DONE', txHash: expect.stringMatching(/^0x/) });
    }
    await until('custody to book the issuance', async () => {
      const p = await positions();
      return Object.values(p.holders).every((h) => h.custody?.total === String(h.chain)) && p;
    }, 120_000);
    // The issuer's per-unit limits: Avery's 1000 is under the cap now; doubled, only the scaled cap lets the chain mint it.
    expect((await setRules(desk.token, { maxBalance: '1500', minHolding: '5' })).body.errors).toBeUndefined();
    clock = Date.now();
  }, 600_000);
  afterAll(async () => {
    provider?.destroy();
    await stack?.stop();
  });

  test('announcing is the issuer agent\'s, with a sensible ratio and price; a retry is the same split, also one racing the first', async () => {
    const input = firstSplit();
    // A client that retries before the first answer came: every copy gets the one split (none is refused as another split pending).
    const copies = await Promise.all([0, 1, 2, 3].map(() => announce(desk.token, input)));
    expect(copies.map((c) => c.body.errors)).toEqual([undefined, undefined, undefined, undefined]);
    const r = copies[0];
    expect(r.body.data!.announceSplit).toMatchObject({ status: 'ANNOUNCED', numerator: '2', denominator: '1', holders: [] });
    expect(new Set(copies.map((c) => c.body.data!.announceSplit.id))).toEqual(new Set([r.body.data!.announceSplit.id]));
    expect((await announce(desk.token, input)).body.data!.announceSplit.id).toBe(r.body.data!.announceSplit.id);
    expect(codeOf(await announce(desk.token, { ...input, numerator: '3' }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    const fresh = (o: object) => ({ ...input, idempotencyKey: `k-${Math.random()}`, ...o });
    expect(codeOf(await announce(desk.token, fresh({})))).toBe('SPLIT.ANOTHER_PENDING');
    expect(codeOf(await announce(desk.token, fresh({ numerator: '1' })))).toBe('INPUT.INVALID_RATIO');
    expect(codeOf(await announce(desk.token, fresh({ denominator: '0' })))).toBe('INPUT.INVALID_RATIO');
    expect(codeOf(await announce(desk.token, fresh({ numerator: '1001' })))).toBe('INPUT.RATIO_TOO_LARGE');
    expect(codeOf(await announce(desk.token, fresh({ cashInLieuPrice: '-1' })))).toBe('INPUT.INVALID_PRICE');
    expect(codeOf(await announce(desk.token, fresh({ numerator: '9'.repeat(78) })))).toBe('INPUT.RATIO_TOO_LARGE');
    // Cash in lieu needs a paying account, the issuer's (or its paying agent's); a price is a base-unit integer.
    const priced = { cashInLieuPrice: '5' };
    expect(codeOf(await announce(desk.token, fresh(priced)))).toBe('INPUT.PAYING_ACCOUNT_REQUIRED');
    expect(codeOf(await announce(desk.token, fresh({ ...priced, payingAccountId: foreignAccount })))).toBe('ISSUANCE.PAYING_ACCOUNT_REFUSED');
    expect(codeOf(await announce(desk.token, fresh({ ...priced, payingAccountId: 'acc_00000000000000000000000000' })))).toBe('ISSUANCE.PAYING_ACCOUNT_REFUSED');
    expect(codeOf(await announce(desk.token, fresh({ ...priced, payingAccountId: 'not-an-account' })))).toBe('INPUT.INVALID_ID');
    for (const bad of ['1.5', 'abc', '1'.padEnd(80, '0')]) expect(String(codeOf(await announce(desk.token, fresh({ cashInLieuPrice: bad }))))).toMatch(/^INPUT\./);
    expect(codeOf(await announce(await stack.token('issuer-co', ['INVESTOR']), fresh({})))).toBe('FORBIDDEN');
    expect(codeOf(await announce(broker, fresh({})))).toBe('FORBIDDEN');
    expect(codeOf(await announce(await stack.token('other-issuer', ['ISSUER_AGENT']), fresh({})))).toBe('FORBIDDEN');
    // Nothing happens before the effective date.
    await runDueSplits(services().splits);
    expect((await desk.run<Splits>(`query($t: ID!) { splits(tokenId: $t) { status } }`, { t: tokenId })).splits).toEqual([{ status: 'ANNOUNCED' }]);
  });

  test('a 2-for-1 split doubles every lot (same dates), the chain mints the difference, custody books it', async () => {
    const before = await positions();
    const splitId = (await desk.run<Splits>(`query($t: ID!) { splits(tokenId: $t) { id } }`, { t: tokenId })).splits[0].id;
    // Anyone may follow a token's splits (the terms are public), from the announcement on.
    const client = wsClient(stack.gateway.url, await stack.token('other-bd', ['BROKER_DEALER']));
    const events: string[] = [];
    const followed = new Promise<void>((resolve, reject) => {
      client.subscribe<{ splitStatusChanged: { status: string; split: { numerator: string; denominator: string } } }>({ query: `subscription($t: ID!) { splitStatusChanged(tokenId: $t, after: "0") { status split { numerator denominator } } }`, variables: { t: tokenId } }, {
        next: (e) => { const x = e.data!.splitStatusChanged; events.push(`${x.status} ${x.split.numerator}:${x.split.denominator}`); if (x.status === 'DONE') resolve(); },
        error: reject, complete: () => resolve(),
      });
    });
    // Orders on the token before the split, each reserving the seller's tokens at custody.
    const ask = await place('Avery Capital LLC', 'SELL', '9000000', '10');
    const bid = await place('Northwind Pension Fund', 'SELL', '10000000', '5');
    expect([ask.rejections, bid.rejections]).toEqual([[], []]);
    expect([ask.order.status, bid.order.status]).toEqual(['OPEN', 'OPEN']);
    expect([await reserved('Avery Capital LLC', tokenId), await reserved('Northwind Pension Fund', tokenId)]).toEqual(['10', '5']);
    // The split is held between its start (CHAIN) and DONE: its chain step does not finish until released.
    const real = services().splits;
    let released = false;
    const atChain = async () => (await stack.subgraphs.issuance.db.query("SELECT 1 FROM splits WHERE id = $1 AND status = 'CHAIN'", [splitId])).length > 0;
    services().splits = { ...real, syncHoldings: async () => { if (!released && (await atChain())) throw new Error('held by the test'); return real.syncHoldings(); } };
    // The service clock reaches the effective date (no test waits a day).
    services().now = () => new Date(Date.now() + 2 * DAY);
    await until('the split under way', async () => (await desk.run<Splits>(`query($t: ID!) { splits(tokenId: $t) { status } }`, { t: tokenId })).splits[0].status === 'CHAIN', 120_000);
    // Trading learns of it from issuance's feed: both orders cancelled (reason SPLIT), their reservations released, new orders refused.
    await until('the orders cancelled', async () => {
      const [a, b] = [await orderOf(ask.order.id), await orderOf(bid.order.id)];
      return a.status === 'CANCELLED' && b.status === 'CANCELLED' && [a, b];
    }, 60_000).then((both) => expect(both).toEqual([{ status: 'CANCELLED', cancelReason: 'SPLIT' }, { status: 'CANCELLED', cancelReason: 'SPLIT' }]));
    await until('the reservations released', async () => (await reserved('Avery Capital LLC', tokenId)) === '0' && (await reserved('Northwind Pension Fund', tokenId)) === '0', 60_000);
    const refused = await place('Avery Capital LLC', 'SELL', '9000000', '1');
    expect(refused.accepted).toBe(false);
    expect(refused.rejections.map((r) => r.code)).toContain('TRADING.SPLIT_IN_PROGRESS');
    // The facts trading caches of the token were dropped when the split's start came through the feed: paused now.
    expect(await tradingPeers().token(tokenId)).toMatchObject({ paused: true });
    // The issuer's cap-table changes wait for the split (the chain would take a forced transfer or a mint while paused).
    const during = [
      ['mutation($t: ID!, $f: ID!, $to: ID!) { forcedTransfer(tokenId: $t, fromInvestorId: $f, toInvestorId: $to, amount: "1", reason: "court order") { txHash } }', { t: tokenId, f: inv('Blake Morgan'), to: inv('Avery Capital LLC') }],
      ['mutation($t: ID!, $i: ID!) { issueTokens(input: { idempotencyKey: "during-split", tokenId: $t, investorId: $i, amount: "5" }) { status } }', { t: tokenId, i: inv('Blake Morgan') }],
      ['mutation($t: ID!) { unpauseToken(tokenId: $t, reason: "early") { paused } }', { t: tokenId }],
      ['mutation($t: ID!) { pauseToken(tokenId: $t, reason: "again") { paused } }', { t: tokenId }],
      ['mutation($t: ID!, $i: ID!) { freezePartialTokens(tokenId: $t, investorId: $i, amount: "1", reason: "hold") { id } }', { t: tokenId, i: inv('Blake Morgan') }],
    ] as const;
    for (const [q, v] of during) expect([q.slice(0, 40), codeOf(await desk.raw(q, v))]).toEqual([q.slice(0, 40), 'SPLIT.IN_PROGRESS']);
    // A replay of an issuance made before the split is its outcome then, not a refusal.
    const replayed = await desk.issue(tokenId, inv('Blake Morgan'), '7', issuedAt['Blake Morgan-7']);
    expect({ id: replayed.id, status: replayed.status, txHash: replayed.txHash }).toEqual(issued['Blake Morgan-7']);
    expect(codeOf(await setRules(desk.token, { maxBalance: '1' }))).toBe('SPLIT.IN_PROGRESS');
    released = true;
    services().splits = real;
    const after = await settled(splitId);
    await followed;
    await client.dispose();
    expect(events).toEqual(['ANNOUNCED 2:1', 'CHAIN 2:1', 'DONE 2:1']);
    expect(after.supply).toBe('2734');
    expect(after.chainSupply).toBe(2734n);
    expect(await token.balanceOf(outsider.wallet)).toBe(54n);
    // The limits scaled with the lots (a cap rounds up, a minimum down), with an audit entry; the compliance module has them.
    expect(await rulesNow()).toEqual({ maxBalance: '3000', minHolding: '10' });
    const [scaled] = await stack.subgraphs.issuance.db.query<{ details: unknown }>("SELECT details FROM audit_log WHERE action = 'token.rules_scaled_by_split' AND subject_id = $1", [tokenId]);
    expect(scaled.details).toMatchObject({ splitId, before: { maxBalance: '1500', minHolding: '5' }, policy: { maxBalance: '3000', minHolding: '10' } });
    // Trading resumes once the split is done.
    await until('trading resumed', async () => !(await gqlOk<{ marketStatus: MarketStatus }>(stack.gateway.url, broker, 'query($t: ID!) { marketStatus(tokenId: $t) { halted } }', { t: tokenId })).marketStatus.halted, 60_000);
    expect(await tradingPeers().token(tokenId)).toMatchObject({ paused: false });
    const again = await place('Avery Capital LLC', 'SELL', '9000000', '1');
    expect([again.rejections, again.order.status]).toEqual([[], 'OPEN']);
    await gqlOk(stack.gateway.url, broker, 'mutation($id: ID!) { cancelOrder(orderId: $id) { status } }', { id: again.order.id });
    expect(after.paused).toBe(false);
    expect(Object.fromEntries(Object.entries(after.holders).map(([n, h]) => [n, [h.lots, String(h.chain), h.custody!.total]]))).toEqual({
      'Avery Capital LLC': ['2000', '2000', '2000'], 'Northwind Pension Fund': ['400+266', '666', '666'], 'Blake Morgan': ['14', '14', '14'],
    });
    // Rule 144 holding periods run on from the original acquisitions.
    for (const n of holders) expect(after.holders[n].lotDates).toEqual(before.holders[n].lotDates);
    // The cap table as of before the split still shows the units then.
    const past = await desk.run<{ securityToken: { capTable: { totalSupply: string } } }>(`query($t: ID!, $at: DateTime!) { securityToken(id: $t) { capTable(asOf: $at) { totalSupply } } }`, { t: tokenId, at: new Date(clock).toISOString() });
    expect(past.securityToken.capTable.totalSupply).toBe('1367');
    const s = (await desk.run<Splits>(`query($t: ID!) { splits(tokenId: $t) { ${SPLIT} } }`, { t: tokenId })).splits[0];
    expect(s).toMatchObject({ status: 'DONE', supplyBefore: '1367', supplyAfter: '2734', lastError: null });
    expect(s.txHashes.length).toBeGreaterThan(0);
    expect(s.holders.every((h) => h.cashInLieuStatus === 'NONE')).toBe(true);
  }, 300_000);

  test('a split found half done after a restart sends nothing twice', async () => {
    const s = (await desk.run<Splits>(`query($t: ID!) { splits(tokenId: $t) { id txHashes } }`, { t: tokenId })).splits[0];
    // As if the process died after its transactions were mined, before it recorded the split done.
    await stack.subgraphs.issuance.db.query(`UPDATE splits SET status = 'CHAIN' WHERE id = $1`, [s.id]);
    await runDueSplits(services().splits);
    const again = (await desk.run<Splits>(`query($t: ID!) { splits(tokenId: $t) { id status txHashes } }`, { t: tokenId })).splits[0];
    expect(again).toEqual({ id: s.id, status: 'DONE', txHashes: s.txHashes });
    expect(await token.totalSupply()).toBe(2734n);
  });

  test('a 1-for-10 reverse split burns on chain and at custody; fractions are paid in cash from the treasury, once, across a restart', async () => {
    const payees = { 'Northwind Pension Fund': seeded.accounts['Northwind Pension Fund'].wallet, 'Blake Morgan': seeded.accounts['Blake Morgan'].wallet, outsider: outsider.wallet, treasury: treasury.wallet };
    const cashBefore = Object.fromEntries(await Promise.all(Object.entries(payees).map(async ([n, w]) => [n, (await cash.balanceOf(w)) as bigint])));
    // The payment worker is down between fixing the cash and paying it (as if the process died there).
    await services().payments.stop();
    const r = await announce(desk.token, { idempotencyKey: 'splt-1for10', tokenId, numerator: '1', denominator: '10', effectiveDate: new Date(Date.now() + DAY).toISOString(), cashInLieuPrice: '5000000', payingAccountId: treasury.id });
    expect(r.body.errors).toBeUndefined();
    const splitId = r.body.data!.announceSplit.id;
    services().now = () => new Date(Date.now() + 3 * DAY);
    const after = await settled(splitId);
    expect(after.chainSupply).toBe(272n);
    expect(await token.balanceOf(outsider.wallet)).toBe(5n);
    expect(Object.fromEntries(Object.entries(after.holders).map(([n, h]) => [n, [h.lots, String(h.chain), h.custody!.total]]))).toEqual({
      'Avery Capital LLC': ['200', '200', '200'], 'Northwind Pension Fund': ['40+26', '66', '66'], 'Blake Morgan': ['1', '1', '1'],
    });
    // 3000 x 1/10 rounds up to 300; 10 x 1/10 = 1.
    expect(await rulesNow()).toEqual({ maxBalance: '300', minHolding: '1' });
    const owed = (await desk.run<Splits>(`query($t: ID!) { splits(tokenId: $t) { ${SPLIT} cashInLieuDistribution { id kind gross withheld net } } }`, { t: tokenId })).splits[0];
    const row = (h: SplitHolder) => [h.before, h.after, h.fractionNumerator, h.cashInLieu, h.cashInLieuStatus, h.cashInLieuWithheld];
    expect(Object.fromEntries(owed.holders.map((h) => [h.investorId, row(h)]))).toEqual({
      [inv('Avery Capital LLC')]: ['2000', '200', '0', '0', 'NONE', null],
      // 666 / 10 = 66.6: 0.6 of a new unit at 5,000,000 cash base units; a foreign holder's sale proceeds are not FDAP: nothing withheld
      [inv('Northwind Pension Fund')]: ['666', '66', '6', '3000000', 'OWED', '0'],
      // a US person without a Form W-9: backup withholding, 24% (IRC §3406)
      [inv('Blake Morgan')]: ['14', '1', '4', '2000000', 'OWED', '480000'],
      [outsider.id]: ['54', '5', '4', '2000000', 'OWED', '480000'],
    });
    expect(owed.cashInLieuDistribution).toMatchObject({ kind: 'CASH_IN_LIEU', gross: '7000000', withheld: '960000', net: '6040000' });
    // A restart finds the split done and the cash fixed once: nothing new to fix.
    await runDueSplits(services().splits);
    const db = stack.subgraphs.issuance.db;
    expect((await db.query<{ n: string }>('SELECT count(*) AS n FROM distributions WHERE split_id = $1', [splitId]))[0].n).toBe('1');
    // The restarted worker pays each holder once, into custody and outside it.
    const runner = new PaymentRunner(db, { batchSize: 100, retryMs: 300, maxAttempts: 1000, pollMs: 100, sanctionedCountries: [] }, () => new Date());
    services().payments = runner;
    runner.start();
    const paid = await until('the cash in lieu paid', async () => {
      const s = (await desk.run<Splits>(`query($t: ID!) { splits(tokenId: $t) { ${SPLIT} } }`, { t: tokenId })).splits[0];
      return s.holders.filter((h) => h.cashInLieu !== '0').every((h) => h.cashInLieuStatus === 'PAID') && s;
    }, 180_000);
    for (const h of paid.holders.filter((x) => x.cashInLieu !== '0')) expect(h.cashInLieuTxHash).toMatch(/^0x[0-9a-f]{64}$/);
    const delta = async (n: keyof typeof payees) => ((await cash.balanceOf(payees[n])) as bigint) - cashBefore[n];
    expect([await delta('Northwind Pension Fund'), await delta('Blake Morgan'), await delta('outsider'), await delta('treasury')]).toEqual([3_000_000n, 1_520_000n, 1_520_000n, -6_040_000n]);
    const withdrawals = await stack.subgraphs.custody.db.query<{ entitlement_id: string; n: string }>(
      'SELECT entitlement_id, count(*) AS n FROM withdrawals WHERE entitlement_id = ANY($1::text[]) GROUP BY entitlement_id',
      [(await db.query<{ id: string }>('SELECT e.id FROM entitlements e JOIN distributions d ON d.id = e.distribution_id WHERE d.split_id = $1', [splitId])).map((e) => e.id)],
    );
    expect(withdrawals.map((w) => w.n)).toEqual(['1', '1', '1']);
    // The broker sees its clients' rows; another organisation sees the terms, no holder, no paying account, no distribution.
    const mine = (await gqlOk<Splits>(stack.gateway.url, broker, `query($t: ID!) { splits(tokenId: $t) { holders { investorId } } }`, { t: tokenId })).splits[0];
    expect(mine.holders).toHaveLength(3);
    expect((await desk.run<Splits>(`query($t: ID!) { splits(tokenId: $t) { payingAccountId } }`, { t: tokenId })).splits[0].payingAccountId).toBe(treasury.id);
    const other = (await gqlOk<Splits>(stack.gateway.url, await stack.token('other-bd', ['BROKER_DEALER']), `query($t: ID!) { splits(tokenId: $t) { numerator holders { investorId } payingAccountId cashInLieuDistribution { id } } }`, { t: tokenId })).splits[0];
    expect(other).toEqual({ numerator: '1', holders: [], payingAccountId: null, cashInLieuDistribution: null });
    // Cash in lieu is paid by its split, never announced.
    expect(codeOf(await desk.raw(`mutation($in: AnnounceDistributionInput!) { announceDistribution(input: $in) { id } }`, { in: {
      idempotencyKey: 'cil-by-hand', tokenId, kind: 'CASH_IN_LIEU', recordDate: new Date(Date.now() - 1000).toISOString(), paymentDate: new Date().toISOString(), asset: 'CASH', payingAccountId: treasury.id, totalAmount: '10',
    } }))).toBe('INPUT.KIND_NOT_ANNOUNCED');
  }, 400_000);

  test('a split replayed after the token\'s redemption was announced is the split it made; a new split, or another body under its key, is refused', async () => {
    const first = (await desk.run<Splits>(`query($t: ID!) { splits(tokenId: $t) { id numerator } }`, { t: tokenId })).splits.find((x) => x.numerator === '2')!;
    const redeem = await desk.raw(`mutation($in: AnnounceRedemptionInput!) { announceRedemption(input: $in) { id status } }`, { in: {
      idempotencyKey: 'splt-redeem', tokenId, redemptionDate: new Date(Date.now() + 30 * DAY).toISOString(), pricePerUnit: '1', asset: 'CASH', payingAccountId: treasury.id,
    } });
    expect(redeem.body.errors).toBeUndefined();
    const replay = await announce(desk.token, firstSplit());
    expect(replay.body.errors).toBeUndefined();
    expect(replay.body.data!.announceSplit).toMatchObject({ id: first.id, status: 'DONE', numerator: '2', denominator: '1' });
    expect(codeOf(await announce(desk.token, { ...firstSplit(), numerator: '3' }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    expect(codeOf(await announce(desk.token, { ...firstSplit(), idempotencyKey: 'splt-after-redeem' }))).toBe('SPLIT.REDEMPTION_PENDING');
    expect((await stack.subgraphs.issuance.db.query('SELECT id FROM splits WHERE token_id = $1', [tokenId])).length).toBe(2);
  });
});
