/**
 * Every outbox event topic whose payload is defined here, with one parser per
 * payload: the producer appends through `appendTyped` (its payload checked
 * against the type at compile time), a consumer reads with `parseEvent`.
 * Amounts stay decimal strings in events (subscribers and feeds pass them on).
 */
import { z } from 'zod';
import type { Queryable } from '../db/types.js';
import { appendEvents } from '../outbox.js';
import { wireError } from './wire.js';

/** A decimal integer string; a producer may hand a bigint. */
const decimal = z.union([z.bigint(), z.string().regex(/^-?\d{1,78}$/)]).transform((v) => v.toString());
const side = z.enum(['BUY', 'SELL']);
const reasons = z.array(wireError.pick({ code: true, message: true }).loose());
const share = z.object({ key: z.string(), asset: z.string(), amount: decimal });

export const events = {
  /** An order's state after a change (trading), with the book events that changed it. */
  'order.updated': z.object({
    orderId: z.string(), tokenId: z.string(), accountId: z.string(), investorId: z.string().nullable(), org: z.string(), clientOrderId: z.string(),
    side, type: z.enum(['LIMIT', 'MARKET']), timeInForce: z.string(), price: decimal.nullable(), quantity: decimal, filled: decimal, remaining: decimal,
    status: z.string(), cancelReason: z.string().nullable(), rejectReasons: reasons.nullable(), events: z.array(z.string()), bookSeq: z.number().int().nullable(),
  }).loose(),
  /** A fill (trading): exactly one settlement follows each. */
  'trade.executed': z.object({
    tradeId: z.string(), tokenId: z.string(), price: decimal, quantity: decimal, cashAmount: decimal, cashAsset: z.string(), aggressorSide: side,
    buyOrderId: z.string(), sellOrderId: z.string(), buyAccountId: z.string(), sellAccountId: z.string(),
    buyInvestorId: z.string().nullable(), sellInvestorId: z.string().nullable(), buyOrg: z.string(), sellOrg: z.string(),
    buyerFee: decimal, sellerFee: decimal, reservations: z.object({ buy: z.array(share), sell: z.array(share) }), bookSeq: z.number().int(), executedAt: z.string(),
  }),
  /** The levels of a book that one batch of commands changed (trading). */
  'book.changed': z.object({
    tokenId: z.string(), bookSeq: z.number().int(),
    levels: z.array(z.object({ side, price: decimal, quantity: decimal, orders: z.number().int() })),
  }),
} as const;

export type Topic = keyof typeof events;
/** What a producer hands. */
export type EventInput<T extends Topic> = z.input<(typeof events)[T]>;
/** What a consumer reads. */
export type EventPayload<T extends Topic> = z.output<(typeof events)[T]>;
export type TypedEvent = { [T in Topic]: { topic: T; key: string; payload: EventInput<T> } }[Topic];

/** Parses a payload of a known topic; throws a ZodError describing what is wrong. */
export const parseEvent = <T extends Topic>(topic: T, payload: unknown): EventPayload<T> => events[topic].parse(payload) as EventPayload<T>;

/** Appends typed events in the caller's transaction (last in it: see kit/outbox.ts). */
export const appendTyped = (q: Queryable, list: readonly TypedEvent[]) => appendEvents(q, list);
