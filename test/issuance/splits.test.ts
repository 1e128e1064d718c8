import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Contract, JsonRpcProvider } from 'ethers';
import { DEMO_SUBGRAPH_ENV, seedStack } from '../../scripts/demoMarket.js';
import { IssuerDesk } from '../../scripts/issuerDesk.js';
import type { SeedReport } from '../../scripts/seed.js';
import { loadArtifact } from '../../subgraphs/kit/chain/artifacts.js';
import { issuanceServices } from '../../subgraphs/issuance/index.js';
import { runDueSplits } from '../../subgraphs/issuance/splits.js';
import { dbLabel } from '../support/db.js';
import { gql, gqlOk, startTestStack, type TestStack } from '../support/stack.js';
import { until } from '../support/wait.js';
import { monthsAgo } from './flow.js';
import { wsClient } from '../support/ws.js';

const SPLIT = `id status numerator denominator supplyBefore supplyAfter txHashes lastError holders { investorId before after fractionNumerator cashInLieu cashInLieuStatus }`;
const DAY = 86_400_000;

/** A 2-for-1 split then a 1-for-10 reverse split of a token held in custody, on anvil: lots, chain and custody's books agree after each. */
describe(`splits and reverse splits through the gateway (${dbLabel()}, anvil)`, () => {
  let stack: TestStack, seeded: SeedReport, desk: IssuerDesk, broker: string;
  let tokenId: string, token: Contract, provider: JsonRpcProvider;
  const holders = ['Avery Capital LLC', 'Northwind Pension Fund', 'Blake Morgan'];
  const issuedAt: Record<string, Date> = {};
  let clock = 0;
  const services = () => issuanceServices(stack.subgraphs.issuance.runtime)!;
  const inv = (name: string) => seeded.investors[name];
  const announce = (t: string, input: Record<string, unknown>) =>
    gql<any>(stack.gateway.url, t, `mutation($in: AnnounceSplitInput!) { announceSplit(input: $in) { ${SPLIT} } }`, { in: input });
  const codeOf = (r: { body: { errors?: { extensions?: Record<string, unknown> }[] } }) => r.body.errors?.[0]?.extensions?.code;

  /** What each holder has: lots (issuance), chain balance, custody's books. */
  async function positions() {
    const d = await desk.run(`query($t: ID!) { securityToken(id: $t) { totalSupply paused capTable { totalSupply holders { investor { id } balance lots { remaining acquiredAt holdingPeriodStart source } } } } }`, { t: tokenId });
    const out: Record<string, { lots: string; lotDates: string[]; chain: bigint; custody: { total: string; onChain: string } | undefined }> = {};
    for (const name of holders) {
      const h = d.securityToken.capTable.holders.find((x: any) => x.investor.id === inv(name));
      const acc = (await gqlOk<any>(stack.gateway.url, broker, `query($a: ID!) { custodyAccount(id: $a) { balances { asset total onChain } } }`, { a: seeded.accounts[name].id })).custodyAccount;
      out[name] = {
        lots: h ? h.lots.map((l: any) => l.remaining).join('+') : '0',
        lotDates: h ? h.lots.map((l: any) => l.holdingPeriodStart) : [],
        chain: await token.balanceOf(seeded.accounts[name].wallet),
        custody: acc.balances.find((b: any) => b.asset === tokenId) && (({ total, onChain }) => ({ total, onChain }))(acc.balances.find((b: any) => b.asset === tokenId)),
      };
    }
    return { supply: d.securityToken.totalSupply, paused: d.securityToken.paused, chainSupply: await token.totalSupply(), holders: out };
  }

  /** Waits until the split is DONE and custody's books show every holder's chain balance. */
  async function settled(splitId: string) {
    await until('the split to be done', async () => {
      const s = (await desk.run(`query($t: ID!) { splits(tokenId: $t) { id status lastError } }`, { t: tokenId })).splits.find((x: any) => x.id === splitId);
      return s.status === 'DONE' && s;
    }, 120_000);
    return until('custody to book the chain', async () => {
      const p = await positions();
      return Object.values(p.holders).every((h) => h.custody && BigInt(h.custody.total) === h.chain && BigInt(h.custody.onChain) === h.chain) && p;
    }, 120_000);
  }

  beforeAll(async () => {
    stack = await startTestStack({ chain: 'anvil', subgraphEnv: DEMO_SUBGRAPH_ENV });
    seeded = await seedStack(stack, stack.token);
    desk = new IssuerDesk(stack.gateway.url, await stack.token('issuer-co', ['ISSUER_AGENT', 'COMPLIANCE_OFFICER', 'AUDITOR']));
    broker = await stack.token('broker-co', ['BROKER_DEALER']);
    provider = new JsonRpcProvider(stack.chainRpcUrl, undefined, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
    tokenId = await desk.createToken('SPLT', 'REG_D_506C');
    token = new Contract((await desk.deploy(tokenId)).contracts.token, loadArtifact('Token', 'trex').abi, provider);
    // Custody wallets of seeded investors; Northwind's holding is two lots.
    for (const [name, amount, months] of [['Avery Capital LLC', '1000', 14], ['Northwind Pension Fund', '200', 13], ['Northwind Pension Fund', '133', 3], ['Blake Morgan', '7', 2]] as const) {
      issuedAt[`${name}-${amount}`] = monthsAgo(months);
      expect((await desk.issue(tokenId, inv(name), amount, monthsAgo(months))).status).toBe('DONE');
    }
    await until('custody to book the issuance', async () => {
      const p = await positions();
      return Object.values(p.holders).every((h) => h.custody?.total === String(h.chain)) && p;
    }, 120_000);
    clock = Date.now();
  }, 600_000);
  afterAll(async () => {
    provider?.destroy();
    await stack?.stop();
  });

  test('announcing is the issuer agent\'s, with a sensible ratio and price; a retry is the same split', async () => {
    const input = { idempotencyKey: 'splt-2for1', tokenId, numerator: '2', denominator: '1', effectiveDate: new Date(clock + DAY).toISOString(), cashInLieuPrice: '0' };
    const r = await announce(desk.token, input);
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.announceSplit).toMatchObject({ status: 'ANNOUNCED', numerator: '2', denominator: '1', holders: [] });
    expect((await announce(desk.token, input)).body.data.announceSplit.id).toBe(r.body.data.announceSplit.id);
    expect(codeOf(await announce(desk.token, { ...input, numerator: '3' }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    const fresh = (o: object) => ({ ...input, idempotencyKey: `k-${Math.random()}`, ...o });
    expect(codeOf(await announce(desk.token, fresh({})))).toBe('SPLIT.ANOTHER_PENDING');
    expect(codeOf(await announce(desk.token, fresh({ numerator: '1' })))).toBe('INPUT.INVALID_RATIO');
    expect(codeOf(await announce(desk.token, fresh({ denominator: '0' })))).toBe('INPUT.INVALID_RATIO');
    expect(codeOf(await announce(desk.token, fresh({ numerator: '1001' })))).toBe('INPUT.RATIO_TOO_LARGE');
    expect(codeOf(await announce(desk.token, fresh({ cashInLieuPrice: '-1' })))).toBe('INPUT.INVALID_PRICE');
    expect(codeOf(await announce(desk.token, fresh({ numerator: '9'.repeat(78) })))).toBe('INPUT.RATIO_TOO_LARGE');
    expect(codeOf(await announce(broker, fresh({})))).toBe('FORBIDDEN');
    expect(codeOf(await announce(await stack.token('other-issuer', ['ISSUER_AGENT']), fresh({})))).toBe('FORBIDDEN');
    // Nothing happens before the effective date.
    await runDueSplits(services().splits);
    expect((await desk.run(`query($t: ID!) { splits(tokenId: $t) { status } }`, { t: tokenId })).splits).toEqual([{ status: 'ANNOUNCED' }]);
  });

  test('a 2-for-1 split doubles every lot (same dates), the chain mints the difference, custody books it', async () => {
    const before = await positions();
    const splitId = (await desk.run(`query($t: ID!) { splits(tokenId: $t) { id } }`, { t: tokenId })).splits[0].id;
    // Anyone may follow a token's splits (the terms are public), from the announcement on.
    const client = wsClient(stack.gateway.url, await stack.token('other-bd', ['BROKER_DEALER']));
    const events: string[] = [];
    const followed = new Promise<void>((resolve, reject) => {
      client.subscribe({ query: `subscription($t: ID!) { splitStatusChanged(tokenId: $t, after: "0") { status split { numerator denominator } } }`, variables: { t: tokenId } }, {
        next: (e) => { const x = (e.data as any).splitStatusChanged; events.push(`${x.status} ${x.split.numerator}:${x.split.denominator}`); if (x.status === 'DONE') resolve(); },
        error: reject, complete: () => resolve(),
      });
    });
    // The service clock reaches the effective date (no test waits a day).
    services().now = () => new Date(Date.now() + 2 * DAY);
    const after = await settled(splitId);
    await followed;
    await client.dispose();
    expect(events).toEqual(['ANNOUNCED 2:1', 'CHAIN 2:1', 'DONE 2:1']);
    expect(after.supply).toBe('2680');
    expect(after.chainSupply).toBe(2680n);
    expect(after.paused).toBe(false);
    expect(Object.fromEntries(Object.entries(after.holders).map(([n, h]) => [n, [h.lots, String(h.chain), h.custody!.total]]))).toEqual({
      'Avery Capital LLC': ['2000', '2000', '2000'], 'Northwind Pension Fund': ['400+266', '666', '666'], 'Blake Morgan': ['14', '14', '14'],
    });
    // Rule 144 holding periods run on from the original acquisitions.
    for (const n of holders) expect(after.holders[n].lotDates).toEqual(before.holders[n].lotDates);
    // The cap table as of before the split still shows the units then.
    const past = await desk.run(`query($t: ID!, $at: DateTime!) { securityToken(id: $t) { capTable(asOf: $at) { totalSupply } } }`, { t: tokenId, at: new Date(clock).toISOString() });
    expect(past.securityToken.capTable.totalSupply).toBe('1340');
    const s = (await desk.run(`query($t: ID!) { splits(tokenId: $t) { ${SPLIT} } }`, { t: tokenId })).splits[0];
    expect(s).toMatchObject({ status: 'DONE', supplyBefore: '1340', supplyAfter: '2680', lastError: null });
    expect(s.txHashes.length).toBeGreaterThan(0);
    expect(s.holders.every((h: any) => h.cashInLieuStatus === 'NONE')).toBe(true);
  }, 300_000);

  test('a split found half done after a restart sends nothing twice', async () => {
    const s = (await desk.run(`query($t: ID!) { splits(tokenId: $t) { id txHashes } }`, { t: tokenId })).splits[0];
    // As if the process died after its transactions were mined, before it recorded the split done.
    await stack.subgraphs.issuance.db.query(`UPDATE splits SET status = 'CHAIN' WHERE id = $1`, [s.id]);
    await runDueSplits(services().splits);
    const again = (await desk.run(`query($t: ID!) { splits(tokenId: $t) { id status txHashes } }`, { t: tokenId })).splits[0];
    expect(again).toEqual({ id: s.id, status: 'DONE', txHashes: s.txHashes });
    expect(await token.totalSupply()).toBe(2680n);
  });

  test('a 1-for-10 reverse split burns on chain and at custody; fractions are owed in cash', async () => {
    const r = await announce(desk.token, { idempotencyKey: 'splt-1for10', tokenId, numerator: '1', denominator: '10', effectiveDate: new Date(Date.now() + DAY).toISOString(), cashInLieuPrice: '5000000' });
    expect(r.body.errors).toBeUndefined();
    services().now = () => new Date(Date.now() + 3 * DAY);
    const after = await settled(r.body.data.announceSplit.id);
    expect(after.chainSupply).toBe(267n);
    expect(Object.fromEntries(Object.entries(after.holders).map(([n, h]) => [n, [h.lots, String(h.chain), h.custody!.total]]))).toEqual({
      'Avery Capital LLC': ['200', '200', '200'], 'Northwind Pension Fund': ['40+26', '66', '66'], 'Blake Morgan': ['1', '1', '1'],
    });
    const s = (await desk.run(`query($t: ID!) { splits(tokenId: $t) { ${SPLIT} } }`, { t: tokenId })).splits[0];
    expect(Object.fromEntries(s.holders.map((h: any) => [h.investorId, [h.before, h.after, h.fractionNumerator, h.cashInLieu, h.cashInLieuStatus]]))).toEqual({
      [inv('Avery Capital LLC')]: ['2000', '200', '0', '0', 'NONE'],
      // 666 / 10 = 66.6: 0.6 of a new unit at 5,000,000 cash base units
      [inv('Northwind Pension Fund')]: ['666', '66', '6', '3000000', 'OWED'],
      [inv('Blake Morgan')]: ['14', '1', '4', '2000000', 'OWED'],
    });
    // The broker sees its clients' rows; another organisation sees the terms and no holder.
    const mine = (await gqlOk<any>(stack.gateway.url, broker, `query($t: ID!) { splits(tokenId: $t) { holders { investorId } } }`, { t: tokenId })).splits[0];
    expect(mine.holders).toHaveLength(3);
    const other = (await gqlOk<any>(stack.gateway.url, await stack.token('other-bd', ['BROKER_DEALER']), `query($t: ID!) { splits(tokenId: $t) { numerator holders { investorId } } }`, { t: tokenId })).splits[0];
    expect(other).toEqual({ numerator: '1', holders: [] });
  }, 300_000);
});
