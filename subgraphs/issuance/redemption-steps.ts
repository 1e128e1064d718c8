/**
 * A redemption at its date, in steps a restart resumes at any point:
 *
 * 1. The token is paused on chain, the holdings indexer catches up, and in one transaction: the
 *    token becomes REDEEMED and paused in the books (trading halts on token.paused), each holder at
 *    that instant gets a line (REDEEMED, or HELD with the reason when frozen or sanctioned: neither
 *    burned nor paid), what each is owed is fixed as a distribution of kind REDEMPTION (units x
 *    price / 10^decimals, exact integers) and the final coupon as a COUPON distribution of the same
 *    instant, their entitlements not due yet; the wallets to burn are recorded.
 * 2. The agent burns each recorded wallet's balance as read from the chain each time (batchBurn),
 *    so a retry after a crash burns only what is still there, never twice. The indexer books the
 *    burns (the lots are consumed as by any burn; custody debits the holders).
 * 3. Once the books show every burned wallet empty, the payments become due and the redemption is
 *    DONE; the distribution payment runner pays them (once, across restarts).
 */
import type { Caller } from '../kit/auth.js';
import type { Db, Queryable } from '../kit/db/types.js';
import { newId } from '../kit/ids.js';
import type { Logger } from '../kit/log.js';
import { appendEvent, appendEvents } from '../kit/outbox.js';
import { balancesOf, sendMoves, type Move } from './chain/batch-moves.js';
import { chainFailure, type IssuanceChain } from './chain/runtime.js';
import { holdReason } from './distribution-payments.js';
import { entitlementEvent, entitlementRows, sumOf } from './distributions.js';
import { perUnit, proRata, type Allocation } from './domain/entitlements.js';
import type { WithholdingConfig } from './domain/withholding.js';
import { insertDistribution, insertEntitlements, type DistributionRow, type EntitlementRow, type NewEntitlement } from './store/distributions.js';
import {
  addRedemptionTxHashes, burnsOf, dueRedemptions, holdersNow, insertBurns, insertHolders, redemptionById, redemptionDone, redemptionFailed, redemptionFixed, releasePayments,
  type RedemptionHolderRow, type RedemptionRow,
} from './store/redemptions.js';
import { audit } from './store/records.js';
import { holdingsOfToken } from './store/splits.js';
import { markRedeemed, tokenRow, type TokenRow } from './store/tokens.js';
import { investorsByIds } from './store/investors.js';

export interface RedemptionEnv {
  db: Db;
  chain: IssuanceChain;
  now(): Date;
  syncHoldings(): Promise<void>;
  withholding: WithholdingConfig;
  sanctionedCountries: readonly string[];
  /** Wallets per batchBurn transaction (REDEMPTION_BATCH_SIZE). */
  batchSize: number;
  /** Wakes the distribution payment runner. */
  kickPayments(): void;
  log: Logger;
}

const SYSTEM: Caller = { kind: 'service', subject: 'issuance', org: 'tokenstack', roles: [], token: '' };

/** Moves every due redemption one step further; an error stays on the redemption (lastError) and the next pass retries. */
export async function runDueRedemptions(env: RedemptionEnv): Promise<void> {
  for (const r of await dueRedemptions(env.db, env.now())) {
    try {
      if (r.status === 'ANNOUNCED') await fixHolders(env, r);
      const now = (await redemptionById(env.db, r.id))!;
      if (now.status === 'BURNING') await burn(env, now);
    } catch (e) {
      const message = (e as Error).message.slice(0, 500);
      await redemptionFailed(env.db, r.id, message);
      env.log.warn({ redemptionId: r.id, err: message }, 'redemption will retry');
    }
  }
}

async function suiteOf(env: RedemptionEnv, t: TokenRow) {
  try {
    return await env.chain.suite(t.chain!);
  } catch (e) {
    throw chainFailure(e, 'redemption: chain unavailable');
  }
}

type Event = { topic: string; key: string; payload: unknown };

/**
 * A distribution of the redemption (its price, or the final coupon) fixed at `at` with its entitlements, not due until
 * the burn is done (step 3 releases them); the events to append with it.
 */
