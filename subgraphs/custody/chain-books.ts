import type { Log } from 'ethers';
import { ZERO_ADDRESS, decodeTransfer, type TransferLog } from '../kit/chain/transfers.js';
import type { Queryable } from '../kit/db/types.js';
import { isDeposit } from './domain/deposits.js';
import { PendingEvents } from './events.js';
import { OWN_SERVICE, creditIn, debitIn } from './ledger.js';
import { balanceOf } from './store/ledger.js';
import { assetCursor, insertDeposit, movementKey, ourWallets, recordMovements, setCursorTime, withdrawalTxs, type MovementRow } from './store/chain.js';

/** The idempotency key of a deposit's credit: one per log, whoever applies it. */
export const depositKey = (txHash: string, logIndex: number) => `deposit:${txHash}:${logIndex}`;

/**
 * Applies one range of an asset's Transfer logs inside the indexer's
 * transaction: every side that is a custody wallet is recorded (the account's
 * `onChain` moves with it), and deposits (domain/deposits.ts) are credited to
 * the books once each, with a `deposit.credited` event.
 */
export async function applyAssetTransfers(q: Queryable, asset: string, logs: Log[], range: { to: number; times: Map<number, Date> }): Promise<number> {
  const transfers = logs.map(decodeTransfer);
  const ours = await ourWallets(q, transfers.flatMap((t) => [t.from, t.to]));
  const signed = await withdrawalTxs(q, transfers.filter((t) => ours.has(t.from.toLowerCase())).map((t) => t.txHash));
  // Every wallet side of the range's logs is recorded in one statement; what follows acts on the sides recorded now.
  const sides = transfers.map((t) => {
    const from = ours.get(t.from.toLowerCase());
    const to = ours.get(t.to.toLowerCase());
    // A wallet sending to itself moves nothing (both sides would share one movement key).
    if ((!from && !to) || t.amount === 0n || t.from.toLowerCase() === t.to.toLowerCase()) return null;
    const base = { txHash: t.txHash, logIndex: t.logIndex, asset, block: t.block, blockTime: range.times.get(t.block)! };
    const deposit = isDeposit({ fromCustodyWallet: !!from, withdrawal: signed.has(t.txHash) });
    return {
      t, deposit,
      out: from ? { ...base, wallet: from.address, accountId: from.account_id, counterparty: t.to, delta: -t.amount, kind: to ? 'INTERNAL' : 'OUTGOING' } satisfies MovementRow : null,
      in: to ? { ...base, wallet: to.address, accountId: to.account_id, counterparty: t.from, delta: t.amount, kind: deposit ? 'DEPOSIT' : 'INTERNAL' } satisfies MovementRow : null,
    };
  });
  const recorded = await recordMovements(q, sides.flatMap((s) => (s ? [s.out, s.in].filter((m): m is MovementRow => !!m) : [])));
  const events = new PendingEvents();
  let deposits = 0;
  for (const side of sides) {
    if (!side) continue;
    const { t, deposit } = side;
    // A log whose sending side was recorded before was applied before.
    if (side.out && !recorded.has(movementKey(side.out))) continue;
    if (!side.in) {
      if (side.out && t.to === ZERO_ADDRESS && !signed.has(t.txHash)) await debitBurn(q, asset, side.out.accountId, t);
      continue;
    }
    if (!recorded.has(movementKey(side.in)) || !deposit) continue;
    const { accountId, wallet, blockTime } = side.in;
    const credit = await creditIn(q, OWN_SERVICE, {
      accountId, asset, amount: t.amount, idempotencyKey: depositKey(t.txHash, t.logIndex), reason: `deposit ${t.txHash}:${t.logIndex}`,
    }, events);
    await insertDeposit(q, {
      tx_hash: t.txHash, log_index: t.logIndex, account_id: accountId, asset, wallet, from_address: t.from,
      amount: t.amount.toString(), block: t.block, block_time: blockTime, operation_id: credit.operationId,
    });
    events.add('deposit.credited', accountId, {
      accountId, asset, amount: t.amount.toString(), wallet, from: t.from,
      txHash: t.txHash, logIndex: t.logIndex, block: t.block, operationId: credit.operationId, balance: credit.balance,
    });
    deposits++;
  }
  await setCursorTime(q, assetCursor(asset), range.times.get(range.to)!);
  await events.appendTo(q);
  return deposits;
}

/**
 * The token's agent burnt from a custody wallet (a reverse split, a
 * redemption): the account's books follow the chain, once per log. Only free
 * units are debited; a burn beyond them (units reserved for an order) stays a
 * difference the reconciliation shows.
 */
async function debitBurn(q: Queryable, asset: string, accountId: string, t: TransferLog): Promise<void> {
  const b = await balanceOf(q, accountId, asset);
  const free = b ? BigInt(b.total) - BigInt(b.reserved) : 0n;
  const amount = free < t.amount ? free : t.amount;
  if (amount > 0n) await debitIn(q, OWN_SERVICE, { accountId, asset, amount, idempotencyKey: `burn:${t.txHash}:${t.logIndex}`, reason: `burnt by the token's agent ${t.txHash}:${t.logIndex}` });
}
