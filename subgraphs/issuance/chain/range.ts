import type { Log } from 'ethers';
import { ZERO_ADDRESS as ZERO, decodeTransfer, type TransferLog } from '../../kit/chain/transfers.js';
import type { Queryable } from '../../kit/db/types.js';
import { appendEvents } from '../../kit/outbox.js';
import { accreditedNow } from '../accreditation.js';
import type { ComplianceConfig } from '../domain/compliance/index.js';
import { enqueueChainJobs } from '../store/chain.js';
import { indexedBlock, indexedThrough, moveHoldings, positionsForUpdate, setPositions, stepHolderCounts, walletHolders, type Holder, type HoldingMove, type PositionWrite } from '../store/indexer.js';
import { splitInProgress } from '../store/splits.js';
import { moveSupply, type TokenRow } from '../store/tokens.js';
import { moveLots } from './range-lots.js';

/** One Transfer of the range with the investors on either side (undefined: no investor's wallet, or the zero address). */
export interface RangeMove extends TransferLog { at: Date; fromInv?: Holder; toInv?: Holder }

/** The indexer's transaction for one range of a token's Transfer logs: the books follow them, then the token is indexed through `to`. */
export async function applyRange(q: Queryable, t: TokenRow, logs: readonly Log[], range: { to: number; times: Map<number, Date> }, config: ComplianceConfig): Promise<void> {
  await applyTransfers(q, t, logs, range.times, config);
  await indexedThrough(q, t.id, range.to, range.times.get(range.to)!);
}

/**
 * Books follow a range of Transfers, in log order, with one statement per kind of
 * book for the whole range rather than per transfer: wallet holdings, investor
 * positions and holder counters, supply, lots (range-lots.ts) and a
 * `token.transfer` event per log. Logs of blocks the token is already indexed
 * through were applied before and change nothing.
 */
export async function applyTransfers(q: Queryable, t: TokenRow, logs: readonly Log[], times: ReadonlyMap<number, Date>, config: ComplianceConfig): Promise<void> {
  if (!logs.length) return;
  const through = await indexedBlock(q, t.id);
  const fresh = logs.map(decodeTransfer).filter((l) => through === null || l.block > through);
  if (!fresh.length) return;
  const holders = await walletHolders(q, fresh.flatMap((l) => [l.from, l.to]).filter((a) => a !== ZERO));
  const holder = (a: string) => (a === ZERO ? undefined : holders.get(a.toLowerCase()));
  const moves: RangeMove[] = fresh.map((l) => ({ ...l, at: times.get(l.block)!, fromInv: holder(l.from), toInv: holder(l.to) }));
  await moveWallets(q, t.id, moves);
  await movePositions(q, t.id, moves.filter((m) => !(m.fromInv && m.toInv && m.fromInv.investor_id === m.toInv.investor_id)), config);
  const mintsAndBurns = moves.filter((m) => m.from === ZERO || m.to === ZERO);
  const supply = mintsAndBurns.reduce((s, m) => s + (m.from === ZERO ? m.amount : 0n) - (m.to === ZERO ? m.amount : 0n), 0n);
  if (supply !== 0n) await moveSupply(q, t.id, supply);
  // A split's mints and burns bring the chain to lots the split has already scaled.
  const bySplit = mintsAndBurns.length > 0 && (await splitInProgress(q, t.id));
  const jobs = await moveLots(q, t, bySplit ? moves.filter((m) => m.from !== ZERO && m.to !== ZERO) : moves, config);
  await enqueueChainJobs(q, jobs.map((investorId) => ({ kind: 'SYNC_LOCKS', subjectId: investorId, payload: { tokenId: t.id } })));
  await appendEvents(q, moves.map((m) => ({
    topic: 'token.transfer', key: t.id, payload: {
      tokenId: t.id, from: m.from, to: m.to, amount: m.amount, fromInvestorId: m.fromInv?.investor_id ?? null, toInvestorId: m.toInv?.investor_id ?? null,
      txHash: m.txHash, block: m.block, logIndex: m.logIndex,
    },
  })));
}

/**
 * Wallet holdings by each wallet's net move; a wallet whose first move sends must be on the books
 * already, and no wallet may have gone below zero on the way (the books and the chain disagree).
 */
async function moveWallets(q: Queryable, tokenId: string, moves: readonly RangeMove[]): Promise<void> {
  const net = new Map<string, HoldingMove & { lowest: bigint; firstSend: bigint }>();
  const step = (address: string, delta: bigint, block: number, investorId: string | null, sends: boolean) => {
    const h = net.get(address) ?? { address, investorId: null, delta: 0n, block, mustExist: sends, lowest: 0n, firstSend: -delta };
    h.delta += delta;
    h.block = block;
    h.investorId ??= investorId;
    if (h.delta < h.lowest) h.lowest = h.delta;
    net.set(address, h);
  };
  for (const m of moves) {
    if (m.from !== ZERO) step(m.from, -m.amount, m.block, null, true);
    if (m.to !== ZERO) step(m.to, m.amount, m.block, m.toInv?.investor_id ?? null, false);
  }
  const after = await moveHoldings(q, tokenId, [...net.values()]);
  for (const h of net.values()) {
    const balance = after.get(h.address);
    if (balance === undefined) throw new Error(`chain shows ${h.address} sending ${h.firstSend} of ${tokenId} but the books have no holding for it`);
    if (balance - h.delta + h.lowest < 0n) throw new Error(`chain shows ${h.address} sending more of ${tokenId} than the books hold`);
  }
}

/**
 * Investor positions, transfer by transfer in memory (sender first), then written once; the holder
 * counters follow each position crossing zero. A new holder is counted by its accreditation in effect
 * at the block's time, and leaves the bucket it was counted in.
 */
async function movePositions(q: Queryable, tokenId: string, moves: readonly RangeMove[], config: ComplianceConfig): Promise<void> {
  const ids = [...new Set(moves.flatMap((m) => [m.fromInv?.investor_id, m.toInv?.investor_id]).filter((i): i is string => !!i))];
  if (!ids.length) return;
  const before = await positionsForUpdate(q, tokenId, ids);
  const state = new Map<string, PositionWrite>(ids.map((id) => {
    const p = before.get(id);
    return [id, { investorId: id, balance: BigInt(p?.balance ?? 0), accredited: !!p?.counted_accredited, us: !!p?.counted_us }];
  }));
  const steps = { total: 0, nonAccredited: 0, usPersons: 0 };
  const move = (inv: Holder | undefined, delta: bigint, at: Date) => {
    if (!inv) return;
    const p = state.get(inv.investor_id)!;
    const next = p.balance + delta;
    if (next < 0n) throw new Error(`chain shows investor ${inv.investor_id} sending more of ${tokenId} than the books hold`);
    const joins = p.balance === 0n && next > 0n;
    const leaves = p.balance > 0n && next === 0n;
    if (joins) Object.assign(p, { accredited: accreditedNow(inv, config, at), us: inv.us_person });
    p.balance = next;
    const step = joins ? 1 : leaves ? -1 : 0;
    steps.total += step;
    steps.nonAccredited += p.accredited ? 0 : step;
    steps.usPersons += p.us ? step : 0;
  };
  for (const m of moves) {
    move(m.fromInv, -m.amount, m.at);
    move(m.toInv, m.amount, m.at);
  }
  await setPositions(q, tokenId, [...state.values()]);
  await stepHolderCounts(q, tokenId, steps);
}
