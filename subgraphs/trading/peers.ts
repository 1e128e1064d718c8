/**
 * What trading asks other subgraphs, over their internal RPC (service
 * credential): issuance for tokens, investors and transfer eligibility,
 * custody for accounts and reservations. Token and account facts are cached
 * briefly; eligibility and reservations never are.
 */
import type { InternalClient } from '../kit/internal.js';

export interface TokenFacts { id: string; symbol: string; decimals: number; exemption: string; paused: boolean }
export interface AccountFacts { id: string; org: string; investorId: string | null; kind: string; walletAddress: string | null }
export interface RuleResult { code: string; passed: boolean; message: string; regulation?: string; blockingUntil?: string | null }
/** Issuance's answer; a one-sided question names the missing party and the rules it could not decide. */
export interface Eligibility { allowed: boolean; results: RuleResult[]; notApplicable?: string[]; missingParty?: 'SENDER' | 'RECEIVER' | null; notEvaluated?: string[] }
/** A null party: a question about the other one alone (order entry, before the counterparty is known). */
export interface EligibilityQuestion { tokenId: string; fromInvestorId: string | null; toInvestorId: string | null; amount: bigint; kind: 'SECONDARY_TRADE'; at?: Date }
export interface Balance { accountId: string; asset: string; total: string; reserved: string; available: string }

export interface Peers {
  token(tokenId: string): Promise<TokenFacts | null>;
  account(accountId: string): Promise<AccountFacts | null>;
  eligibility(q: EligibilityQuestion): Promise<Eligibility>;
  balance(accountId: string, asset: string): Promise<Balance>;
  /** Throws CUSTODY.INSUFFICIENT_AVAILABLE (a typed GraphQLError) when short. Idempotent by key. */
  reserve(r: { accountId: string; asset: string; amount: bigint; key: string; reason: string }): Promise<void>;
  /** A part (amount, with its own idempotency key) or everything the reservation still holds. */
  release(r: { key: string; amount?: bigint; idempotencyKey?: string }): Promise<void>;
}

class Ttl<V> {
  private m = new Map<string, { v: V; until: number }>();
  constructor(private readonly ms: number) {}
  async get(k: string, load: () => Promise<V>): Promise<V> {
    const hit = this.m.get(k);
    if (hit && hit.until > Date.now()) return hit.v;
    const v = await load();
    if (this.ms > 0 && v !== null) {
      if (this.m.size > 50_000) this.m.clear();
      this.m.set(k, { v, until: Date.now() + this.ms });
    }
    return v;
  }
}

interface AccountWire { id: string; org: string; investorId?: string | null; investor_id?: string | null; kind: string; walletAddress?: string | null }

export function httpPeers(issuance: InternalClient, custody: InternalClient, cacheMs: number): Peers {
  const tokens = new Ttl<TokenFacts | null>(cacheMs);
  const accounts = new Ttl<AccountFacts | null>(cacheMs);
  return {
    token: (tokenId) => tokens.get(tokenId, () => issuance.call<TokenFacts | null>('token', { tokenId })),
    account: (accountId) => accounts.get(accountId, async () => {
      const a = await custody.call<AccountWire | null>('account', { accountId });
      return a && { id: a.id, org: a.org, investorId: a.investorId ?? a.investor_id ?? null, kind: a.kind, walletAddress: a.walletAddress ?? null };
    }),
    eligibility: (q) => issuance.call<Eligibility>('transferEligibility', {
      tokenId: q.tokenId, fromInvestorId: q.fromInvestorId, toInvestorId: q.toInvestorId, amount: q.amount.toString(), kind: q.kind, ...(q.at ? { at: q.at.toISOString() } : {}),
    }),
    balance: (accountId, asset) => custody.call<Balance>('balance', { accountId, asset }),
    async reserve(r) {
      await custody.call('reserve', { accountId: r.accountId, asset: r.asset, amount: r.amount.toString(), idempotencyKey: r.key, reason: r.reason });
    },
    async release(r) {
      await custody.call('release', { reservationKey: r.key, ...(r.amount !== undefined ? { amount: r.amount.toString(), idempotencyKey: r.idempotencyKey } : {}) });
    },
  };
}
