import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { newId } from '../../subgraphs/kit/ids.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { issuanceEligibility } from '../../subgraphs/custody/peers.js';
import type { CustodyEnv } from '../../subgraphs/custody/services.js';
import { approvePolicyChange, effectivePolicy, proposePolicyChange, rejectPolicyChange } from '../../subgraphs/custody/policies.js';
import * as w from '../../subgraphs/custody/withdrawals.js';
import { dbLabel } from '../support/db.js';
import { insertDestination } from '../../subgraphs/custody/store/withdrawals.js';
import { FakeEligibility, TestClock, count, openAccount, openCustodyDb, testEnv, testPolicy, user, walletOf } from './support.js';

const code = (p: Promise<unknown>) => p.then(() => 'no error', (e: { extensions?: { code?: string } }) => e.extensions?.code ?? String(e));
const codes = (r: w.RequestWithdrawalResult) => r.refusals.map((x) => x.code).sort();

const TO = '0x000000000000000000000000000000000000bEEF';
const alice = user('acme', 'alice', ['CUSTODIAN']);
const bob = user('acme', 'bob', ['CUSTODIAN']);
const carol = user('acme', 'carol', ['CUSTODIAN']);
const dave = user('acme', 'dave', ['CUSTODIAN']);
const mallory = user('globex', 'mallory', ['CUSTODIAN']);

