import { requireService } from '../kit/access.js';
import { badInput } from '../kit/errors.js';
import type { InternalHandler } from '../kit/internal.js';
import { serveCalls, settleItem } from '../kit/contracts/calls.js';
import type { Db } from '../kit/db/types.js';
import type { SubgraphRuntime } from '../kit/subgraph.js';
import { parseAccountId, parseAmount, parseAsset, parseId, parseIdempotencyKey, parseMove, optionalAmount } from './inputs.js';
import { parseAddress } from '../kit/scalars.js';
import { adoptReservation, bookSettlement, bookSettlements, holdMany, raw } from './dvp-ledger.js';
import { DvpCustody } from './dvp-signing.js';
import type { WalletKeys } from './keys.js';
import { ledger, type ReservationRef } from './ledger.js';
import { accountsByIds } from './store/accounts.js';
import { assetById } from './store/ledger.js';
import { custodySettings } from './settings.js';

/**
 * The internal calls custody serves (service credential only, not in the
 * public schema): POST /internal/rpc/<name> with a JSON body; amounts are
 * decimal strings. Idempotency keys are scoped to the calling service. The
 * list calls are typed in kit/contracts/calls.ts (serveCalls). Two groups:
 * the ledger's (reservations, credits, debits, balances: trading and
 * settlement) and DvP's (dvp-ledger.ts, dvp-signing.ts: settlement).
 */
export function internalCalls(rt: SubgraphRuntime, keys: WalletKeys): Record<string, InternalHandler> {
  return { ...custodyInternal(rt.db), ...custodyDvpInternal(rt, keys) };
}

/** Every handler checks the service credential: the route checks it too; a handler called directly must not skip it. */
const guarded = (handlers: Record<string, InternalHandler>): Record<string, InternalHandler> =>
  Object.fromEntries(Object.entries(handlers).map(([k, h]): [string, InternalHandler] => [k, async (body, caller) => {
    requireService(caller);
    return h(body, caller);
  }]));

function reservationRef(b: Record<string, unknown>): ReservationRef {
  const hasId = b.reservationId !== undefined && b.reservationId !== null;
  const hasKey = b.reservationKey !== undefined && b.reservationKey !== null;
  if (hasId === hasKey) throw badInput('INVALID_RESERVATION_REF', 'give exactly one of reservationId or reservationKey (the idempotencyKey the reservation was made with)');
  return hasId ? { reservationId: parseId(b.reservationId, 'rsv', 'reservationId') } : { reservationKey: parseIdempotencyKey(b.reservationKey, 'reservationKey') };
}

