/**
 * Field parsers shared by the internal calls and events (zod schemas). On the
 * wire an amount is a decimal string; a parsed amount is a bigint, and a
 * sender may hand either (bigints become strings when the body is encoded).
 */
import { z } from 'zod';

const INTEGER = /^-?\d{1,78}$/;

/** An integer amount: bigint, or its decimal string on the wire. */
export const amount = z
  .union([z.bigint(), z.string().regex(INTEGER, 'an integer as a decimal string')])
  .transform((v) => BigInt(v));

/** An id with its type prefix (`acc_...`, `tok_...`). */
export const idOf = (prefix: string) => z.string().regex(new RegExp(`^${prefix}_[0-9a-z]{1,64}$`), `a ${prefix}_ id`);

/** An idempotency key as the ledger stores it. */
export const key = z.string().min(1).max(200);

/** An instant: a Date, or an ISO string on the wire; parsed to a Date. */
export const instant = z
  .union([z.date(), z.string().max(40).refine((v) => Number.isFinite(Date.parse(v)), 'an ISO date-time')])
  .transform((v) => new Date(v));

/** A typed error as it travels inside a batch answer (one item's failure does not fail the others). */
export const wireError = z.looseObject({ code: z.string(), message: z.string() });
export type WireError = z.infer<typeof wireError>;

/** One item of a batch answer: its result, or its own typed error. */
export const itemOf = <T extends z.ZodType>(ok: T) =>
  z.union([z.object({ ok: z.literal(true), value: ok }), z.object({ ok: z.literal(false), error: wireError })]);

/** The same item as a handler builds it (before its reply schema is applied). */
export type Item<T> = { ok: true; value: T } | { ok: false; error: WireError };
