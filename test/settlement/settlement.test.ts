import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Contract, verifyTypedData } from 'ethers';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { loadArtifact } from '../../subgraphs/kit/chain/artifacts.js';
import { createChainClient } from '../../subgraphs/kit/chain/client.js';
import { ATTESTATION_DOMAIN_NAME, ATTESTATION_TYPES } from '../../subgraphs/settlement/domain/attestation.js';
import { dbLabel } from '../support/db.js';
import { ATTESTATION_KEY, SettlementWorld, Wallet, gql, gqlOk, holdGross, monthsAgo, waitFor, type Party, type TypedDataJson } from './support.js';

const VENUE = 'OTHER-ATS';

/** verifyAttestation's answer. */
interface Verification { valid: boolean; signer: string | null; signedByAgent: boolean; matchesSettlement: boolean; reason: string | null }
/** One settlementStatusChanged event. */
interface StatusEvent { cursor: string; settlementId: string; status: string; previousStatus: string | null; final: boolean; settlement: { id: string; status: string } }

describe(`settlement of external trades on anvil (${dbLabel()})`, () => {
  let w: SettlementWorld;
  let tokenId: string, token: Contract;
  let seller: Party, buyer: Party;
  let broker: string;
  const agentAddress = new Wallet(ATTESTATION_KEY).address;
  let ref = 0;
  const trade = (o: Record<string, unknown> = {}) => ({
    venue: VENUE, venueReference: `r-${++ref}`, tokenId, buyerAccountId: buyer.accountId, sellerAccountId: seller.accountId,
    quantity: '10', price: '2.5', tradeTime: new Date().toISOString(), ...o,
  });

  beforeAll(async () => {
    w = await SettlementWorld.start({ SETTLEMENT_MAX_ATTEMPTS: '4' });
    ({ tokenId, token } = await w.token506b('ACME'));
    [seller, buyer] = [await w.party('Seller One', 'alpha-bd'), await w.party('Buyer One', 'beta-bd')];
    await w.issue(tokenId, seller, 1_000n);
    await w.fund(buyer, 100_000_000n);
    await w.authorizeVenue(VENUE, tokenId);
    broker = await w.token('beta-bd', ['BROKER_DEALER']);
  }, 300_000);
  afterAll(async () => w?.stop());

  test('an external trade settles delivery versus payment on chain, books follow, and the attestation verifies with ethers alone', async () => {
    const before = { sec: await token.balanceOf(buyer.wallet), cash: await w.cash.balanceOf(seller.wallet) };
    const r = await w.submit(broker, trade());
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data!.submitExternalTrade).toMatchObject({ status: 'RECEIVED', cashAmount: '25000000' });
    const s = await w.waitStatus(r.body.data!.submitExternalTrade.id, ['SETTLED', 'FAILED', 'REJECTED']);
    expect(s).toMatchObject({ status: 'SETTLED', final: true, batch: { mode: 'GROSS', status: 'SETTLED', settlementCount: 1 } });
    expect(s.history.map((h) => h.status)).toEqual(['RECEIVED', 'VERIFIED', 'SETTLING', 'SETTLED']);
    expect(s.eligibility.every((x) => x.passed)).toBe(true);

    // Both legs moved in one transaction.
    const receipt = await w.provider.getTransactionReceipt(s.txHash!);
    expect(receipt?.status).toBe(1);
    expect(await token.balanceOf(buyer.wallet)).toBe(before.sec + 10n);
    expect(await w.cash.balanceOf(seller.wallet)).toBe(before.cash + 25_000_000n);
    const transfers = receipt!.logs.filter((l) => l.topics[0] === token.interface.getEvent('Transfer')!.topicHash);
    expect(new Set(transfers.map((l) => l.address.toLowerCase()))).toEqual(new Set([(token.target as string).toLowerCase(), (w.cash.target as string).toLowerCase()]));

    // Custody's books follow the chain.
    expect(await w.balance(buyer.accountId, tokenId)).toMatchObject({ total: String(await token.balanceOf(buyer.wallet)), reserved: '0' });
    expect(await w.balance(seller.accountId, tokenId)).toMatchObject({ total: String(await token.balanceOf(seller.wallet)), reserved: '0' });
    expect(await w.balance(seller.accountId, 'CASH')).toMatchObject({ total: String(await w.cash.balanceOf(seller.wallet)), reserved: '0' });
    expect(await w.balance(buyer.accountId, 'CASH')).toMatchObject({ total: String(await w.cash.balanceOf(buyer.wallet)), reserved: '0' });

    // The attestation: a third party needs only ethers and the agent's published address.
    const att = s.attestation!;
    const td = JSON.parse(att.typedData) as TypedDataJson;
    const { EIP712Domain: _omit, ...types } = td.types;
    expect(verifyTypedData(td.domain, types, td.message, att.signature)).toBe(agentAddress);
    expect(td.message).toMatchObject({ settlementId: s.id, txHash: s.txHash, quantity: '10', cashAmount: '25000000', blockNumber: String(receipt!.blockNumber) });
    expect(td.message.buyer).toMatchObject({ wallet: buyer.wallet, verified: true, investorId: buyer.investorId });
    expect((td.message.claimTopics as unknown[]).length).toBeGreaterThan(0);
    // ... and checks its facts against the chain (docs/attestations.md).
    const dvp = new Contract(td.domain.verifyingContract!, ['function settledAt(bytes32) view returns (uint256)'], w.provider);
    expect(await dvp.settledAt(td.message.batchId)).toBe(BigInt(receipt!.blockNumber));
    expect(receipt!.to).toBe(td.domain.verifyingContract);
    const v = await gqlOk<{ verifyAttestation: Verification }>(w.url, w.auditor, `query($r: String!, $s: String!) { verifyAttestation(record: $r, signature: $s) { valid signer signedByAgent matchesSettlement } }`, { r: att.typedData, s: att.signature });
    expect(v.verifyAttestation).toEqual({ valid: true, signer: agentAddress, signedByAgent: true, matchesSettlement: true });
  });

  const count = async () => Number((await w.settlement.db.query<{ n: string }>('SELECT count(*) AS n FROM settlements'))[0].n);
  const codeOf = (r: { body: { errors?: { extensions?: Record<string, unknown> }[] } }) => r.body.errors?.[0]?.extensions?.code;

  test('a replayed venue reference returns the same settlement; the same reference with other content is refused', async () => {
    const t = trade();
    const a = await w.submit(broker, t);
    const b = await w.submit(broker, t);
    expect(b.body.data!.submitExternalTrade.id).toBe(a.body.data!.submitExternalTrade.id);
    const other = await w.submit(broker, { ...t, quantity: '11' });
    expect(codeOf(other)).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    // The same price written differently is the same content; a sale said explicitly is the same as none; a gift is other content.
    expect((await w.submit(broker, { ...t, price: '2.50' })).body.data!.submitExternalTrade.id).toBe(a.body.data!.submitExternalTrade.id);
    expect((await w.submit(broker, { ...t, occasion: 'SALE' })).body.data!.submitExternalTrade.id).toBe(a.body.data!.submitExternalTrade.id);
    expect(codeOf(await w.submit(broker, { ...t, occasion: 'GIFT' }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    await w.waitStatus(a.body.data!.submitExternalTrade.id, ['SETTLED']);
  });

  test('bad input is a typed error and records nothing', async () => {
    const before = await count();
    const other = await w.token506b('OTHR');
    const investor = await w.token('beta-bd', ['INVESTOR'], { investorId: buyer.investorId });
    const stranger = await w.token('gamma-bd', ['BROKER_DEALER']);
    const cases: [string, string, Record<string, unknown>][] = [
      [broker, 'SETTLEMENT.UNKNOWN_ACCOUNT', { buyerAccountId: 'acc_' + '0'.repeat(26) }],
      [broker, 'SETTLEMENT.VENUE_NOT_AUTHORIZED', { tokenId: other.tokenId }],
      [broker, 'SETTLEMENT.VENUE_NOT_AUTHORIZED', { venue: 'UNKNOWN-VENUE' }],
      [broker, 'INPUT.AMOUNT_MISMATCH', { cashAmount: '25000001' }],
      [broker, 'INPUT.CASH_NOT_REPRESENTABLE', { price: '0.00000001' }],
      [broker, 'INPUT.SAME_PARTIES', { buyerAccountId: seller.accountId }],
      [broker, 'INPUT.INVALID_QUANTITY', { quantity: '0' }],
      [broker, 'INPUT.INVALID_BIG_INT', { quantity: 10 }],
      [broker, 'INPUT.INVALID_PRICE', { price: '-1' }],
      [broker, 'INPUT.RESERVED_VENUE', { venue: 'TOKENSTACK-ATS' }],
      [broker, 'INPUT.TRADE_TIME_IN_FUTURE', { tradeTime: new Date(Date.now() + 3_600_000).toISOString() }],
      [broker, 'INPUT.INVALID_TOKEN_ID', { tokenId: 'ACME' }],
      [stranger, 'FORBIDDEN', {}],
      [investor, 'FORBIDDEN', {}],
    ];
    for (const [who, code, o] of cases) {
      const r = await w.submit(who, trade(o));
      expect([o, codeOf(r)]).toEqual([o, code]);
    }
    const unknownToken = await gql(w.url, w.agent, `mutation { authorizeVenueToken(venue: "${VENUE}", tokenId: "tok_${'0'.repeat(26)}", authorized: true) { authorized } }`);
    expect(codeOf(unknownToken)).toBe('SETTLEMENT.UNKNOWN_TOKEN');
    expect(codeOf(await gql(w.url, broker, `mutation { authorizeVenueToken(venue: "X", tokenId: "${tokenId}", authorized: true) { authorized } }`))).toBe('FORBIDDEN');
    expect(await count()).toBe(before);
  });

  test('a buyer the rules refuse is REJECTED with every reason, and nothing moves', async () => {
    const noKyc = await w.party('No KYC Buyer', 'beta-bd', { kyc: false });
    await w.fund(noKyc, 50_000_000n);
    const chainBefore = await token.balanceOf(seller.wallet);
    const r = await w.submit(w.agent, trade({ buyerAccountId: noKyc.accountId }));
    const s = await w.waitStatus(r.body.data!.submitExternalTrade.id, ['REJECTED', 'SETTLED', 'FAILED']);
    expect(s).toMatchObject({ status: 'REJECTED', final: true, txHash: null, attestation: null });
    expect(s.rejectionReasons.map((x) => x.code)).toContain('KYC_VALID_RECEIVER');
    expect(s.rejectionReasons.every((x) => !x.passed)).toBe(true);
    expect(s.eligibility.length).toBeGreaterThan(s.rejectionReasons.length);
    expect(await token.balanceOf(seller.wallet)).toBe(chainBefore);
    await waitFor('nothing held', () => w.balance(seller.accountId, tokenId), (b) => b.reserved === '0');
    expect((await w.balance(noKyc.accountId, 'CASH')).reserved).toBe('0');

    // Two accounts of one investor: no change of owner, not a trade to settle.
    const custodian = await w.token('alpha-bd', ['CUSTODIAN']);
    const second = (await gqlOk<{ openCustodyAccount: { id: string } }>(w.url, custodian, `mutation($i: ID!) { openCustodyAccount(input: { idempotencyKey: "second", investorId: $i, kind: SEGREGATED }) { id } }`, { i: seller.investorId })).openCustodyAccount.id;
    const self = await w.submit(w.agent, trade({ buyerAccountId: second }));
    const rejected = await w.waitStatus(self.body.data!.submitExternalTrade.id, ['REJECTED', 'SETTLED', 'FAILED']);
    expect(rejected).toMatchObject({ status: 'REJECTED', rejectionReasons: [expect.objectContaining({ code: 'INPUT.SAME_INVESTOR' })] });
    await waitFor('nothing held', () => w.balance(seller.accountId, tokenId), (b) => b.reserved === '0');
  });

  test('a buyer without the cash FAILS awaiting cash, is retried with backoff, then FAILED for good with the seller\'s reservation released', async () => {
    const poor = await w.party('Poor Buyer', 'beta-bd');
    const r = await w.submit(w.agent, trade({ buyerAccountId: poor.accountId }));
    const id = r.body.data!.submitExternalTrade.id;
    const first = await w.waitStatus(id, ['FAILED']);
    expect(first).toMatchObject({ reasonCode: 'AWAITING_CASH', final: false, attempts: 1 });
    expect((await w.balance(seller.accountId, tokenId)).reserved).toBe('10'); // held while it waits
    const last = await w.waitStatus(id, ['FAILED'], 30_000, (x) => x.final);
    expect(last).toMatchObject({ reasonCode: 'AWAITING_CASH', attempts: 4 });
    expect(last.history.map((h) => h.status)).toEqual(['RECEIVED', 'FAILED', 'FAILED', 'FAILED', 'FAILED']);
    await waitFor('seller reservation released', () => w.balance(seller.accountId, tokenId), (b) => b.reserved === '0');
  });

  test('a settlement agent cancels a waiting settlement with a reason; a settled one cannot be cancelled', async () => {
    const poor = await w.party('Another Poor Buyer', 'beta-bd');
    const id = (await w.submit(w.agent, trade({ buyerAccountId: poor.accountId }))).body.data!.submitExternalTrade.id;
    await w.waitStatus(id, ['FAILED']);
    const cancel = (who: string, sid: string) => gql<{ cancelSettlement: { status: string; reason: string | null; final: boolean; history: { status: string; actor: string | null; reason: string | null }[] } }>(w.url, who, `mutation($id: ID!) { cancelSettlement(id: $id, reason: "counterparty withdrew") { status reason final history { status actor reason } } }`, { id: sid });
    expect(codeOf(await cancel(broker, id))).toBe('FORBIDDEN');
    const c = (await cancel(w.agent, id)).body.data!.cancelSettlement;
    expect(c).toMatchObject({ status: 'CANCELLED', reason: 'counterparty withdrew', final: true });
    expect(c.history.at(-1)).toEqual({ status: 'CANCELLED', actor: `${'settle-co'}-user`, reason: 'counterparty withdrew' });
    await waitFor('seller reservation released', () => w.balance(seller.accountId, tokenId), (b) => b.reserved === '0');
    const settled = (await gqlOk<{ settlements: { id: string }[] }>(w.url, w.agent, '{ settlements(status: SETTLED) { id } }')).settlements[0].id;
    expect(codeOf(await cancel(w.agent, settled))).toBe('SETTLEMENT.NOT_CANCELLABLE');
  });

  test('a DvP transaction the chain refuses FAILS with a reason code, is retried, and settles once the cause is gone', async () => {
    // The settlement's key loses its operator right on the DvP contract for a moment.
    const info = (await gqlOk<{ settlementAgent: { dvpContract: string; attestationSigner: string; mode: string } }>(w.url, w.agent, '{ settlementAgent { dvpContract attestationSigner mode } }')).settlementAgent;
    expect(info).toMatchObject({ attestationSigner: new Wallet(ATTESTATION_KEY).address, mode: 'GROSS' });
    const owner = await createChainClient({ rpcUrl: w.stack.chainRpcUrl!, privateKey: w.stack.anvil!.privateKeys[2] });
    const dvp = new Contract(info.dvpContract, loadArtifact('TokenstackDvP', 'project').abi, owner.signer);
    try {
      await owner.send(dvp.setOperator(owner.address, false));
      const id = (await w.submit(w.agent, trade())).body.data!.submitExternalTrade.id;
      const failed = await w.waitStatus(id, ['FAILED']);
      expect(failed).toMatchObject({ reasonCode: 'CHAIN_ERROR', final: false });
      expect(failed.reason).toMatch(/not an operator/);
      await owner.send(dvp.setOperator(owner.address, true));
      const s = await w.waitStatus(id, ['SETTLED'], 30_000);
      expect(s.history.map((h) => h.status)).toEqual(expect.arrayContaining(['FAILED', 'VERIFIED', 'SETTLING', 'SETTLED']));
      expect(s.batch!.status).toBe('SETTLED');
    } finally {
      await owner.send(dvp.setOperator(owner.address, true)).catch(() => undefined);
      await owner.close();
    }
  });

  test('gross trades ready together share one DvP transaction; one whose seller was frozen after verification fails alone with its reason, the others settle once', async () => {
    const frozen = await w.party('Seller Frozen Later', 'alpha-bd');
    const payer = await w.party('Buyer Of Four', 'beta-bd');
    await w.issue(tokenId, frozen, 100n);
    await w.fund(payer, 100_000_000n);
    const freeze = (on: boolean) => w.desk.run(`mutation($t: ID!, $i: ID!, $f: Boolean!) { freezeInvestor(tokenId: $t, investorId: $i, frozen: $f, reason: "investigation") { id } }`, { t: tokenId, i: frozen.investorId, f: on });
    // Each batch is held once consented, so that all four leave at once (one settleMany).
    const hold = holdGross(w.services().chain);
    const settledBefore = await token.balanceOf(payer.wallet);
    let ids: string[] = [];
    try {
      const sellers = [seller, seller, frozen, seller];
      ids = await Promise.all(sellers.map(async (p) => (await w.submit(w.agent, trade({ sellerAccountId: p.accountId, buyerAccountId: payer.accountId, quantity: '3' }))).body.data!.submitExternalTrade.id));
      await waitFor('four batches consented and ready to send', async () => hold.held.size, (k) => k >= 4, 120_000);
      await freeze(true);
    } finally {
      hold.release();
    }
    try {
      const others = await Promise.all([ids[0], ids[1], ids[3]].map((id) => w.waitStatus(id, ['SETTLED', 'FAILED', 'REJECTED'])));
      expect(others.map((o) => [o.status, o.reason])).toEqual([['SETTLED', null], ['SETTLED', null], ['SETTLED', null]]);
      const failed = await w.waitStatus(ids[2], ['FAILED', 'REJECTED'], 60_000, (x) => x.history.some((h) => h.status === 'FAILED'));
      expect(failed.history.find((h) => h.status === 'FAILED')).toMatchObject({ reasonCode: 'COUNTERPARTY_INELIGIBLE', reason: expect.stringMatching(/wallet is frozen/) });
      // One transaction: three Settled events and the frozen trade's Failed event, nothing moved for it.
      expect(new Set(others.map((o) => o.txHash)).size).toBe(1);
      const receipt = (await w.provider.getTransactionReceipt(others[0].txHash!))!;
      const dvp = new Contract((await gqlOk<{ settlementAgent: { dvpContract: string } }>(w.url, w.agent, '{ settlementAgent { dvpContract } }')).settlementAgent.dvpContract, loadArtifact('TokenstackDvP', 'project').abi, w.provider);
      const events = receipt.logs.map((l) => dvp.interface.parseLog(l)).filter((e) => e !== null);
      expect(events.map((e) => e.name).sort()).toEqual(['Failed', 'Settled', 'Settled', 'Settled']);
      expect(events.filter((e) => e.name === 'Settled').map((e) => e.args.batchId).sort()).toEqual(others.map((o) => o.batch!.chainBatchId).sort());
      expect(await token.balanceOf(payer.wallet)).toBe(settledBefore + 9n);
      expect(await w.balance(frozen.accountId, tokenId)).toMatchObject({ total: '100' });
    } finally {
      await freeze(false);
    }
  }, 180_000);

  test('an external trade recorded as a gift by an affiliate settles, and the receiver\'s lot tacks the giver\'s holding period instead of starting afresh (17 CFR 230.144(d)(3))', async () => {
    const giver = await w.party('Giving Director', 'alpha-bd');
    const donee = await w.party('Gift Receiver', 'beta-bd');
    await w.fund(donee, 100_000_000n);
    await w.desk.run(`mutation($i: ID!) { recordAffiliation(investorId: $i, since: "2020-01-01T00:00:00Z", reason: "director") { id } }`, { i: giver.investorId });
    const issued = monthsAgo(13);
    await w.issue(tokenId, giver, 100n, issued);
    const lotOf = async (txHash: string) => {
      const d = await w.desk.run<{ securityToken: { capTable: { holders: { investor: { id: string }; lots: { txHash: string; holdingPeriodStart: string; restricted: boolean }[] }[] } } }>(
        `query($t: ID!) { securityToken(id: $t) { capTable { holders { investor { id } lots { txHash holdingPeriodStart restricted } } } } }`, { t: tokenId });
      return d.securityToken.capTable.holders.find((h) => h.investor.id === donee.investorId)?.lots.find((l) => l.txHash === txHash);
    };
    const settle = async (o: Record<string, unknown>) => {
      const r = await w.submit(w.agent, trade({ sellerAccountId: giver.accountId, buyerAccountId: donee.accountId, quantity: '10', ...o }));
      expect(r.body.errors).toBeUndefined();
      return w.waitStatus(r.body.data!.submitExternalTrade.id, ['SETTLED', 'FAILED', 'REJECTED']);
    };
    const gift = await settle({ occasion: 'GIFT' });
    expect({ status: gift.status, reason: gift.reason }).toEqual({ status: 'SETTLED', reason: null });
    const tacked = await waitFor('the donee\'s lot to tack the giver\'s period', () => lotOf(gift.txHash!), (l): l is NonNullable<typeof l> => !!l && new Date(l.holdingPeriodStart).getTime() === issued.getTime());
    expect(tacked).toMatchObject({ restricted: true });
    // The same affiliate's sale: the buyer's period starts at the purchase.
    const sale = await settle({ quantity: '1' }); // within the affiliate's volume limit (1% of the supply, the gift counted)
    expect(sale.status).toBe('SETTLED');
    const fresh = await waitFor('the buyer\'s lot', () => lotOf(sale.txHash!), (l): l is NonNullable<typeof l> => !!l);
    expect(new Date(fresh.holdingPeriodStart).getTime()).toBeGreaterThan(monthsAgo(1).getTime());
  });

  test('a forged or altered attestation does not verify', async () => {
    const { settlements } = await gqlOk<{ settlements: { id: string; attestation: { typedData: string; signature: string } }[] }>(w.url, w.auditor, '{ settlements(status: SETTLED) { id attestation { typedData signature } } }');
    const att = settlements[0].attestation;
    const td = JSON.parse(att.typedData) as TypedDataJson;
    const verify = (record: string, signature: string) =>
      gql<{ verifyAttestation: Verification }>(w.url, w.auditor, `query($r: String!, $s: String!) { verifyAttestation(record: $r, signature: $s) { valid signer signedByAgent matchesSettlement reason } }`, { r: record, s: signature });

    const altered = { ...td, message: { ...td.message, quantity: '1000' } };
    const a = (await verify(JSON.stringify(altered), att.signature)).body.data!.verifyAttestation;
    expect(a).toMatchObject({ valid: false, signedByAgent: false, matchesSettlement: false });

    const forger = Wallet.createRandom();
    const { EIP712Domain: _omit, ...types } = td.types;
    const forged = await forger.signTypedData(td.domain, types, altered.message);
    const f = (await verify(JSON.stringify(altered), forged)).body.data!.verifyAttestation;
    expect(f).toMatchObject({ valid: false, signer: forger.address, signedByAgent: false });
    expect(f.reason).toMatch(/not by the settlement agent/);

    // The agent's own signature on a record that is not the stored one.
    const agentSigned = await new Wallet(ATTESTATION_KEY).signTypedData(td.domain, ATTESTATION_TYPES, altered.message);
    expect((await verify(JSON.stringify(altered), agentSigned)).body.data!.verifyAttestation).toMatchObject({ valid: false, signedByAgent: true, matchesSettlement: false });
    expect(td.domain.name).toBe(ATTESTATION_DOMAIN_NAME);

    expect(codeOf(await verify('not json', att.signature))).toBe('INPUT.INVALID_ATTESTATION');
    expect(codeOf(await verify(att.typedData, '0x1234'))).toBe('INPUT.INVALID_ATTESTATION');
  });

  test('status changes stream over graphql-ws, scoped to the caller\'s organisation, and resume from a cursor', async () => {
    const id = (await w.submit(broker, trade())).body.data!.submitExternalTrade.id;
    await w.waitStatus(id, ['SETTLED']);
    const url = w.settlement.url.replace(/^http/, 'ws');
    const take = async (token: string, variables: Record<string, unknown>, n: number, ms = 5_000) => {
      const client = createClient({ url, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: true });
      const got: StatusEvent[] = [];
      try {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => { stop(); resolve(); }, ms);
          const stop = client.subscribe<{ settlementStatusChanged: StatusEvent }>({
            query: `subscription($s: ID, $a: ID, $after: String) { settlementStatusChanged(settlementId: $s, accountId: $a, after: $after) {
              cursor settlementId status previousStatus final settlement { id status } } }`, variables,
          }, {
            next: (v) => {
              if (v.errors) { clearTimeout(t); stop(); return reject(new Error(JSON.stringify(v.errors))); }
              got.push(v.data!.settlementStatusChanged);
              if (got.length >= n) { clearTimeout(t); stop(); resolve(); }
            },
            error: (e) => { clearTimeout(t); reject(e instanceof Error ? e : new Error(JSON.stringify(e))); }, complete: () => undefined,
          });
        });
      } finally {
        await client.dispose();
      }
      return got;
    };
    const all = await take(broker, { s: id, after: '0' }, 4);
    expect(all.map((e) => [e.status, e.previousStatus])).toEqual([['RECEIVED', null], ['VERIFIED', 'RECEIVED'], ['SETTLING', 'VERIFIED'], ['SETTLED', 'SETTLING']]);
    expect(all[3].settlement).toEqual({ id, status: 'SETTLED' });
    const resumed = await take(broker, { s: id, after: all[1].cursor }, 2);
    expect(resumed.map((e) => e.cursor)).toEqual([all[2].cursor, all[3].cursor]);
    // By account, another organisation sees nothing of it.
    expect((await take(broker, { a: buyer.accountId, after: all[0].cursor }, 3)).map((e) => e.status)).toEqual(['VERIFIED', 'SETTLING', 'SETTLED']);
    expect(await take(await w.token('gamma-bd', ['BROKER_DEALER']), { s: id, after: '0' }, 1, 1_000)).toEqual([]);
  });

  test('every decision is in a hash-chained audit log; verifyAuditLog finds a changed and a removed entry', async () => {
    const { settlements } = await gqlOk<{ settlements: { id: string }[] }>(w.url, w.auditor, '{ settlements(status: SETTLED) { id } }');
    const trail = (await gqlOk<{ auditTrail: { seq: string; kind: string; actor: string; detail: string; prevHash: string; hash: string }[] }>(w.url, w.auditor, `query($id: ID!) { auditTrail(settlementId: $id) { seq kind actor detail prevHash hash } }`, { id: settlements[0].id })).auditTrail;
    expect(trail.map((e) => e.kind)).toEqual(expect.arrayContaining(['STATUS.RECEIVED', 'STATUS.VERIFIED', 'STATUS.SETTLING', 'CHAIN.SUBMITTED', 'CHAIN.SETTLED', 'STATUS.SETTLED']));
    expect((JSON.parse(trail.find((e) => e.kind === 'STATUS.VERIFIED')!.detail) as { rules: unknown[] }).rules.length).toBeGreaterThan(0);
    const check = async (from?: string, to?: string) => (await gqlOk<{ verifyAuditLog: { valid: boolean; from: string; to: string; checked: number; head: { seq: string; hash: string } | null; breaks: { seq: string; kind: string }[] } }>(w.url, w.auditor, `query($f: String, $t: String) { verifyAuditLog(from: $f, to: $t) {
      valid from to checked head { seq hash } breaks { seq kind } } }`, { f: from ?? null, t: to ?? null })).verifyAuditLog;
    const ok = await check();
    expect(ok).toMatchObject({ valid: true, from: '1', breaks: [] });
    expect(ok.checked).toBe(Number(ok.to));
    expect(codeOf(await gql(w.url, broker, '{ verifyAuditLog { valid } }'))).toBe('FORBIDDEN');

    const db = w.settlement.db;
    await expect(db.query("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3")).rejects.toThrow(/append-only/);
    await db.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change');
    try {
      await db.query(`UPDATE audit_log SET detail = jsonb_set(detail, '{reason}', '"edited"') WHERE seq = 3`);
      await db.query('DELETE FROM audit_log WHERE seq = 5');
      const bad = await check();
      expect(bad.valid).toBe(false);
      expect(bad.breaks).toEqual(expect.arrayContaining([{ seq: '3', kind: 'CHANGED' }, { seq: '5', kind: 'MISSING' }]));
      expect((await check('6', '8')).valid).toBe(false); // the link to the removed entry cannot be checked
      expect((await check('7', '9')).valid).toBe(true);
      // Entries cut from the end are noticed against the head the outbox recorded.
      await db.query('DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)');
      expect((await check()).breaks).toEqual(expect.arrayContaining([{ seq: ok.to, kind: 'MISSING' }]));
    } finally {
      await db.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change');
    }
  });
});