/** The ledger's calls. */
export function custodyInternal(db: Db): Record<string, InternalHandler> {
  return guarded({
    /** { items: [{ accountId, asset, amount, idempotencyKey, reason }] } -> { results: [{ ok, value | error }] }, one transaction. */
    ...serveCalls('custody', {
      async reserveMany({ items }, c) {
        // Each item is checked as the single reserve checks it; a bad one is its own typed error, the rest go on.
        const checked = await Promise.all(items.map((it) => settleItem(async () => parseMove({ ...it, amount: it.amount.toString() }))));
        const valid = checked.flatMap((x) => (x.ok ? [x.value] : []));
        const done = valid.length ? await ledger.reserveMany(db, c.subject, valid) : [];
        let k = 0;
        return { results: checked.map((x) => (x.ok ? done[k++] : x)) };
      },
    }),
    /** { accountId, asset, amount, idempotencyKey, reason } -> { reservation, balance } */
    reserve: (b, c) => ledger.reserve(db, c.subject, parseMove(b)),
    /** { reservationId | reservationKey, amount?, idempotencyKey? } -> { operationId, balance, reservation } */
    release: (b, c) => ledger.release(db, c.subject, {
      ref: reservationRef(b),
      amount: optionalAmount(b.amount),
      idempotencyKey: b.idempotencyKey === undefined || b.idempotencyKey === null ? undefined : parseIdempotencyKey(b.idempotencyKey),
    }),
    /** { reservationId | reservationKey, amount, idempotencyKey } -> { operationId, balance, reservation } */
    consume: (b, c) => ledger.consume(db, c.subject, { ref: reservationRef(b), amount: parseAmount(b.amount), idempotencyKey: parseIdempotencyKey(b.idempotencyKey) }),
    /** { accountId, asset, amount, idempotencyKey, reason } -> { operationId, balance } */
    credit: (b, c) => ledger.credit(db, c.subject, parseMove(b)),
    /** { accountId, asset, amount, idempotencyKey, reason } -> { operationId, balance } (free funds only) */
    debit: (b, c) => ledger.debit(db, c.subject, parseMove(b)),
    /** { accountId, asset } -> { accountId, asset, total, reserved, available } */
    balance: (b) => ledger.balance(db, parseAccountId(b.accountId), parseAsset(b.asset)),
    /** { reservationId | reservationKey } -> reservation */
    reservation: (b, c) => ledger.reservation(db, c.subject, reservationRef(b)),
    /** { accountId } -> { id, org, investorId, kind, walletAddress } or null: who owns an account (trading checks orders against it). */
    account: async (b) => {
      const [a] = await accountsByIds(db, [parseAccountId(b.accountId)]);
      return a ? { id: a.id, org: a.org, investorId: a.investor_id, kind: a.kind, walletAddress: a.wallet_address } : null;
    },
    /** { asset, contractAddress? } -> { asset, contractAddress } */
    registerAsset: (b) => ledger.registerAsset(db, parseAsset(b.asset),
      b.contractAddress === undefined || b.contractAddress === null ? null : parseAddress(String(b.contractAddress))),
  } satisfies Record<string, InternalHandler>);
}

/** DvP's calls: the wallets' keys sign in this process and never leave. */
export function custodyDvpInternal(rt: { db: Db; config: { CHAIN_RPC_URL: string; CUSTODY_CONSENT_LIST_MAX?: number } }, keys: WalletKeys): Record<string, InternalHandler> {
  const dvp = new DvpCustody(rt.db, keys, rt.config.CHAIN_RPC_URL);
  const listMax = rt.config.CUSTODY_CONSENT_LIST_MAX ?? custodySettings.CUSTODY_CONSENT_LIST_MAX.default!;
  return guarded({
    /** { asset } -> { asset, contractAddress } or null */
    asset: async (b) => {
      const a = await assetById(rt.db, parseAsset(b.asset));
      return a ? { asset: a.id, contractAddress: a.contract_address } : null;
    },
    /** { fromService, reservationKey, amount, idempotencyKey, reason } -> { reservation, balance } (the caller's new reservation) */
    adoptReservation: (b, caller) => adoptReservation(rt.db, caller.subject, b),
    /** { idempotencyKey, reason, consume: [{ reservationKey, amount }], credit: [{ accountId, asset, amount }] } -> { consumed, credited } */
    bookSettlement: (b, caller) => bookSettlement(rt.db, caller.subject, b),
    ...serveCalls('custody', {
      async holdMany({ holds }, caller) {
        return holdMany(rt.db, caller.subject, holds.map(raw));
      },
      async bookSettlements({ bookings }, caller) {
        return bookSettlements(rt.db, caller.subject, bookings.map(raw));
      },
      async signDvpConsents({ consents }, caller) {
        if (consents.length > listMax) throw badInput('LIST_TOO_LONG', `at most ${listMax} consents in one call (CUSTODY_CONSENT_LIST_MAX)`, { max: listMax });
        return { results: await dvp.signConsents(caller.subject, consents) };
      },
    }),
    /** { accountId, asset, spender } -> { walletAddress, token, spender, allowance, txHash | null } */
    approveSpender: (b, caller) => dvp.approveSpender(caller.subject, b),
  });
}
