/**
 * Every internal call between subgraphs, defined once: the request and reply
 * schema of each (service, method). The serving side parses requests with
 * `serveCalls`, the calling side parses replies with `peerCalls`, so both
 * hold the same types and neither restates them.
 *
 * Batch calls (`...Many`) take a list and answer a list of the same length
 * and order, each item its value or its own typed error (the DataLoader
 * contract): callers coalesce concurrent work into them (kit/coalesce.ts).
 */
import { z } from 'zod';
import type { Caller } from '../auth.js';
import { appError, badInput } from '../errors.js';
import type { InternalClient, InternalHandler } from '../internal.js';
import { amount, idOf, instant, itemOf, key, type Item } from './wire.js';

/** The most items one batch call carries (a bound on the body and on one transaction). */
export const MAX_BATCH = 500;

// ---- issuance

const tokenFacts = z.object({ id: z.string(), symbol: z.string(), decimals: z.number().int(), exemption: z.string(), paused: z.boolean() });

const ruleResult = z.object({
  code: z.string(), passed: z.boolean(), message: z.string(),
  regulation: z.string().nullish(), blockingUntil: z.union([z.string(), z.date()]).nullish().transform((v) => (v == null ? null : new Date(v).toISOString())),
});

/** A question about a transfer; a null party asks about the other one alone (order entry, counterparty unknown). */
const eligibilityQuestion = z.object({
  tokenId: z.string().min(1).max(100),
  fromInvestorId: z.string().min(1).max(100).nullish().transform((v) => v ?? null),
  toInvestorId: z.string().min(1).max(100).nullish().transform((v) => v ?? null),
  amount,
  kind: z.enum(['PRIMARY_ISSUANCE', 'SECONDARY_TRADE', 'FORCED_TRANSFER']).nullish(),
  at: instant.nullish(),
  /** What the receiver pays for the whole amount, in USD, for the investment limits (Reg CF, Reg A Tier 2); see issuance's priceCentsOf. */
  price: z.string().max(40).nullish(),
  currency: z.string().max(10).nullish(),
  /** Why the tokens move when it is not a sale (Rule 144 tacking, Reg CF exceptions); default SALE. */
  occasion: z.enum(['SALE', 'GIFT', 'INHERITANCE', 'FAMILY_TRUST', 'DIVORCE']).nullish(),
});

const eligibility = z.object({
  allowed: z.boolean(),
  results: z.array(ruleResult).readonly(),
  notApplicable: z.array(z.string()).readonly().optional(),
  missingParty: z.enum(['SENDER', 'RECEIVER']).nullish(),
  notEvaluated: z.array(z.string()).readonly().optional(),
  /** Filings the transfer requires alongside it (a Form 144 notice for an affiliate's sale). */
  requiredFilings: z.array(z.object({ code: z.string(), form: z.string(), regulation: z.string(), message: z.string() })).readonly().optional(),
});

/** A custody wallet swept to a new one: issuance moves the investor's security tokens (ERC-3643 recovery). */
const walletAddress = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'a 0x-prefixed 20-byte address');
const custodyRecovery = z.object({
  investorId: idOf('inv'), lostWallet: walletAddress, newWallet: walletAddress,
  /** Custody's sweep: the reason on issuance's audit trail. */
  sweepId: idOf('swp'),
});
const recoveredWallet = z.object({
  investorId: z.string(), lostWallet: z.string(), newWallet: z.string(),
  /** The recovery transactions, one per token the old wallet held (none when it held nothing, or on a replay). */
  moved: z.array(z.object({ tokenId: z.string(), txHash: z.string() })),
});

// ---- custody

