/**
 * What settlement asks issuance and custody, over their internal operations
 * (service credential). Facts that do not change once made (an account's
 * owner and wallet, a token's contracts and decimals, an asset's contract)
 * are cached briefly; decisions (eligibility, reservations, consents,
 * bookings) never are. Eligibility questions, holds, consents and bookings
 * asked for concurrently (the worker verifies, prepares and books many trades
 * at once) travel together in one list call each, answered item by item.
 */
import { Coalescer, peerListMax } from '../kit/coalesce.js';
import { MAX_BATCH, itemError, peerCalls, peerItemError, type RequestOf } from '../kit/contracts/calls.js';
import type { Item } from '../kit/contracts/wire.js';
import type { InternalClient } from '../kit/internal.js';
import type { RuleResultJson, TokenChainJson, TransferOccasion } from './store/settlements.js';
import type { LegJson } from './store/batches.js';

export interface TokenInfo { id: string; symbol: string; decimals: number; exemption: string; paused: boolean; chain: TokenChainJson | null }
export interface AccountInfo { id: string; org: string; investorId: string; kind: string; walletAddress: string }
export interface EligibilityAnswer { allowed: boolean; results: RuleResultJson[]; notApplicable: string[]; evaluatedAt: string }
export interface ConsentAnswer { signer: string; nonces: string[]; deadline: number; signature: string }

export interface SettlementPeers {
  token(tokenId: string): Promise<TokenInfo | null>;
  account(accountId: string): Promise<AccountInfo | null>;
  eligibility(q: { tokenId: string; fromInvestorId: string; toInvestorId: string; amount: bigint; at: Date; occasion?: TransferOccasion }): Promise<EligibilityAnswer>;
  /** Reserves under settlement's own key. */
  reserve(r: { accountId: string; asset: string; amount: bigint; key: string; reason: string }): Promise<void>;
  /** Takes over `amount` of trading's reservation `tradingKey` as settlement's reservation `key`. */
  adopt(r: { tradingKey: string; amount: bigint; key: string; reason: string }): Promise<void>;
  /** Releases whatever settlement's reservation `key` still holds. */
  release(key: string): Promise<void>;
  /** Once the chain settled: settlement's reservations consumed and the counter-assets credited, in one custody transaction. */
  book(r: { idempotencyKey: string; reason: string; consume: { key: string; amount: bigint }[]; credit: { accountId: string; asset: string; amount: bigint }[] }): Promise<void>;
  assetContract(asset: string): Promise<string | null>;
  approveSpender(r: { accountId: string; asset: string; spender: string }): Promise<{ walletAddress: string; txHash: string | null }>;
  consent(r: { accountId: string; reservationKeys: string[]; chainId: number; dvp: string; batchId: string; legs: LegJson[]; deadline: number }): Promise<ConsentAnswer>;
}

/** A tiny TTL cache of lookups; a miss (null) is not kept, nor is a failure. */
function cached<T>(ttlMs: number, load: (key: string) => Promise<T | null>): (key: string) => Promise<T | null> {
  const hits = new Map<string, { at: number; value: Promise<T | null> }>();
  return (key) => {
    const now = Date.now();
    const hit = hits.get(key);
    if (hit && now - hit.at < ttlMs) return hit.value;
    const value = load(key);
    hits.set(key, { at: now, value });
    value.then((v) => { if (v === null) hits.delete(key); }, () => hits.delete(key));
    if (hits.size > 10_000) for (const [k, h] of hits) if (now - h.at >= ttlMs) hits.delete(k);
    return value;
  };
}

export function httpPeers(issuance: InternalClient, custody: InternalClient, cacheMs = 0, consentListMax = MAX_BATCH): SettlementPeers {
  const token = cached<TokenInfo>(cacheMs, (tokenId) => issuance.call('token', { tokenId }));
  const account = cached<AccountInfo>(cacheMs, (accountId) => custody.call('account', { accountId }));
  const asset = cached<string>(cacheMs, async (a) => (await custody.call<{ contractAddress: string | null } | null>('asset', { asset: a }))?.contractAddress ?? null);
  const iss = peerCalls(issuance, 'issuance');
  const cus = peerCalls(custody, 'custody');
  type Question = RequestOf<'issuance', 'transferEligibilityMany'>['questions'][number];
  type Hold = RequestOf<'custody', 'holdMany'>['holds'][number];
  type Booking = RequestOf<'custody', 'bookSettlements'>['bookings'][number];
  type Consent = RequestOf<'custody', 'signDvpConsents'>['consents'][number];
  const eligibility = new Coalescer<Question, EligibilityAnswer>(async (questions) => (await iss.call('transferEligibilityMany', { questions })).answers
    .map((a, i) => (a.ok ? { ...a.value, notApplicable: [...(a.value.notApplicable ?? [])], results: a.value.results as RuleResultJson[], evaluatedAt: new Date(questions[i].at!).toISOString() } : itemError('issuance', a.error))),
  { maxBatch: MAX_BATCH, maxInFlight: 2 });
  // Custody locks a list's rows in one global order (reservations, claims, balances), so lists run at once without
  // deadlocking; two of each kind in flight, the rest leave together in the next.
  // An item custody refuses retryably (a hold or booking whose own transaction failed, a sweep under way) is custody
  // unavailable for now, as its single call would be: the step waits and retries without using up an attempt.
  const answers = <T>(results: readonly Item<T>[]) => results.map((r) => (r.ok ? r.value : peerItemError('custody', r.error)));
  const holds = new Coalescer<Hold, unknown>(async (list) => answers((await cus.call('holdMany', { holds: list })).results),
    { maxBatch: MAX_BATCH, maxInFlight: 2 });
  const bookings = new Coalescer<Booking, unknown>(async (list) => answers((await cus.call('bookSettlements', { bookings: list })).results),
    { maxBatch: MAX_BATCH, maxInFlight: 2 });
  // The consents of every payer of the batches prepared at once travel together; a refusal answers its own request.
  // Custody's list limit is its own setting: a list it refuses for its length goes again in lists of its size.
  const consents = new Coalescer<Consent, ConsentAnswer>(async (list) => answers((await cus.call('signDvpConsents', { consents: list })).results),
    { maxBatch: consentListMax, maxInFlight: 2, peerMax: peerListMax });
  return {
    token,
    account,
    eligibility: (q) => eligibility.request({
      tokenId: q.tokenId, fromInvestorId: q.fromInvestorId, toInvestorId: q.toInvestorId, amount: q.amount, at: q.at, kind: 'SECONDARY_TRADE',
      ...(q.occasion && q.occasion !== 'SALE' && { occasion: q.occasion }),
    }),
    async reserve(r) {
      await holds.request({ kind: 'RESERVE', accountId: r.accountId, asset: r.asset, amount: r.amount, idempotencyKey: r.key, reason: r.reason });
    },
    async adopt(r) {
      await holds.request({ kind: 'ADOPT', fromService: 'trading', reservationKey: r.tradingKey, amount: r.amount, idempotencyKey: r.key, reason: r.reason });
    },
    async release(key) {
      await custody.call('release', { reservationKey: key });
    },
    async book(r) {
      await bookings.request({
        idempotencyKey: r.idempotencyKey, reason: r.reason,
        consume: r.consume.map((c) => ({ reservationKey: c.key, amount: c.amount })),
        credit: r.credit.map((c) => ({ accountId: c.accountId, asset: c.asset, amount: c.amount })),
      });
    },
    assetContract: asset,
    approveSpender: (r) => custody.call('approveSpender', r),
    consent: (r) => consents.request(r),
  };
}
