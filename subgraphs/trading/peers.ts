/**
 * What trading asks other subgraphs, over their internal RPC (service
 * credential): issuance for tokens, investors and transfer eligibility,
 * custody for accounts and reservations. Token and account facts are cached
 * briefly; eligibility and reservations never are.
 */
import { Coalescer } from '../kit/coalesce.js';
import { peerCalls, peerItemError, type ReplyOf } from '../kit/contracts/calls.js';
import type { InternalClient } from '../kit/internal.js';

export type TokenFacts = NonNullable<ReplyOf<'issuance', 'token'>>;
export type AccountFacts = NonNullable<ReplyOf<'custody', 'account'>>;
/** Issuance's answer; a one-sided question names the missing party and the rules it could not decide. */
export type Eligibility = ReplyOf<'issuance', 'transferEligibility'>;
export type RuleResult = Eligibility['results'][number];
/** A null party: a question about the other one alone (order entry, before the counterparty is known). */
export interface EligibilityQuestion { tokenId: string; fromInvestorId: string | null; toInvestorId: string | null; amount: bigint; kind: 'SECONDARY_TRADE'; at?: Date }
export interface Balance { accountId: string; asset: string; total: string; reserved: string; available: string }

export interface ReserveRequest { accountId: string; asset: string; amount: bigint; key: string; reason: string }

export interface Peers {
  token(tokenId: string): Promise<TokenFacts | null>;
  account(accountId: string): Promise<AccountFacts | null>;
  eligibility(q: EligibilityQuestion): Promise<Eligibility>;
  balance(accountId: string, asset: string): Promise<Balance>;
  /** Throws CUSTODY.INSUFFICIENT_AVAILABLE (a typed GraphQLError) when short. Idempotent by key. */
  reserve(r: ReserveRequest): Promise<void>;
  /** A part (amount, with its own idempotency key) or everything the reservation still holds. */
  release(r: { key: string; amount?: bigint; idempotencyKey?: string }): Promise<void>;
  /** Drops the token's cached facts: the issuer paused or unpaused it, and the next order must not read the old state. */
  forgetToken(tokenId: string): void;
}

/** A short-lived cache; concurrent misses of one key share one load (orders of one account arriving together ask once). */
export class Ttl<V> {
  private m = new Map<string, { v: V; until: number }>();
  private loading = new Map<string, Promise<V>>();
  /** Bumped by forget: a load that began before it answers its caller but is not kept (it may predate the change). */
  private generation = 0;
  constructor(private readonly ms: number) {}
  get(k: string, load: () => Promise<V>): Promise<V> {
    const hit = this.m.get(k);
    if (hit && hit.until > Date.now()) return Promise.resolve(hit.v);
    let p = this.loading.get(k);
    if (!p) {
      const began = this.generation;
      p = load().then((v) => {
        if (this.ms > 0 && v !== null && began === this.generation) {
          if (this.m.size > 50_000) this.m.clear();
          this.m.set(k, { v, until: Date.now() + this.ms });
        }
        return v;
      }).finally(() => { if (this.loading.get(k) === p) this.loading.delete(k); });
      this.loading.set(k, p);
    }
    return p;
  }
  forget(k: string): void {
    this.generation++;
    this.m.delete(k);
    this.loading.delete(k);
  }
}

/**
 * Concurrent orders share issuance and custody calls: their questions and reservations leave together as one batch call.
 * An item the peer refuses retryably (its own transaction lost, for the moment) is the peer unavailable, as its single
 * call would be (DOWNSTREAM.UNAVAILABLE): the order is refused with "try again", not with a business refusal.
 */
export interface PeerBatching { maxBatch: number; maxInFlight: number }

export function httpPeers(issuance: InternalClient, custody: InternalClient, cacheMs: number, batching: PeerBatching): Peers {
  const iss = peerCalls(issuance, 'issuance');
  const cus = peerCalls(custody, 'custody');
  const tokens = new Ttl<TokenFacts | null>(cacheMs);
  const accounts = new Ttl<AccountFacts | null>(cacheMs);
  const questions = new Coalescer<EligibilityQuestion, Eligibility>(async (qs) => {
    const { answers } = await iss.call('transferEligibilityMany', { questions: qs.map((q) => ({ ...q, at: q.at ?? null })) });
    return answers.map((a) => (a.ok ? a.value : peerItemError('issuance', a.error)));
  }, batching);
  const reservations = new Coalescer<ReserveRequest, void>(async (rs) => {
    const { results } = await cus.call('reserveMany', { items: rs.map((r) => ({ accountId: r.accountId, asset: r.asset, amount: r.amount, idempotencyKey: r.key, reason: r.reason })) });
    return results.map((x) => (x.ok ? undefined : peerItemError('custody', x.error)));
  }, batching);
  return {
    token: (tokenId) => tokens.get(tokenId, () => iss.call('token', { tokenId })),
    account: (accountId) => accounts.get(accountId, () => cus.call('account', { accountId })),
    eligibility: (q) => questions.request(q),
    async balance(accountId, asset) {
      const b = await cus.call('balance', { accountId, asset });
      return { accountId: b.accountId, asset: b.asset, total: b.total.toString(), reserved: b.reserved.toString(), available: b.available.toString() };
    },
    reserve: (r) => reservations.request(r),
    async release(r) {
      await custody.call('release', { reservationKey: r.key, ...(r.amount !== undefined ? { amount: r.amount.toString(), idempotencyKey: r.idempotencyKey } : {}) });
    },
    forgetToken: (tokenId) => tokens.forget(tokenId),
  };
}
