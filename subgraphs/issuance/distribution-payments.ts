import type { Db, Queryable } from '../kit/db/types.js';
import { PolledWorker } from '../kit/chain/polling.js';
import type { Logger } from '../kit/log.js';
import { appendEvents } from '../kit/outbox.js';
import { entitlementEvent } from './distributions.js';
import { CUSTODY_SERVICE } from './investors.js';
import { audit } from './store/records.js';
import * as store from './store/distribution-payments.js';
import type { DueEntitlement } from './store/distribution-payments.js';

/**
 * Pays distributions on their payment date, through custody, without a synchronous call: each pass
 * takes the entitlements due (PENDING on or after the payment date, or FAILED and due again), holds
 * those whose holder is frozen or sanctioned now (HELD, with the reason), and sends custody one
 * `distribution.payment` outbox event per distribution and batch, in the transaction that marks them
 * instructed (attempt n). Custody pays each (entitlement, attempt) once and reports
 * `distribution.payment_result` on its feed; `applyPaymentResult` records it exactly once (the
 * consumer's cursor moves in the same transaction). A result for an attempt that is no longer the
 * entitlement's own changes nothing. SKIPPED (the holder's wallet is a custody wallet of the paying
 * account: the payer owes itself nothing, and paying would move nothing on chain) is final, with its
 * reason on the entitlement and in the audit log.
 */
export interface PaymentSettings { batchSize: number; retryMs: number; maxAttempts: number; pollMs: number; sanctionedCountries: readonly string[] }

export interface PaymentItem { entitlementId: string; attempt: number; investorId: string; toAddress: string; amount: string }
export interface PaymentInstruction { distributionId: string; tokenId: string; asset: string; payingAccountId: string; items: PaymentItem[] }
export interface PaymentResult {
  entitlementId: string; attempt: number; status: 'PAID' | 'FAILED' | 'SKIPPED';
  txHash?: string | null; withdrawalId?: string | null; toAddress?: string | null; reason?: string | null;
}

/** Why an entitlement is held at payment time, or null when it may be paid. */
export function holdReason(e: Pick<DueEntitlement, 'wallet_frozen' | 'aml_status' | 'jurisdiction_now'>, sanctioned: readonly string[]): string | null {
  if (e.wallet_frozen) return 'the holder\'s wallet is frozen for this token (issuer control)';
  if (e.aml_status === 'CONFIRMED_MATCH') return 'the holder is a confirmed sanctions / AML match';
  if (sanctioned.includes(e.jurisdiction_now)) return `the holder's jurisdiction ${e.jurisdiction_now} is sanctioned`;
  return null;
}

/** One pass: instructs (or holds) up to batchSize due entitlements; returns how many it took. */
export async function instructDue(db: Db, s: PaymentSettings, now: Date): Promise<number> {
  return db.tx(async (q) => {
    const due = await store.dueEntitlements(q, now, s.batchSize);
    if (!due.length) return 0;
    const events: { topic: string; key: string; payload: unknown }[] = [];
    const batches = new Map<string, PaymentInstruction>();
    for (const e of due) {
      const held = holdReason(e, s.sanctionedCountries);
      let row;
      if (held) row = await store.setEntitlement(q, e.id, { status: 'HELD', reason: held, next_attempt_at: null });
      else if (BigInt(e.net) === 0n) row = await store.setEntitlement(q, e.id, { status: 'PAID', reason: null, next_attempt_at: null, paid_at: now });
      else if (!e.wallet) {
        row = await store.setEntitlement(q, e.id, { status: 'FAILED', reason: 'the holder has no active registered wallet', attempts: e.attempts + 1, next_attempt_at: e.attempts + 1 < s.maxAttempts ? new Date(now.getTime() + s.retryMs) : null });
      } else {
        row = await store.setEntitlement(q, e.id, { status: 'PENDING', reason: null, attempts: e.attempts + 1, instructed_at: now, next_attempt_at: null });
        let b = batches.get(e.distribution_id);
        if (!b) batches.set(e.distribution_id, (b = { distributionId: e.distribution_id, tokenId: e.token_id, asset: e.asset, payingAccountId: e.paying_account_id, items: [] }));
        b.items.push({ entitlementId: e.id, attempt: row.attempts, investorId: e.investor_id, toAddress: e.wallet, amount: e.net });
      }
      events.push({ topic: 'entitlement.updated', key: e.id, payload: entitlementEvent(row, { id: e.distribution_id, token_id: e.token_id, issuer_org: e.issuer_org }, e.investor_org) });
    }
    await store.markPaymentStarted(q, [...new Set(due.map((e) => e.distribution_id))], now);
    for (const b of batches.values()) events.push({ topic: 'distribution.payment', key: b.distributionId, payload: b });
    await appendEvents(q, events);
    return due.length;
  });
}

/** Custody's outcome of one payment attempt, applied inside the feed consumer's transaction. */
export async function applyPaymentResult(q: Queryable, s: Pick<PaymentSettings, 'retryMs' | 'maxAttempts'>, r: PaymentResult, now: Date): Promise<void> {
  const e = await store.entitlementForResult(q, r.entitlementId, r.attempt);
  if (!e) return; // another attempt's, or settled already
  const reason = (r.reason ?? (r.status === 'SKIPPED' ? 'the holder is the paying account' : 'payment failed')).slice(0, 500);
  const row = r.status === 'PAID'
    ? await store.setEntitlement(q, e.id, { status: 'PAID', tx_hash: r.txHash ?? null, reference: r.withdrawalId ?? null, paid_to: r.toAddress ?? null, paid_at: now, reason: null, next_attempt_at: null })
    : r.status === 'SKIPPED'
      ? await store.setEntitlement(q, e.id, { status: 'SKIPPED', reason, next_attempt_at: null })
      : await store.setEntitlement(q, e.id, { status: 'FAILED', reason, next_attempt_at: e.attempts < s.maxAttempts ? new Date(now.getTime() + s.retryMs) : null });
  if (r.status === 'SKIPPED') await audit(q, CUSTODY_SERVICE, 'entitlement.skipped', e.id, reason, { distributionId: e.distribution_id, investorId: e.investor_id, net: e.net, attempt: e.attempts });
  await appendEvents(q, [{ topic: 'entitlement.updated', key: e.id, payload: entitlementEvent(row, { id: e.distribution_id, token_id: e.token_id, issuer_org: e.issuer_org }, e.investor_org) }]);
}

/** The background pass: instructs what is due until nothing is, then waits pollMs (or a kick). */
export class PaymentRunner extends PolledWorker {
  lastError?: string;
  constructor(private readonly db: Db, private readonly s: PaymentSettings, private readonly now: () => Date, private readonly log?: Logger) {
    super(s.pollMs);
  }

  kick(): Promise<void> {
    return this.runPass();
  }

  protected async pass(): Promise<void> {
    try {
      while (!this.stopped && (await instructDue(this.db, this.s, this.now())) > 0) { /* the next batch at once */ }
      this.lastError = undefined;
    } catch (e) {
      this.lastError = (e as Error).message;
      this.log?.warn({ err: this.lastError }, 'distribution payments will retry');
    }
  }
}
