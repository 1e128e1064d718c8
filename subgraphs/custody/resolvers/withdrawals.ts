import { canSee } from '../../kit/access.js';
import type { CustodyContext } from '../services.js';
import { policyFromJson, type WithdrawalPolicy } from '../domain/policy.js';
import type { HoldingWithProof } from '../domain/holdings-proof.js';
import { proofOfHoldings } from '../holdings.js';
import * as policies from '../policies.js';
import type { ChangeStatus, PolicyChangeRow } from '../store/policies.js';
import { policyChangesOfOrg } from '../store/policies.js';
import type { DestinationRow, WithdrawalRow, WithdrawalStatus } from '../store/withdrawals.js';
import { withdrawalsOfOrg } from '../store/withdrawals.js';
import * as withdrawals from '../withdrawals.js';

/** Thin: parse nothing, decide nothing; services do both. */

async function visibleWithdrawal(ctx: CustodyContext, w: WithdrawalRow | null): Promise<WithdrawalRow | null> {
  if (!w) return null;
  const a = await ctx.loaders.account.load(w.account_id);
  return a && canSee(ctx.caller, { org: a.org, investorId: a.investor_id }) ? w : null;
}

interface PolicyInputArg {
  approvalsRequired: number; approvers: string[]; destinationDelaySeconds: number; velocityWindowSeconds: number;
  maxPerWithdrawal: bigint; maxPerWindow: bigint; assetLimits: WithdrawalPolicy['assetLimits'];
}

export const withdrawalResolvers = {
  Query: {
    withdrawal: async (_: unknown, a: { id: string }, ctx: CustodyContext) => visibleWithdrawal(ctx, await ctx.loaders.withdrawal.load(a.id)),
    withdrawals: async (_: unknown, a: { status?: WithdrawalStatus | null }, ctx: CustodyContext) => {
      const rows = await withdrawalsOfOrg(ctx.db, ctx.caller.org, a.status ?? null);
      const seen = await Promise.all(rows.map((w) => visibleWithdrawal(ctx, w)));
      return seen.filter((w): w is WithdrawalRow => !!w);
    },
    policyChanges: async (_: unknown, a: { status?: ChangeStatus | null }, ctx: CustodyContext) =>
      // Organisation-wide rows (no investor owns them): an investor-only caller or one without a role sees none.
      (canSee(ctx.caller, { org: ctx.caller.org }) ? policyChangesOfOrg(ctx.db, ctx.caller.org, a.status ?? null) : []),
    organisationWithdrawalPolicy: (_: unknown, __: unknown, ctx: CustodyContext) =>
      policies.effectivePolicy(ctx.db, ctx.env.defaults, ctx.caller.org, null),
    proofOfHoldings: (_: unknown, a: { tokenId: string }, ctx: CustodyContext) => proofOfHoldings(ctx.db, ctx.caller, a.tokenId),
  },
  Mutation: {
    requestWithdrawal: (_: unknown, a: { input: withdrawals.RequestWithdrawalInput }, ctx: CustodyContext) =>
      withdrawals.requestWithdrawal(ctx.env, ctx.caller, a.input),
    approveWithdrawal: (_: unknown, a: { id: string }, ctx: CustodyContext) => withdrawals.approveWithdrawal(ctx.env, ctx.caller, a.id),
    rejectWithdrawal: (_: unknown, a: { id: string; reason: string }, ctx: CustodyContext) => withdrawals.rejectWithdrawal(ctx.env, ctx.caller, a.id, a.reason),
    addWithdrawalDestination: (_: unknown, a: { input: withdrawals.AddDestinationInput }, ctx: CustodyContext) =>
      withdrawals.addWithdrawalDestination(ctx.env, ctx.caller, a.input),
    removeWithdrawalDestination: (_: unknown, a: { id: string }, ctx: CustodyContext) => withdrawals.removeWithdrawalDestination(ctx.env, ctx.caller, a.id),
    proposePolicyChange: (_: unknown, a: { input: { idempotencyKey: string; accountId?: string | null; policy: PolicyInputArg } }, ctx: CustodyContext) =>
      policies.proposePolicyChange(ctx.env, ctx.caller, a.input),
    approvePolicyChange: (_: unknown, a: { id: string }, ctx: CustodyContext) => policies.approvePolicyChange(ctx.env, ctx.caller, a.id),
    rejectPolicyChange: (_: unknown, a: { id: string; reason: string }, ctx: CustodyContext) => policies.rejectPolicyChange(ctx.env, ctx.caller, a.id, a.reason),
  },
  Withdrawal: {
    __resolveReference: async (ref: { id: string }, ctx: CustodyContext) => visibleWithdrawal(ctx, await ctx.loaders.withdrawal.load(ref.id)),
    account: (w: WithdrawalRow, _: unknown, ctx: CustodyContext) => ctx.loaders.account.load(w.account_id),
    toAddress: (w: WithdrawalRow) => w.to_address,
    initiatedBy: (w: WithdrawalRow) => w.initiated_by,
    approvalsRequired: (w: WithdrawalRow) => w.approvals_required,
    approvals: async (w: WithdrawalRow, _: unknown, ctx: CustodyContext) =>
      (await ctx.loaders.withdrawalApprovals.load(w.id)).map((r) => ({ approver: r.approver, approvedAt: r.created_at })),
    txHash: (w: WithdrawalRow) => w.tx_hash,
    lastError: (w: WithdrawalRow) => w.last_error,
    decidedBy: (w: WithdrawalRow) => w.decided_by,
    decisionReason: (w: WithdrawalRow) => w.decision_reason,
    createdAt: (w: WithdrawalRow) => w.created_at,
    updatedAt: (w: WithdrawalRow) => w.updated_at,
  },
  WithdrawalDestination: {
    addedBy: (d: DestinationRow) => d.added_by,
    usableFrom: (d: DestinationRow) => d.usable_from,
    createdAt: (d: DestinationRow) => d.created_at,
  },
  PolicyChange: {
    account: (c: PolicyChangeRow, _: unknown, ctx: CustodyContext) => (c.account_id ? ctx.loaders.account.load(c.account_id) : null),
    proposed: (c: PolicyChangeRow) => policyFromJson(c.proposed),
    proposedBy: (c: PolicyChangeRow) => c.proposed_by,
    approvalsRequired: (c: PolicyChangeRow) => c.approvals_required,
    approvals: async (c: PolicyChangeRow, _: unknown, ctx: CustodyContext) =>
      (await ctx.loaders.policyChangeApprovals.load(c.id)).map((r) => ({ approver: r.approver, approvedAt: r.created_at })),
    decidedBy: (c: PolicyChangeRow) => c.decided_by,
    decisionReason: (c: PolicyChangeRow) => c.decision_reason,
    createdAt: (c: PolicyChangeRow) => c.created_at,
    decidedAt: (c: PolicyChangeRow) => c.decided_at,
  },
  HoldingProof: {
    account: (h: HoldingWithProof, _: unknown, ctx: CustodyContext) => ctx.loaders.account.load(h.accountId),
  },
};
