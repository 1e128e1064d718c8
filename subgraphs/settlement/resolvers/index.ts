import { notFound } from '../../kit/errors.js';
import { trimDecimal } from '../../kit/scalars.js';
import { sees, visibilityOf } from '../access.js';
import { authorizeVenueToken, cancelSettlement, retrySettlementBooking } from '../agent.js';
import { attestationView, verifyAttestation } from '../attestations.js';
import { verifyAuditLog } from '../audit.js';
import type { AuditEntry } from '../domain/audit-chain.js';
import { submitExternalTrade, type ExternalTradeInput } from '../intake.js';
import type { SettlementContext as Ctx } from '../services.js';
import type { BatchRow } from '../store/batches.js';
import { settlementCountOfBatch, settlementsVisible, type RuleResultJson, type SettlementRow } from '../store/settlements.js';
import { statusStream, type StatusEventView } from '../subscriptions.js';

const visible = (ctx: Ctx, r: SettlementRow | null) => (r && sees(visibilityOf(ctx.caller, ctx.services.config), r) ? r : null);
const rule = (r: RuleResultJson) => ({ ...r, blockingUntil: r.blockingUntil ? new Date(r.blockingUntil) : null });
const auditView = (e: AuditEntry) => ({ ...e, seq: e.seq.toString(), detail: JSON.stringify(e.detail) });