export async function insertRedemptionPayments(
  q: Queryable, r: RedemptionRow, t: TokenRow, kind: 'REDEMPTION' | 'COUPON', rows: NewEntitlement[],
  amounts: { per: string | null; total: string | null; unallocated: bigint; at: Date }, orgOf: (investorId: string) => string,
): Promise<{ row: DistributionRow; ents: EntitlementRow[]; events: Event[] }> {
  const at = amounts.at;
  const { row } = await insertDistribution(q, {
    id: newId('dis'), token_id: t.id, issuer_org: t.issuer_org, kind, record_date: at, payment_date: at, asset: r.asset, paying_account_id: r.paying_account_id,
    amount_per_unit: amounts.per, total_amount: amounts.total, exclude_issuer: true, units: sumOf(rows, 'units'), gross: sumOf(rows, 'gross'),
    withheld: sumOf(rows, 'withheld'), net: sumOf(rows, 'net'), unallocated: amounts.unallocated.toString(), announced_by: r.announced_by,
    idempotency_key: `redemption:${r.id}:${kind}`, request_hash: r.request_hash, fixed_at: at, lapsed_reason: null,
  });
  const ents = await insertEntitlements(q, row.id, null, rows);
  return {
    row, ents,
    events: [
      { topic: 'distribution.announced', key: row.id, payload: { distributionId: row.id, tokenId: t.id, kind, recordDate: at, paymentDate: at, gross: row.gross, redemptionId: r.id } },
      ...ents.map((e) => ({ topic: 'entitlement.updated', key: e.id, payload: entitlementEvent(e, row, orgOf(e.investor_id)) })),
    ],
  };
}

/** Step 1. */
async function fixHolders(env: RedemptionEnv, r: RedemptionRow): Promise<void> {
  const before = (await tokenRow(env.db, r.token_id))!;
  const suite = await suiteOf(env, before);
  try {
    if (!(await suite.client.read<boolean>(suite.token.paused()))) await suite.client.send(suite.token.pause());
  } catch (e) {
    throw chainFailure(e, 'pausing for the redemption failed');
  }
  await env.syncHoldings();
  const events: Event[] = [];
  await env.db.tx(async (q) => {
    const locked = await redemptionById(q, r.id, true);
    if (locked?.status !== 'ANNOUNCED') return;
    const t = (await tokenRow(q, r.token_id, true))!;
    // The books' instant (the wall clock): the holders are those of the books now, with the chain paused.
    const at = new Date();
    const holders = await holdersNow(q, t.id);
    const investors = new Map((await investorsByIds(q, holders.map((h) => h.investor_id))).map((i) => [i.id, i]));
    const held = new Map(holders.map((h) => [h.investor_id, holdReason(h, env.sanctionedCountries)]));
    const redeemed = holders.filter((h) => !held.get(h.investor_id));
    // The issuer's own holding (treasury) is retired with the rest; no cash moves from the issuer to itself.
    const notIssuer = (h: { investor_id: string }) => investors.get(h.investor_id)!.issuer_relation !== 'ISSUER';
    const unitsOf = (hs: typeof holders) => hs.filter(notIssuer).map((h) => ({ investorId: h.investor_id, units: BigInt(h.balance) }));
    const price = perUnit(BigInt(r.price_per_unit), t.decimals, unitsOf(redeemed));
    const redemptionRows = await entitlementRows(q, env.withholding, t.id, 'REDEMPTION', price.allocations, investors, at);

    const distribution = async (kind: 'REDEMPTION' | 'COUPON', rows: NewEntitlement[], amounts: { per: string | null; total: string | null; unallocated: bigint }) => {
      if (!rows.length) return null;
      const made = await insertRedemptionPayments(q, r, t, kind, rows, { ...amounts, at }, (id) => investors.get(id)!.org);
      events.push(...made.events);
      return made;
    };
    const red = await distribution('REDEMPTION', redemptionRows, { per: r.price_per_unit, total: null, unallocated: price.unallocated });
    // The final coupon goes to every holder at the instant, held ones included: the payment path holds those with the reason.
    let coupon = null;
    const all = unitsOf(holders);
    if ((r.coupon_per_unit || r.coupon_total) && all.length) {
      const c: { allocations: Allocation[]; unallocated: bigint } = r.coupon_total ? { allocations: proRata(BigInt(r.coupon_total), all), unallocated: 0n } : perUnit(BigInt(r.coupon_per_unit!), t.decimals, all);
      coupon = await distribution('COUPON', await entitlementRows(q, env.withholding, t.id, 'COUPON', c.allocations, investors, at), { per: r.coupon_per_unit, total: r.coupon_total, unallocated: c.unallocated });
    }

    const entOf = new Map((red?.ents ?? []).map((e) => [e.investor_id, e]));
    const lines: RedemptionHolderRow[] = holders.map((h) => ({
      redemption_id: r.id, investor_id: h.investor_id, units: h.balance, gross: entOf.get(h.investor_id)?.gross ?? '0',
      status: held.get(h.investor_id) ? 'HELD' : 'REDEEMED', reason: held.get(h.investor_id) ?? null, entitlement_id: entOf.get(h.investor_id)?.id ?? null,
    }));
    await insertHolders(q, lines);
    const burning = new Set(redeemed.map((h) => h.investor_id));
    await insertBurns(q, (await holdingsOfToken(q, t.id)).filter((w) => w.investor_id && burning.has(w.investor_id))
      .map((w) => ({ redemption_id: r.id, address: w.address, investor_id: w.investor_id!, before: w.balance })));
    const units = redeemed.reduce((s, h) => s + BigInt(h.balance), 0n);
    await redemptionFixed(q, r.id, { at, units, gross: red?.row.gross ?? '0', unallocated: price.unallocated, distributionId: red?.row.id ?? null, couponDistributionId: coupon?.row.id ?? null });
    await markRedeemed(q, t.id);
    await audit(q, SYSTEM, 'redemption.holders_fixed', r.id, null, { tokenId: t.id, units, gross: red?.row.gross ?? '0', held: lines.filter((l) => l.status === 'HELD').length });
    events.push(
      // Trading halts the token's market on this event, for good: a redeemed token is never unpaused.
      { topic: 'token.paused', key: t.id, payload: { tokenId: t.id, reason: `redeemed (${r.id})` } },
      { topic: 'redemption.status', key: r.id, payload: { redemptionId: r.id, tokenId: t.id, status: 'BURNING' } },
    );
    await appendEvents(q, events);
  });
}

