import type { Queryable } from '../../kit/db/types.js';
import { newId } from '../../kit/ids.js';
import { receivedLot, untracedLot, type ComplianceConfig, type LotOrigin } from '../domain/compliance/index.js';
import { tokenSnapshot } from '../snapshot.js';
import { issuerRelations, occasionKey, occasionsOf, relationAsk } from '../store/holdings.js';
import { lotsOfTxs, openLotsForUpdate, txLotKey, writeLots, type IndexedLot, type LotConsumption } from '../store/indexer.js';
import type { TokenRow } from '../store/tokens.js';
import type { RangeMove } from './range.js';
import { locksFor } from './rules.js';

/** An open lot as the range moves it: what is left of it, and whether the range created it. */
interface OpenLot { id: string; remaining: bigint; holding_period_start: Date; issued_at: Date; restricted: boolean; created: boolean }

/** FIFO order of the lots query (openLotsForUpdate): holding period start, then id. */
const before = (a: OpenLot, b: OpenLot) => a.holding_period_start.getTime() < b.holding_period_start.getTime()
  || (a.holding_period_start.getTime() === b.holding_period_start.getTime() && a.id < b.id);

/**
 * Lots follow the tokens, transfer by transfer in log order: the sender's
 * oldest lots are consumed first; a receiver that is another investor gets one
 * lot per piece, acquired at the block's time, whose holding period and
 * restricted state follow from the sender's lot (receivedLot: a buyer from a
 * non-affiliate tacks, a buyer from an affiliate starts afresh, a receiver by
 * gift or another recorded occasion tacks). A move between two wallets of the
 * same investor changes no lot. A mint's lot is written by issueTokens with
 * the acquisition date it was given; it is created here only if that is missing.
 *
 * What the transfers read (the senders' open lots, their relation to the
 * issuer, recorded occasions, mints' lots) is read once for the range and the
 * FIFO runs in memory, a lot received in the range joining its receiver's open
 * lots in the order the lots query would give it; what they change is written
 * in one statement. Answers the investors whose wallets' locks must be synced
 * (a moved piece is locked on chain, or the sender's lock must shrink), in order.
 */
export async function moveLots(q: Queryable, t: TokenRow, all: readonly RangeMove[], config: ComplianceConfig): Promise<string[]> {
  const moves = all.filter((m) => !(m.fromInv && m.toInv && m.fromInv.investor_id === m.toInv.investor_id));
  const sends = moves.filter((m) => m.fromInv);
  const senders = [...new Set(sends.map((m) => m.fromInv!.investor_id))];
  const open = new Map<string, OpenLot[]>(senders.map((s) => [s, []]));
  if (senders.length) {
    for (const l of await openLotsForUpdate(q, t.id, senders)) {
      open.get(l.investor_id)!.push({ ...l, remaining: BigInt(l.remaining), holding_period_start: new Date(l.holding_period_start), issued_at: new Date(l.issued_at), created: false });
    }
  }
  const relations = sends.length ? await issuerRelations(q, sends.map((m) => relationAsk(m.fromInv!.investor_id, m.at))) : [];
  const relationOf = new Map(sends.map((m, i) => [m, relations[i]]));
  const between = sends.filter((m) => m.toInv).map((m) => ({ txHash: m.txHash, from: m.fromInv!.investor_id, to: m.toInv!.investor_id }));
  const occasions = await occasionsOf(q, between);
  const withLot = await lotsOfTxs(q, moves.filter((m) => !m.fromInv && m.toInv).map((m) => ({ txHash: m.txHash, investorId: m.toInv!.investor_id })));

  const token = tokenSnapshot(t);
  const created: IndexedLot[] = [];
  const consumed: LotConsumption[] = [];
  const jobs: string[] = [];
  for (const m of moves) {
    const [from, to] = [m.fromInv?.investor_id ?? null, m.toInv?.investor_id ?? null];
    const pieces: { amount: bigint; origin: LotOrigin; parent: string | null }[] = [];
    const taken: { remaining: string; holding_period_start: Date; issued_at: Date; restricted: boolean }[] = [];
    if (from) {
      const receipt = { at: m.at, senderRelation: relationOf.get(m)!, occasion: to ? occasions.get(occasionKey(m.txHash, from, to)) ?? 'SALE' : 'SALE', token };
      let left = m.amount;
      for (const lot of open.get(from)!) {
        if (left === 0n) break;
        if (lot.remaining === 0n) continue;
        const take = lot.remaining < left ? lot.remaining : left;
        lot.remaining -= take;
        consumed.push({ lotId: lot.id, amount: take, at: m.at, txHash: m.txHash, logIndex: m.logIndex });
        taken.push({ ...lot, remaining: take.toString() });
        pieces.push({ amount: take, origin: receivedLot({ holdingPeriodStart: lot.holding_period_start, issuedAt: lot.issued_at, restricted: lot.restricted }, receipt, config), parent: lot.id });
        left -= take;
      }
      if (left > 0n) pieces.push({ amount: left, origin: untracedLot(m.at, token), parent: null }); // tokens the books had no lot for (reconciliation shows them)
    } else {
      if (to && withLot.has(txLotKey(m.txHash, to))) continue;
      pieces.push({ amount: m.amount, origin: untracedLot(m.at, token), parent: null });
    }
    if (from && locksFor(t, taken, config).length) jobs.push(from);
    if (!to) continue;
    for (const [i, p] of pieces.entries()) {
      const lot: IndexedLot = {
        id: newId('lot'), investorId: to, amount: p.amount, remaining: p.amount, at: m.at, holdingPeriodStart: p.origin.holdingPeriodStart, issuedAt: p.origin.issuedAt,
        restricted: p.origin.restricted, source: from ? 'TRANSFER' : 'ISSUANCE', txHash: m.txHash, logIndex: m.logIndex * 100 + i, parent: p.parent,
      };
      created.push(lot);
      withLot.add(txLotKey(m.txHash, to));
      const mine = open.get(to);
      if (mine) {
        const o: OpenLot = { id: lot.id, remaining: p.amount, holding_period_start: p.origin.holdingPeriodStart, issued_at: p.origin.issuedAt, restricted: p.origin.restricted, created: true };
        const at = mine.findIndex((x) => before(o, x));
        mine.splice(at < 0 ? mine.length : at, 0, o);
      }
    }
    const received = pieces.map((p) => ({ remaining: p.amount.toString(), holding_period_start: p.origin.holdingPeriodStart, issued_at: p.origin.issuedAt, restricted: p.origin.restricted }));
    if (from && locksFor(t, received, config).length) jobs.push(to);
  }
  // A created lot is written with what the range left of it; a lot from before gets its remaining amount after the range.
  const openById = new Map([...open.values()].flat().map((l) => [l.id, l]));
  for (const l of created) l.remaining = openById.get(l.id)?.remaining ?? l.remaining;
  const remaining = new Map(consumed.map((c) => openById.get(c.lotId)!).filter((l) => !l.created).map((l) => [l.id, l.remaining]));
  await writeLots(q, t.id, { created, consumed, remaining });
  return jobs;
}
