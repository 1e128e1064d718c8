import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Contract, verifyTypedData } from 'ethers';
import { DVP_CONSENT_TYPES, dvpDomain } from '../../subgraphs/custody/dvp-signing.js';
import { nettingCycle } from '../../subgraphs/settlement/netting.js';
import type { ReplyOf } from '../../subgraphs/kit/contracts/calls.js';
import { dbLabel } from '../support/db.js';
import { ATTESTATION_KEY, SettlementWorld, Wallet, gqlOk, waitFor, type Party, type TypedDataJson } from './support.js';

const VENUE = 'BLOCK-VENUE';

describe(`netted settlement (DvP model 2) on anvil (${dbLabel()})`, () => {
  let w: SettlementWorld;
  let tokenId: string, token: Contract;
  let a: Party, b: Party, c: Party;

  beforeAll(async () => {
    // The cycle is run by the test, so that the three trades are sure to share it.
    w = await SettlementWorld.start({ SETTLEMENT_MODE: 'NETTED', SETTLEMENT_NETTING_INTERVAL_MS: '3600000' });
    ({ tokenId, token } = await w.token506b('NETT'));
    [a, b, c] = [await w.party('Net A', 'alpha-bd'), await w.party('Net B', 'beta-bd'), await w.party('Net C', 'gamma-bd')];
    await w.issue(tokenId, a, 100n);
    await w.issue(tokenId, c, 50n);
    await w.fund(a, 50_000_000n);
    await w.fund(b, 50_000_000n);
    await w.fund(c, 50_000_000n);
    await w.authorizeVenue(VENUE, tokenId);
  }, 300_000);
  afterAll(async () => w?.stop());

  test('trades of a token settle in one transaction: security legs gross, cash netted per party; books and attestations per trade', async () => {
    const before = { aSec: await token.balanceOf(a.wallet), cSec: await token.balanceOf(c.wallet), aCash: await w.cash.balanceOf(a.wallet), bCash: await w.cash.balanceOf(b.wallet), cCash: await w.cash.balanceOf(c.wallet) };
    const t = (ref: string, seller: Party, buyer: Party, quantity: string, price: string) => w.submit(w.agent, {
      venue: VENUE, venueReference: ref, tokenId, sellerAccountId: seller.accountId, buyerAccountId: buyer.accountId, quantity, price, tradeTime: new Date().toISOString(),
    }).then((r) => r.body.data!.submitExternalTrade.id);
    const ids = [await t('n-1', a, b, '10', '2'), await t('n-2', c, a, '4', '2.5'), await t('n-3', a, c, '2', '3')];
    for (const id of ids) await w.waitStatus(id, ['VERIFIED'], 20_000);
    expect(await nettingCycle(w.services())).toBe(1);
    const settled = await Promise.all(ids.map((id) => w.waitStatus(id, ['SETTLED'])));
    const [first] = settled;
    expect(new Set(settled.map((s) => s.txHash)).size).toBe(1);
    expect(first.batch).toMatchObject({ mode: 'NETTED', status: 'SETTLED', settlementCount: 3 });
    // A: +20 -10 +6 = +16; B: -20; C: +10 -6 = +4. Two cash transfers instead of three.
    const legs = first.batch!.legs;
    const cashLegs = legs.filter((l) => l.token === w.cash.target);
    expect(legs).toHaveLength(5);
    expect(cashLegs.map((l) => [l.from, l.amount]).sort()).toEqual([[b.wallet, '16000000'], [b.wallet, '4000000']].sort());
    expect(await token.balanceOf(a.wallet)).toBe(before.aSec - 12n + 4n);
    expect(await token.balanceOf(c.wallet)).toBe(before.cSec - 4n + 2n);
    expect(await w.cash.balanceOf(a.wallet)).toBe(before.aCash + 16_000_000n);
    expect(await w.cash.balanceOf(b.wallet)).toBe(before.bCash - 20_000_000n);
    expect(await w.cash.balanceOf(c.wallet)).toBe(before.cCash + 4_000_000n);
    for (const p of [a, b, c]) {
      expect(await w.balance(p.accountId, tokenId)).toMatchObject({ total: String(await token.balanceOf(p.wallet)), reserved: '0' });
      expect(await w.balance(p.accountId, 'CASH')).toMatchObject({ total: String(await w.cash.balanceOf(p.wallet)), reserved: '0' });
    }
    for (const s of settled) {
      const td = JSON.parse(s.attestation!.typedData) as TypedDataJson;
      const { EIP712Domain: _omit, ...types } = td.types;
      expect(verifyTypedData(td.domain, types, td.message, s.attestation!.signature)).toBe(new Wallet(ATTESTATION_KEY).address);
      expect(td.message).toMatchObject({ settlementId: s.id, txHash: first.txHash });
    }
  }, 180_000);

  test('custody signs a consent only for what settlement holds there, approves only a genuine DvP contract, and lets only settlement take over trading\'s reservations', async () => {
    const dvp = (await gqlOk<{ settlementAgent: { dvpContract: string; chainId: number } }>(w.url, w.agent, '{ settlementAgent { dvpContract chainId } }')).settlementAgent;
    await w.rpc('custody', 'reserve', { accountId: a.accountId, asset: tokenId, amount: '5', idempotencyKey: 'probe-1', reason: 'probe' });
    const legs = (n: string) => [{ token: token.target, from: a.wallet, to: b.wallet, amount: n }, { token: w.cash.target, from: b.wallet, to: a.wallet, amount: '1' }];
    type Signed = ReplyOf<'custody', 'signDvpConsents'>;
    const consent = (n: string, keys = ['probe-1']) => ({
      accountId: a.accountId, reservationKeys: keys, chainId: dvp.chainId, dvp: dvp.dvpContract, batchId: '0x' + '12'.repeat(32), legs: legs(n), deadline: Math.floor(Date.now() / 1000) + 60,
    });
    // One list: each request answered on its own, a refusal beside a signature.
    const { results } = await w.rpc<Signed>('custody', 'signDvpConsents', { consents: [consent('6'), consent('5', ['no-such-key']), consent('5')] });
    expect(results.slice(0, 2)).toMatchObject([{ ok: false, error: { code: 'CUSTODY.CONSENT_NOT_COVERED' } }, { ok: false, error: { code: 'CUSTODY.UNKNOWN_RESERVATION' } }]);
    const ok = results[2].ok ? results[2].value : null;
    const signer = verifyTypedData(dvpDomain(dvp.chainId, dvp.dvpContract), DVP_CONSENT_TYPES,
      { batchId: '0x' + '12'.repeat(32), legs: legs('5'), nonces: ok!.nonces, deadline: ok!.deadline }, ok!.signature);
    expect(signer).toBe(a.wallet);
    // Another service cannot use settlement's reservation.
    expect((await w.rpc<Signed>('custody', 'signDvpConsents', { consents: [consent('5')] }, 'trading')).results).toMatchObject([{ ok: false, error: { code: 'CUSTODY.UNKNOWN_RESERVATION' } }]);
    await expect(w.rpc('custody', 'approveSpender', { accountId: a.accountId, asset: tokenId, spender: w.cash.target })).rejects.toMatchObject({ code: 'CUSTODY.NOT_A_DVP_CONTRACT' });
    await expect(w.rpc('custody', 'adoptReservation', { fromService: 'settlement', reservationKey: 'probe-1', amount: '1', idempotencyKey: 'x', reason: 'x' }, 'trading'))
      .rejects.toMatchObject({ code: 'FORBIDDEN' });
    await w.rpc('custody', 'release', { reservationKey: 'probe-1' });
    await waitFor('released', () => w.balance(a.accountId, tokenId), (x) => x.reserved === '0');
  });
});