/** Settlement's GraphQL resolvers: thin, each one call to a logic file or a loader. */
export const resolvers = {
  Query: {
    settlements: (_: unknown, a: { status?: string | null; tokenId?: string | null }, ctx: Ctx) =>
      settlementsVisible(ctx.db, visibilityOf(ctx.caller, ctx.services.config), a),
    settlement: async (_: unknown, a: { id: string }, ctx: Ctx) => visible(ctx, await ctx.loaders.settlement.load(a.id)),
    auditTrail: async (_: unknown, a: { settlementId: string }, ctx: Ctx) => {
      if (!visible(ctx, await ctx.loaders.settlement.load(a.settlementId))) throw notFound('settlement', a.settlementId);
      return (await ctx.loaders.audit.load(a.settlementId)).map(auditView);
    },
    verifyAuditLog: (_: unknown, a: { from?: string | null; to?: string | null }, ctx: Ctx) => verifyAuditLog(ctx.services, ctx.caller, a),
    verifyAttestation: (_: unknown, a: { record: string; signature: string }, ctx: Ctx) => verifyAttestation(ctx.services, ctx.caller, a.record, a.signature),
    settlementAgent: async (_: unknown, __: unknown, ctx: Ctx) => {
      const { chain, config } = ctx.services;
      const c = await chain.client().catch(() => null);
      return { mode: config.SETTLEMENT_MODE, attestationSigner: chain.attestationSigner, chainId: c?.chainId ?? null, dvpContract: await chain.knownDvpAddress().catch(() => null) };
    },
  },
  Mutation: {
    submitExternalTrade: (_: unknown, a: { input: ExternalTradeInput }, ctx: Ctx) => submitExternalTrade(ctx.services, ctx.caller, a.input),
    cancelSettlement: (_: unknown, a: { id: string; reason: string }, ctx: Ctx) => cancelSettlement(ctx.services, ctx.caller, a.id, a.reason),
    retrySettlementBooking: (_: unknown, a: { id: string }, ctx: Ctx) => retrySettlementBooking(ctx.services, ctx.caller, a.id),
    authorizeVenueToken: (_: unknown, a: { venue: string; tokenId: string; authorized: boolean }, ctx: Ctx) => authorizeVenueToken(ctx.services, ctx.caller, a.venue, a.tokenId, a.authorized),
  },
  Subscription: {
    settlementStatusChanged: {
      subscribe: (_: unknown, a: { settlementId?: string; accountId?: string; after?: string }, ctx: Ctx) =>
        statusStream(ctx.db, ctx.services.outbox, ctx.services.config, ctx.caller, a),
      resolve: (e: StatusEventView) => e,
    },
  },
  SettlementStatusEvent: {
    settlement: async (e: StatusEventView, _: unknown, ctx: Ctx) => visible(ctx, await ctx.loaders.settlement.load(e.settlementId)),
  },
  Trade: {
    __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
    settlement: async (t: { id: string }, _: unknown, ctx: Ctx) => visible(ctx, await ctx.loaders.settlementOfTrade.load(t.id)),
  },
  Settlement: {
    __resolveReference: async (ref: { id: string }, ctx: Ctx) => visible(ctx, await ctx.loaders.settlement.load(ref.id)),
    token: (s: SettlementRow) => ({ id: s.token_id }),
    trade: (s: SettlementRow) => (s.trade_id ? { id: s.trade_id } : null),
    quantity: (s: SettlementRow) => BigInt(s.quantity),
    price: (s: SettlementRow) => trimDecimal(s.price),
    cashAmount: (s: SettlementRow) => (s.cash_amount === null ? null : BigInt(s.cash_amount)),
    cashAsset: (s: SettlementRow) => s.cash_asset,
    buyerAccountId: (s: SettlementRow) => s.buyer_account_id,
    sellerAccountId: (s: SettlementRow) => s.seller_account_id,
    buyerInvestorId: (s: SettlementRow) => s.buyer_investor_id,
    sellerInvestorId: (s: SettlementRow) => s.seller_investor_id,
    venueReference: (s: SettlementRow) => s.venue_reference,
    tradeTime: (s: SettlementRow) => s.trade_time,
    createdAt: (s: SettlementRow) => s.created_at,
    updatedAt: (s: SettlementRow) => s.updated_at,
    reasonCode: (s: SettlementRow) => s.reason_code,
    rejectionReasons: (s: SettlementRow) => (s.rejection ?? []).map(rule),
    eligibility: (s: SettlementRow) => (s.eligibility?.results ?? []).map(rule),
    nextAttemptAt: (s: SettlementRow) => (s.status === 'FAILED' && !s.final ? s.next_attempt_at : null),
    txHash: (s: SettlementRow) => s.tx_hash,
    blockNumber: (s: SettlementRow) => (s.block_number === null ? null : BigInt(s.block_number)),
    settledAt: (s: SettlementRow) => s.settled_at,
    bookingStopped: (s: SettlementRow) => (s.booking_stopped ? { step: 'BOOKING', ...s.booking_stopped, at: new Date(s.booking_stopped.at) } : null),
    batch: (s: SettlementRow, _: unknown, ctx: Ctx) => (s.batch_id ? ctx.loaders.batch.load(s.batch_id) : null),
    attestation: (s: SettlementRow) => attestationView(s),
    history: async (s: SettlementRow, _: unknown, ctx: Ctx) => (await ctx.loaders.history.load(s.id)).map((h) => ({ ...h, reasonCode: h.reason_code })),
    auditTrail: async (s: SettlementRow, _: unknown, ctx: Ctx) => (await ctx.loaders.audit.load(s.id)).map(auditView),
  },
  DvpBatch: {
    chainBatchId: (b: BatchRow) => b.chain_batch_id,
    dvpContract: (b: BatchRow) => b.dvp_address,
    txHash: (b: BatchRow) => b.tx_hash,
    blockNumber: (b: BatchRow) => (b.block_number === null ? null : BigInt(b.block_number)),
    gasUsed: (b: BatchRow) => (b.gas_used === null ? null : BigInt(b.gas_used)),
    effectiveGasPrice: (b: BatchRow) => (b.effective_gas_price === null ? null : BigInt(b.effective_gas_price)),
    legs: (b: BatchRow) => b.legs.map((l) => ({ ...l, amount: BigInt(l.amount) })),
    settlementCount: (b: BatchRow, _: unknown, ctx: Ctx) => settlementCountOfBatch(ctx.db, b.id),
  },
};