describe(`withdrawals under the policy (${dbLabel()})`, () => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: TestClock;
  let env: CustodyEnv;
  let acc: string;

  beforeAll(async () => {
    ({ db, cleanup } = await openCustodyDb());
    await ledger.registerAsset(db, 'CASH', '0x' + 'ca'.repeat(20));
  }, 60_000);
  afterAll(async () => cleanup?.());

  // Each test gets its own account, funded with 10 000, and TO allow-listed and past its delay.
  beforeEach(async () => {
    clock = new TestClock();
    env = testEnv(db, { clock });
    acc = await openAccount(db, 'acme');
    await ledger.credit(db, 'settlement', { accountId: acc, asset: 'CASH', amount: 10_000n, idempotencyKey: `dep-${acc}`, reason: 'deposit' });
    await w.addWithdrawalDestination(env, alice, { accountId: acc, address: TO, label: 'treasury' });
    clock.advance(3600);
  });

  const request = (amount: bigint, o: { key?: string; to?: string; by?: typeof alice; asset?: string; account?: string } = {}) =>
    w.requestWithdrawal(env, o.by ?? alice, { accountId: o.account ?? acc, asset: o.asset ?? 'CASH', amount, toAddress: o.to ?? TO, idempotencyKey: o.key ?? `k-${Math.random()}` });
  const available = async () => (await ledger.balance(db, acc, 'CASH')).available;

  describe('the allow-list', () => {
    test('an address not on the allow-list is refused and nothing is reserved', async () => {
      const r = await request(10n, { to: '0x000000000000000000000000000000000000dEaD' });
      expect(r.withdrawal).toBeNull();
      expect(codes(r)).toEqual(['CUSTODY.DESTINATION_NOT_ALLOWED']);
      expect(await available()).toBe('10000');
    });

    test('a new destination is usable only once the configured delay has passed', async () => {
      const other = '0x000000000000000000000000000000000000dEaD';
      const d = await w.addWithdrawalDestination(env, bob, { accountId: acc, address: other, label: 'new' });
      expect(d.usable_from.getTime() - clock.t).toBe(3600 * 1000);
      expect(codes(await request(10n, { to: other }))).toEqual(['CUSTODY.DESTINATION_NOT_YET_USABLE']);
      clock.advance(3599);
      expect(codes(await request(10n, { to: other }))).toEqual(['CUSTODY.DESTINATION_NOT_YET_USABLE']);
      clock.advance(1);
      expect((await request(10n, { to: other })).withdrawal?.status).toBe('PENDING_APPROVAL');
    });

    test('adding a listed address again keeps its original delay; a removed address is refused', async () => {
      const again = await w.addWithdrawalDestination(env, bob, { accountId: acc, address: TO.toLowerCase(), label: 'again' });
      expect(again.usable_from.getTime()).toBeLessThanOrEqual(clock.t);
      await w.removeWithdrawalDestination(env, bob, again.id);
      expect(codes(await request(10n))).toEqual(['CUSTODY.DESTINATION_NOT_ALLOWED']);
    });
    test("the account's own custody wallet is neither a destination nor a withdrawal's: the chain would move nothing while the books fell", async () => {
      const own = await walletOf(db, acc);
      const listed = () => count(db, 'SELECT count(*) AS n FROM withdrawal_destinations WHERE account_id = $1', [acc]);
      const before = await listed();
      for (const address of [own, own.toLowerCase()]) {
        expect(await code(w.addWithdrawalDestination(env, bob, { accountId: acc, address, label: 'self' }))).toBe('CUSTODY.OWN_WALLET');
      }
      expect(await listed()).toBe(before);
      // Another account's wallet stays a destination like any other address.
      const sister = await walletOf(db, await openAccount(db, 'acme'));
      expect((await w.addWithdrawalDestination(env, bob, { accountId: acc, address: sister, label: 'sister' })).address).toBe(sister);
      // Listed before this rule: the request is refused, nothing reserved.
      await insertDestination(db, { id: newId('dst'), account_id: acc, address: own, label: 'old entry', added_by: 'bob', usable_from: new Date(clock.t - 1000), created_at: new Date(clock.t - 1000) });
      const r = await request(10n, { to: own });
      expect([r.withdrawal, codes(r)]).toEqual([null, ['CUSTODY.OWN_WALLET']]);
      expect(await available()).toBe('10000');
    });
  });

  describe('limits', () => {
    test('an amount above the per-withdrawal limit is refused', async () => {
      expect(codes(await request(1_001n))).toEqual(['CUSTODY.WITHDRAWAL_LIMIT_EXCEEDED']);
      expect((await request(1_000n)).withdrawal).not.toBeNull();
    });

    test('the velocity limit counts a rolling window; rejected withdrawals do not count', async () => {
      const first = await request(1_000n);
      await request(1_000n);
      expect(codes(await request(501n))).toEqual(['CUSTODY.VELOCITY_LIMIT_EXCEEDED']);
      await w.rejectWithdrawal(env, bob, first.withdrawal!.id, 'wrong amount');
      expect((await request(501n)).withdrawal).not.toBeNull(); // 1000 + 501 in the window now
      clock.advance(86_400); // the first ones leave the window
      expect((await request(1_000n)).withdrawal).not.toBeNull();
    });

    test('every reason is listed at once, not only the first', async () => {
      const other = '0x000000000000000000000000000000000000dEaD';
      await w.addWithdrawalDestination(env, bob, { accountId: acc, address: other, label: 'new' });
      await ledger.reserve(db, 'trading', { accountId: acc, asset: 'CASH', amount: 9_500n, idempotencyKey: `hold-${acc}`, reason: 'order' });
      const r = await request(2_600n, { to: other });
      expect(codes(r)).toEqual(['CUSTODY.DESTINATION_NOT_YET_USABLE', 'CUSTODY.INSUFFICIENT_AVAILABLE', 'CUSTODY.VELOCITY_LIMIT_EXCEEDED', 'CUSTODY.WITHDRAWAL_LIMIT_EXCEEDED']);
    });
  });

  describe('the approval quorum', () => {
    test('m of n: the request waits for two approvers other than the initiator, then is queued for broadcast', async () => {
      const { withdrawal } = await request(100n);
      expect(withdrawal).toMatchObject({ status: 'PENDING_APPROVAL', approvals_required: 2, initiated_by: 'alice' });
      expect(await available()).toBe('9900');
      expect((await w.approveWithdrawal(env, bob, withdrawal!.id)).status).toBe('PENDING_APPROVAL');
      // Approving twice counts once.
      expect((await w.approveWithdrawal(env, bob, withdrawal!.id)).status).toBe('PENDING_APPROVAL');
      const done = await w.approveWithdrawal(env, carol, withdrawal!.id);
      expect(done.status).toBe('APPROVED');
      expect(done.next_attempt_at).not.toBeNull();
      expect(await count(db, "SELECT count(*) AS n FROM outbox WHERE topic = 'withdrawal.approved' AND key = $1", [done.id])).toBe(1);
    });

    test('the initiator cannot approve their own request', async () => {
      const { withdrawal } = await request(100n);
      expect(await code(w.approveWithdrawal(env, alice, withdrawal!.id))).toBe('CUSTODY.SELF_APPROVAL');
      expect(await count(db, 'SELECT count(*) AS n FROM withdrawal_approvals WHERE withdrawal_id = $1', [withdrawal!.id])).toBe(0);
    });

    test('another organisation cannot approve, reject or even see the request', async () => {
      const { withdrawal } = await request(100n);
      expect(await code(w.approveWithdrawal(env, mallory, withdrawal!.id))).toBe('NOT_FOUND');
      expect(await code(w.rejectWithdrawal(env, mallory, withdrawal!.id, 'no'))).toBe('NOT_FOUND');
      expect(await count(db, 'SELECT count(*) AS n FROM withdrawal_approvals WHERE withdrawal_id = $1', [withdrawal!.id])).toBe(0);
      expect(await available()).toBe('9900');
    });

    test('only CUSTODIANs approve: an investor, a broker or a service is FORBIDDEN', async () => {
      const { withdrawal } = await request(100n);
      for (const who of [user('acme', 'ivan', ['INVESTOR']), user('acme', 'bert', ['BROKER_DEALER']), { ...bob, kind: 'service' as const }]) {
        expect(await code(w.approveWithdrawal(env, who, withdrawal!.id))).toBe('FORBIDDEN');
      }
    });

    test('with a named approver list, a CUSTODIAN not on it is CUSTODY.NOT_AN_APPROVER', async () => {
      env = testEnv(db, { clock, defaults: testPolicy({ approvalsRequired: 1, approvers: ['bob', 'carol'] }) });
      const { withdrawal } = await request(100n);
      expect(await code(w.approveWithdrawal(env, dave, withdrawal!.id))).toBe('CUSTODY.NOT_AN_APPROVER');
      expect((await w.approveWithdrawal(env, carol, withdrawal!.id)).status).toBe('APPROVED');
    });

    test('another service cannot release or consume the reservation behind a withdrawal', async () => {
      const { withdrawal } = await request(100n);
      const ref = { reservationId: withdrawal!.reservation_id };
      expect(await code(ledger.release(db, 'trading', { ref }))).toBe('CUSTODY.RESERVATION_NOT_YOURS');
      expect(await code(ledger.consume(db, 'settlement', { ref, amount: 100n, idempotencyKey: 'steal' }))).toBe('CUSTODY.RESERVATION_NOT_YOURS');
      expect(await available()).toBe('9900');
    });

    test('rejecting releases the reservation; a decided withdrawal cannot be approved or rejected again', async () => {
      const { withdrawal } = await request(100n);
      const rejected = await w.rejectWithdrawal(env, bob, withdrawal!.id, 'unexpected destination');
      expect(rejected).toMatchObject({ status: 'REJECTED', decided_by: 'bob', decision_reason: 'unexpected destination' });
      expect(await available()).toBe('10000');
      expect(await code(w.approveWithdrawal(env, carol, withdrawal!.id))).toBe('CUSTODY.INVALID_STATE');
      expect(await code(w.rejectWithdrawal(env, carol, withdrawal!.id, 'again'))).toBe('CUSTODY.INVALID_STATE');
      expect(await available()).toBe('10000');
    });
  });

  describe('idempotency and bad input', () => {
    test('a replayed request returns the same withdrawal and reserves once; other content under the key is refused', async () => {
      const a = await request(100n, { key: `same-${acc}` });
      const b = await request(100n, { key: `same-${acc}` });
      expect(b.withdrawal!.id).toBe(a.withdrawal!.id);
      expect(await available()).toBe('9900');
      expect(await code(request(101n, { key: `same-${acc}` }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
      expect(await available()).toBe('9900');
    });

    test('malformed input, unknown assets and accounts are typed errors and nothing moves', async () => {
      const foreign = await openAccount(db, 'globex');
      const cases: [Parameters<typeof request>, string][] = [
        [[100n, { to: '0x1234' }], 'INPUT.INVALID_ADDRESS'],
        [[100n, { to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD' }], 'INPUT.INVALID_ADDRESS'], // wrong EIP-55 checksum
        [[100n, { to: '0x0000000000000000000000000000000000000000' }], 'INPUT.INVALID_ADDRESS'],
        [[0n], 'INPUT.INVALID_AMOUNT'],
        [[-5n], 'INPUT.INVALID_AMOUNT'],
        [[100n, { asset: 'DOGE' }], 'INPUT.INVALID_ASSET'],
        [[100n, { asset: newId('tok') }], 'CUSTODY.UNKNOWN_ASSET'],
        [[100n, { account: newId('acc') }], 'CUSTODY.UNKNOWN_ACCOUNT'],
        [[100n, { account: foreign }], 'CUSTODY.UNKNOWN_ACCOUNT'],
        [[100n, { key: '' }], 'INPUT.INVALID_IDEMPOTENCY_KEY'],
      ];
      for (const [args, expected] of cases) expect([args, await code(request(...args))]).toEqual([args, expected]);
      expect(await code(w.addWithdrawalDestination(env, alice, { accountId: acc, address: '0xZZ', label: 'x' }))).toBe('INPUT.INVALID_ADDRESS');
      expect(await available()).toBe('10000');
      expect(await count(db, 'SELECT count(*) AS n FROM withdrawals WHERE account_id = $1', [acc])).toBe(0);
    });

    test('an investor may request from their own account only', async () => {
      const inv = newId('inv');
      const own = await openAccount(db, 'acme', inv);
      await ledger.credit(db, 'settlement', { accountId: own, asset: 'CASH', amount: 500n, idempotencyKey: `dep-${own}`, reason: 'deposit' });
      await w.addWithdrawalDestination(env, alice, { accountId: own, address: TO, label: 'mine' });
      clock.advance(3600);
      const investor = user('acme', 'ivan', ['INVESTOR'], inv);
      expect((await request(100n, { by: investor, account: own })).withdrawal?.initiated_by).toBe('ivan');
      expect(await code(request(100n, { by: investor }))).toBe('CUSTODY.UNKNOWN_ACCOUNT');
    });
  });

  describe('security tokens', () => {
    let tok: string;
    beforeEach(async () => {
      tok = newId('tok');
      await ledger.registerAsset(db, tok, '0x' + 'ab'.repeat(20));
      await ledger.credit(db, 'settlement', { accountId: acc, asset: tok, amount: 50n, idempotencyKey: `tok-${acc}`, reason: 'issued' });
    });

    test('are checked with issuance first, with the holder, the wallet and the destination', async () => {
      const eligibility = new FakeEligibility();
      env = testEnv(db, { clock, eligibility });
      expect((await request(5n, { asset: tok })).withdrawal?.status).toBe('PENDING_APPROVAL');
      expect(eligibility.asked).toEqual([expect.objectContaining({ tokenId: tok, fromAccountId: acc, toAddress: TO, amount: 5n })]);
    });

    test('are refused with issuance\'s reasons when issuance says no, and nothing is reserved', async () => {
      env = testEnv(db, { clock, eligibility: new FakeEligibility({ eligible: false, reasons: [{ code: 'ISSUANCE.RULE_144_HOLDING_PERIOD', message: 'held 3 of 12 months' }] }) });
      const r = await request(5n, { asset: tok });
      expect(r.withdrawal).toBeNull();
      expect(codes(r)).toEqual(['ISSUANCE.RULE_144_HOLDING_PERIOD']);
      expect((await ledger.balance(db, acc, tok)).reserved).toBe('0');
    });

    test('fail closed: when issuance cannot answer, the withdrawal is refused', async () => {
      const down = { call: async () => { throw new Error('connect ECONNREFUSED'); } };
      const silent = { call: async <T>() => ({}) as T };
      for (const client of [down, silent]) {
        env = testEnv(db, { clock, eligibility: issuanceEligibility(client) });
        const r = await request(5n, { asset: tok });
        expect(codes(r)).toEqual(['CUSTODY.ELIGIBILITY_UNAVAILABLE']);
      }
      expect((await ledger.balance(db, acc, tok)).reserved).toBe('0');
    });

    test('issuance\'s evaluation is read strictly: allowed only with allowed true and no failed rule', async () => {
      const asked: unknown[] = [];
      const answering = (answer: unknown) => issuanceEligibility({ call: async <T>(method: string, body: unknown) => { asked.push({ method, body }); return answer as T; } });
      const q = { tokenId: tok, fromInvestorId: 'inv_x', fromAccountId: acc, fromAddress: TO, toAddress: TO, amount: 5n };
      expect(await answering({ allowed: true, results: [{ code: 'KYC_RECEIVER', passed: true, message: 'ok' }] }).check(q)).toEqual({ eligible: true, reasons: [] });
      expect(await answering({ allowed: false, results: [{ code: 'RULE_144_HOLDING_PERIOD', passed: false, message: 'held 3 of 12 months' }, { code: 'KYC_RECEIVER', passed: true }] }).check(q))
        .toEqual({ eligible: false, reasons: [{ code: 'RULE_144_HOLDING_PERIOD', message: 'held 3 of 12 months' }] });
      expect((await answering({ allowed: true, results: [{ code: 'AML', passed: false, message: 'hit' }] }).check(q)).eligible).toBe(false);
      expect((await answering({ allowed: 'yes' }).check(q)).reasons[0].code).toBe('CUSTODY.ELIGIBILITY_UNAVAILABLE');
      expect(asked[0]).toEqual({ method: 'transferEligibility', body: expect.objectContaining({ tokenId: tok, toAddress: TO, amount: '5', kind: 'WITHDRAWAL' }) });
    });

    test('the cash token does not need issuance', async () => {
      const eligibility = new FakeEligibility(new Error('must not be asked'));
      env = testEnv(db, { clock, eligibility });
      expect((await request(5n)).withdrawal).not.toBeNull();
      expect(eligibility.asked).toEqual([]);
    });
  });

  describe('policy changes need the quorum', () => {
    // Each test uses its own organisation so that organisation-wide policies do not leak between tests.
    let org: string;
    let p1: ReturnType<typeof user>, p2: ReturnType<typeof user>, p3: ReturnType<typeof user>;
    beforeEach(() => {
      org = `org-${Math.random().toString(36).slice(2, 8)}`;
      [p1, p2, p3] = ['p1', 'p2', 'p3'].map((s) => user(org, s, ['CUSTODIAN']));
    });

    test('a proposal applies only after m other custodians approve it; the proposer cannot', async () => {
      const change = await proposePolicyChange(env, p1, { idempotencyKey: 'c1', policy: testPolicy({ approvalsRequired: 3, destinationDelaySeconds: 60 }) });
      expect(change).toMatchObject({ status: 'PENDING', approvals_required: 2, base_version: 0 });
      expect(await code(approvePolicyChange(env, p1, change.id))).toBe('CUSTODY.SELF_APPROVAL');
      expect(await code(approvePolicyChange(env, mallory, change.id))).toBe('NOT_FOUND');
      expect((await approvePolicyChange(env, p2, change.id)).status).toBe('PENDING');
      expect((await effectivePolicy(db, env.defaults, org, null)).scope).toBe('DEFAULT');
      expect((await approvePolicyChange(env, p3, change.id)).status).toBe('APPLIED');
      const now = await effectivePolicy(db, env.defaults, org, null);
      expect(now).toMatchObject({ scope: 'ORGANISATION', version: 1, policy: { approvalsRequired: 3, destinationDelaySeconds: 60 } });
    });

    test('the next change needs the new quorum, and an account policy overrides the organisation\'s', async () => {
      const first = await proposePolicyChange(env, p1, { idempotencyKey: 'c1', policy: testPolicy({ approvalsRequired: 1 }) });
      await approvePolicyChange(env, p2, first.id);
      await approvePolicyChange(env, p3, first.id);
      const account = await openAccount(db, org);
      const second = await proposePolicyChange(env, p1, { idempotencyKey: 'c2', accountId: account, policy: testPolicy({ approvalsRequired: 1, maxPerWithdrawal: 5n }) });
      expect(second.approvals_required).toBe(1);
      expect((await approvePolicyChange(env, p2, second.id)).status).toBe('APPLIED');
      expect(await effectivePolicy(db, env.defaults, org, account)).toMatchObject({ scope: 'ACCOUNT', policy: { maxPerWithdrawal: 5n } });
      expect((await effectivePolicy(db, env.defaults, org, null)).policy.maxPerWithdrawal).toBe(1_000n);
    });

    test('of two proposals on the same policy, the one approved second is SUPERSEDED, not silently applied over the first', async () => {
      const a = await proposePolicyChange(env, p1, { idempotencyKey: 'a', policy: testPolicy({ approvalsRequired: 1, maxPerWithdrawal: 1n }) });
      const b = await proposePolicyChange(env, p1, { idempotencyKey: 'b', policy: testPolicy({ approvalsRequired: 1, maxPerWithdrawal: 2n }) });
      await approvePolicyChange(env, p2, a.id);
      await approvePolicyChange(env, p3, a.id);
      await approvePolicyChange(env, p2, b.id);
      expect((await approvePolicyChange(env, p3, b.id)).status).toBe('SUPERSEDED');
      expect((await effectivePolicy(db, env.defaults, org, null)).policy.maxPerWithdrawal).toBe(1n);
    });

    test('a rejected proposal is never applied; bad policies and replays with other content are typed errors', async () => {
      const c = await proposePolicyChange(env, p1, { idempotencyKey: 'r', policy: testPolicy({ approvalsRequired: 1 }) });
      expect((await rejectPolicyChange(env, p2, c.id, 'too lax')).status).toBe('REJECTED');
      expect(await code(approvePolicyChange(env, p3, c.id))).toBe('CUSTODY.INVALID_STATE');
      expect(await code(proposePolicyChange(env, p1, { idempotencyKey: 'r', policy: testPolicy({ approvalsRequired: 2 }) }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
      expect(await code(proposePolicyChange(env, p1, { idempotencyKey: 'x1', policy: testPolicy({ approvalsRequired: 0 }) }))).toBe('INPUT.INVALID_POLICY');
      expect(await code(proposePolicyChange(env, p1, { idempotencyKey: 'x2', policy: testPolicy({ approvalsRequired: 3, approvers: ['p2', 'p3'] }) }))).toBe('INPUT.INVALID_POLICY');
      expect(await code(proposePolicyChange(env, p1, { idempotencyKey: 'x3', policy: testPolicy({ maxPerWindow: -1n }) }))).toBe('INPUT.INVALID_POLICY');
      expect(await code(proposePolicyChange(env, p1, { idempotencyKey: 'x4', accountId: acc, policy: testPolicy() }))).toBe('CUSTODY.UNKNOWN_ACCOUNT');
      expect((await effectivePolicy(db, env.defaults, org, null)).scope).toBe('DEFAULT');
    });

    test('a pending withdrawal keeps the quorum it was requested under', async () => {
      const { withdrawal } = await request(100n);
      const c = await proposePolicyChange(env, alice, { idempotencyKey: `q-${acc}`, accountId: acc, policy: testPolicy({ approvalsRequired: 1 }) });
      await approvePolicyChange(env, bob, c.id);
      await approvePolicyChange(env, carol, c.id);
      expect((await w.approveWithdrawal(env, bob, withdrawal!.id)).status).toBe('PENDING_APPROVAL');
      expect((await w.approveWithdrawal(env, carol, withdrawal!.id)).status).toBe('APPROVED');
    });
  });
});