const accountFacts = z.object({ id: z.string(), org: z.string(), investorId: z.string().nullable(), kind: z.string(), walletAddress: z.string().nullable() });
const balance = z.object({ accountId: z.string(), asset: z.string(), total: amount, reserved: amount, available: amount });
const reservation = z.object({
  reservationId: z.string(), accountId: z.string(), asset: z.string(), amount, released: amount, consumed: amount, remaining: amount,
  status: z.enum(['OPEN', 'CLOSED']), reason: z.string(),
});
const reserveRequest = z.object({ accountId: idOf('acc'), asset: z.string().min(1).max(100), amount, idempotencyKey: key, reason: z.string().min(1).max(500) });
const reserveReply = z.object({ reservation, balance });
const reason = z.string().min(1).max(500);
/** A hold for a DvP settlement: a new reservation, or part of another service's reservation taken over. */
const holdRequest = z.discriminatedUnion('kind', [
  reserveRequest.extend({ kind: z.literal('RESERVE') }),
  z.object({ kind: z.literal('ADOPT'), fromService: z.string().min(1).max(50), reservationKey: key, amount, idempotencyKey: key, reason }),
]);
/** Once the chain settled: reservations consumed and counter-assets credited, each part idempotent under the key. */
const bookingRequest = z.object({
  idempotencyKey: key, reason,
  consume: z.array(z.object({ reservationKey: key, amount })).max(64),
  credit: z.array(z.object({ accountId: idOf('acc'), asset: z.string().min(1).max(100), amount })).max(64),
});
const change = z.object({ operationId: z.string(), balance, reservation: reservation.optional() });
/** A DvP consent asked of one account's wallet: the batch's legs, and the caller's reservations that cover what the wallet pays. */
const consentRequest = z.object({
  accountId: idOf('acc'),
  reservationKeys: z.array(key).min(1).max(64),
  chainId: z.number().int().positive(),
  dvp: walletAddress,
  batchId: z.string().regex(/^0x[0-9a-fA-F]{64}$/, '32 bytes as 0x-hex'),
  legs: z.array(z.object({ token: walletAddress, from: walletAddress, to: walletAddress, amount })).min(1).max(256),
  deadline: z.number().int(),
});
const consentReply = z.object({ accountId: z.string(), signer: z.string(), nonces: z.array(z.string()), deadline: z.number().int(), signature: z.string() });

export const calls = {
  issuance: {
    /** A token's facts, or null. */
    token: { request: z.object({ tokenId: z.string().min(1).max(100) }), reply: tokenFacts.nullable() },
    /** Whether a transfer may happen, with every rule's result. */
    transferEligibility: { request: eligibilityQuestion, reply: eligibility },
    /** Many questions in one call: an answer (or a typed error) per question, in order. */
    transferEligibilityMany: {
      request: z.object({ questions: z.array(eligibilityQuestion).min(1).max(MAX_BATCH) }),
      reply: z.object({ answers: z.array(itemOf(eligibility)) }),
    },
    /**
     * Custody's wallet sweep: every token the old custody wallet holds moves to the new one (ERC-3643
     * recoveryAddress, with the management key T-REX requires), the wallets follow and the lots stay.
     * Idempotent: a recovery already recorded answers again with nothing moved.
     */
    recoverSweptWallet: { request: custodyRecovery, reply: recoveredWallet },
  },
  custody: {
    /** Who owns an account, or null. */
    account: { request: z.object({ accountId: idOf('acc') }), reply: accountFacts.nullable() },
    balance: { request: z.object({ accountId: idOf('acc'), asset: z.string().min(1).max(100) }), reply: balance },
    /** Holds an amount of the available balance; idempotent per (service, idempotencyKey). Short: CUSTODY.INSUFFICIENT_AVAILABLE. */
    reserve: { request: reserveRequest, reply: reserveReply },
    /** Many reservations in one transaction: a result (or a typed error) per item, in order; one item's refusal does not fail the others. */
    reserveMany: {
      request: z.object({ items: z.array(reserveRequest).min(1).max(MAX_BATCH) }),
      reply: z.object({ results: z.array(itemOf(reserveReply)) }),
    },
    /** Settlement's holds, many in one transaction: a result (or a typed error) per item, in order; a refused item leaves nothing. */
    holdMany: {
      request: z.object({ holds: z.array(holdRequest).min(1).max(MAX_BATCH) }),
      reply: z.object({ results: z.array(itemOf(reserveReply)) }),
    },
    /** Settlement's bookings of settled trades, many in one transaction: a result (or a typed error) per booking, in order. */
    bookSettlements: {
      request: z.object({ bookings: z.array(bookingRequest).min(1).max(MAX_BATCH) }),
      reply: z.object({ results: z.array(itemOf(z.object({ consumed: z.array(change), credited: z.array(change) }))) }),
    },
    /**
     * DvP consents, many in one call (settlement asks for the consents of the batches it prepares together): a
     * signature (or a typed error: not covered, unknown reservation, a sweep under way) per request, in order;
     * one request's refusal does not fail the others. Custody refuses a list longer than CUSTODY_CONSENT_LIST_MAX.
     */
    signDvpConsents: {
      request: z.object({ consents: z.array(consentRequest).min(1).max(MAX_BATCH) }),
      reply: z.object({ results: z.array(itemOf(consentReply)) }),
    },
  },
} as const;