/** Steps 2 and 3. */
async function burn(env: RedemptionEnv, r: RedemptionRow): Promise<void> {
  const t = (await tokenRow(env.db, r.token_id))!;
  const burns = await burnsOf(env.db, r.id);
  const suite = await suiteOf(env, t);
  const onChain = await balancesOf(suite, burns.map((b) => b.address), env.batchSize);
  const left = burns.map((b, i): Move => [b.address, onChain[i]]).filter((b) => b[1] > 0n);
  const sent = await sendMoves(suite, { burns: left }, env.batchSize, 'redemption: burning failed',
    (hashes) => addRedemptionTxHashes(env.db, r.id, hashes));
  await env.syncHoldings();
  if (!(await allBurned(env.db, r))) return; // the indexer has not seen every burn yet: the next pass looks again
  await env.db.tx(async (q) => {
    const locked = await redemptionById(q, r.id, true);
    // Checked again under the lock: a holder released meanwhile added wallets to burn, and its payment waits for them.
    if (locked?.status !== 'BURNING' || !(await allBurned(q, locked))) return;
    const at = env.now();
    await releasePayments(q, [locked.distribution_id, locked.coupon_distribution_id].filter((d): d is string => !!d), at);
    await redemptionDone(q, r.id);
    await audit(q, SYSTEM, 'redemption.burned', r.id, null, { tokenId: r.token_id, txHashes: locked.tx_hashes, sent });
    await appendEvent(q, 'redemption.status', r.id, { redemptionId: r.id, tokenId: r.token_id, status: 'DONE' });
  });
  env.kickPayments();
}

/** Whether the books (which follow the chain) show every wallet of the redemption empty. */
async function allBurned(q: Queryable, r: RedemptionRow): Promise<boolean> {
  const books = new Map((await holdingsOfToken(q, r.token_id)).map((h) => [h.address.toLowerCase(), BigInt(h.balance)]));
  return (await burnsOf(q, r.id)).every((b) => (books.get(b.address.toLowerCase()) ?? 0n) === 0n);
}