export type Calls = typeof calls;
export type Service = keyof Calls;
export type Method<S extends Service> = keyof Calls[S] & string;
type Spec<S extends Service, M extends Method<S>> = Calls[S][M] extends { request: z.ZodType; reply: z.ZodType } ? Calls[S][M] : never;
/** What a caller sends (amounts as bigint or decimal string). */
export type RequestOf<S extends Service, M extends Method<S>> = z.input<Spec<S, M>['request']>;
/** What a handler receives, parsed. */
export type ParsedRequest<S extends Service, M extends Method<S>> = z.output<Spec<S, M>['request']>;
/** What a handler returns (before encoding). */
export type ReplyInput<S extends Service, M extends Method<S>> = z.input<Spec<S, M>['reply']>;
/** What a caller receives, parsed. */
export type ReplyOf<S extends Service, M extends Method<S>> = z.output<Spec<S, M>['reply']>;

const issues = (e: z.ZodError) => e.issues.slice(0, 5).map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');

/** The typed calls of one service, through a client authenticated as the caller. Replies are parsed; a malformed one is DOWNSTREAM.BAD_REPLY. */
export function peerCalls<S extends Service>(client: InternalClient, service: S) {
  return {
    async call<M extends Method<S>>(method: M, request: RequestOf<S, M>): Promise<ReplyOf<S, M>> {
      const spec = calls[service][method] as unknown as Spec<S, M>;
      const raw = await client.call<unknown>(method, request as Record<string, unknown>);
      const r = spec.reply.safeParse(raw);
      if (!r.success) throw appError('DOWNSTREAM.BAD_REPLY', `${service}.${method} answered in an unexpected shape (${issues(r.error)})`, { details: { service } });
      return r.data as ReplyOf<S, M>;
    },
  };
}

export type Handlers<S extends Service> = {
  [M in Method<S>]?: (request: ParsedRequest<S, M>, caller: Caller) => Promise<ReplyInput<S, M>>;
};

/** Internal handlers that parse their request first: a malformed body is INPUT.INVALID_REQUEST (422), never reaches the handler. */
export function serveCalls<S extends Service>(service: S, handlers: Handlers<S>): Record<string, InternalHandler> {
  const out: Record<string, InternalHandler> = {};
  for (const [method, handler] of Object.entries(handlers) as [Method<S>, (r: unknown, c: Caller) => Promise<unknown>][]) {
    const spec = calls[service][method] as unknown as { request: z.ZodType };
    out[method] = async (body, caller) => {
      const r = spec.request.safeParse(body);
      if (!r.success) throw badInput('INVALID_REQUEST', `${service}.${method}: ${issues(r.error)}`);
      return handler(r.data, caller);
    };
  }
  return out;
}

/** Runs a batch item by item: each gets its value or its own typed error (GraphQLError codes kept; anything else is rethrown). */
export async function eachItem<I, O>(items: readonly I[], run: (item: I) => Promise<O>): Promise<Item<O>[]> {
  const out: Item<O>[] = [];
  for (const it of items) out.push(await settleItem(() => run(it)));
  return out;
}

export async function settleItem<O>(run: () => Promise<O>): Promise<Item<O>> {
  try {
    return { ok: true, value: await run() };
  } catch (e) {
    const ext = (e as { extensions?: Record<string, unknown> }).extensions;
    if (!ext || typeof ext.code !== 'string') throw e;
    const { http: _h, ...rest } = ext;
    return { ok: false, error: { ...rest, code: ext.code, message: (e as Error).message } };
  }
}

/** A batch item's error as the typed error the single call would have thrown. */
export const itemError = (service: string, e: { code: string; message: string } & Record<string, unknown>) => {
  const { code, message, ...rest } = e;
  return appError(code, message, { details: { ...rest, service } });
};

/**
 * A peer's batch item error as its single call reaches the caller through InternalClient: a refusal the peer marks
 * retryable (a sweep under way, its chain node down) is the peer being unavailable for now, DOWNSTREAM.UNAVAILABLE.
 */
export const peerItemError = (service: string, e: { code: string; message: string } & Record<string, unknown>) =>
  (e.retryable === true
    ? appError('DOWNSTREAM.UNAVAILABLE', `${service}: ${e.message}`, { retryable: true, details: { service, cause: e.code } })
    : itemError(service, e));
