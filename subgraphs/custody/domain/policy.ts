/**
 * Withdrawal policy: what an account may send out and who must agree.
 * Pure functions; amounts in base units of the asset concerned.
 */
export interface AssetLimit {
  asset: string;
  maxPerWithdrawal: bigint;
  maxPerWindow: bigint;
}

export interface WithdrawalPolicy {
  /** m: approvals needed, from CUSTODIANs other than the initiator. */
  approvalsRequired: number;
  /** The n approvers (token subjects); empty: any CUSTODIAN of the organisation. */
  approvers: string[];
  /** New allow-list entries become usable after this many seconds. */
  destinationDelaySeconds: number;
  /** Length of the rolling window of the velocity limit. */
  velocityWindowSeconds: number;
  /** Limits for assets without an entry in assetLimits. */
  maxPerWithdrawal: bigint;
  maxPerWindow: bigint;
  assetLimits: AssetLimit[];
}

export type PolicyScope = 'ACCOUNT' | 'ORGANISATION' | 'DEFAULT';

export interface EffectivePolicy {
  policy: WithdrawalPolicy;
  scope: PolicyScope;
  /** Version of the stored row that holds it (0 for the configured defaults). */
  version: number;
}

/** A business refusal, returned to the client with every other one (not thrown). */
export interface Refusal {
  code: string;
  message: string;
}

const MAX_SECONDS = 10 * 366 * 86_400;

/** What is wrong with a proposed policy: a field and why, or an asset of assetLimits that is no asset at all. */
export type PolicyProblem = { field: string; why: string } | { asset: unknown };

/**
 * Checks a proposed policy: the policy (approvers trimmed), or the first problem
 * found (the caller answers INPUT.INVALID_POLICY naming the field, or its own
 * refusal of the asset). `isAsset` is the caller's check of an asset's form.
 */
export function checkPolicy(p: WithdrawalPolicy, isAsset: (v: unknown) => boolean): { policy: WithdrawalPolicy } | { problem: PolicyProblem } {
  const approvers = [...new Set(p.approvers.map((a) => a.trim()))];
  const problem = policyProblem(p, approvers, isAsset);
  return problem ? { problem } : { policy: { ...p, approvers } };
}

function policyProblem(p: WithdrawalPolicy, approvers: string[], isAsset: (v: unknown) => boolean): PolicyProblem | null {
  const bad = (field: string, why: string) => ({ field, why });
  if (!Number.isInteger(p.approvalsRequired) || p.approvalsRequired < 1 || p.approvalsRequired > 50) return bad('approvalsRequired', 'must be an integer from 1 to 50');
  if (approvers.some((a) => !a || a.length > 200)) return bad('approvers', 'must be non-empty subjects');
  if (approvers.length !== p.approvers.length) return bad('approvers', 'must not repeat a subject');
  // The initiator cannot approve, so a listed quorum needs m approvers besides whoever initiates.
  if (approvers.length > 0 && approvers.length < p.approvalsRequired) return bad('approvers', `lists ${approvers.length}, fewer than approvalsRequired (${p.approvalsRequired})`);
  for (const f of ['destinationDelaySeconds', 'velocityWindowSeconds'] as const) {
    if (!Number.isInteger(p[f]) || p[f] < 0 || p[f] > MAX_SECONDS) return bad(f, 'must be a whole number of seconds up to 10 years');
  }
  if (p.velocityWindowSeconds < 1) return bad('velocityWindowSeconds', 'must be at least 1');
  const limitsProblem = (prefix: string, l: { maxPerWithdrawal: bigint; maxPerWindow: bigint }) => {
    if (l.maxPerWithdrawal < 0n) return bad(`${prefix}maxPerWithdrawal`, 'must not be negative');
    if (l.maxPerWindow < 0n) return bad(`${prefix}maxPerWindow`, 'must not be negative');
    return null;
  };
  const top = limitsProblem('', p);
  if (top) return top;
  const seen = new Set<string>();
  for (const [i, l] of p.assetLimits.entries()) {
    if (!isAsset(l.asset)) return { asset: l.asset };
    if (seen.has(l.asset)) return bad(`assetLimits[${i}].asset`, `repeats ${l.asset}`);
    seen.add(l.asset);
    const own = limitsProblem(`assetLimits[${i}].`, l);
    if (own) return own;
  }
  return null;
}

export function limitsFor(p: WithdrawalPolicy, asset: string): { maxPerWithdrawal: bigint; maxPerWindow: bigint } {
  return p.assetLimits.find((l) => l.asset === asset) ?? { maxPerWithdrawal: p.maxPerWithdrawal, maxPerWindow: p.maxPerWindow };
}

export interface WithdrawalFacts {
  policy: WithdrawalPolicy;
  asset: string;
  amount: bigint;
  /** The active allow-list entry for the destination, if any. */
  destination: { usableFrom: Date } | null;
  /** Whether the destination is a custody wallet of the account itself (active or retired): nothing would leave it. */
  toOwnWallet?: boolean;
  /** Sum of the account's non-refused withdrawals of the asset in the window ending now. */
  windowSum: bigint;
  available: bigint;
  /** Whether custody knows the asset's contract (a transfer cannot be built without it). */
  onChain: boolean;
  now: Date;
}

/** Every reason the policy refuses this withdrawal (empty: allowed). */
export function checkWithdrawal(f: WithdrawalFacts): Refusal[] {
  const out: Refusal[] = [];
  const limits = limitsFor(f.policy, f.asset);
  if (f.toOwnWallet) {
    // The chain would move nothing while the books consumed the amount: the account's balance would fall for nothing.
    out.push({ code: 'CUSTODY.OWN_WALLET', message: 'the destination is a custody wallet of the account itself: a withdrawal to it moves nothing' });
  } else if (!f.destination) {
    out.push({ code: 'CUSTODY.DESTINATION_NOT_ALLOWED', message: 'the destination is not on the account\'s withdrawal allow-list' });
  } else if (f.destination.usableFrom.getTime() > f.now.getTime()) {
    out.push({ code: 'CUSTODY.DESTINATION_NOT_YET_USABLE', message: `the destination becomes usable at ${f.destination.usableFrom.toISOString()}` });
  }
  if (f.amount > limits.maxPerWithdrawal) {
    out.push({ code: 'CUSTODY.WITHDRAWAL_LIMIT_EXCEEDED', message: `amount ${f.amount} exceeds the per-withdrawal limit ${limits.maxPerWithdrawal}` });
  }
  if (f.windowSum + f.amount > limits.maxPerWindow) {
    out.push({
      code: 'CUSTODY.VELOCITY_LIMIT_EXCEEDED',
      message: `withdrawals of ${f.windowSum} in the last ${f.policy.velocityWindowSeconds} s plus ${f.amount} exceed the limit ${limits.maxPerWindow}`,
    });
  }
  if (f.amount > f.available) {
    out.push({ code: 'CUSTODY.INSUFFICIENT_AVAILABLE', message: `amount ${f.amount} exceeds the available balance ${f.available}` });
  }
  if (!f.onChain) out.push({ code: 'CUSTODY.ASSET_NOT_ON_CHAIN', message: `${f.asset} has no known contract address yet` });
  return out;
}

/** Why this person may not approve a request (null: they may). Role and organisation are checked by the caller. */
export function approvalRefusal(a: { approver: string; initiator: string; approvers: string[] }): { code: string; message: string } | null {
  if (a.approver === a.initiator) return { code: 'CUSTODY.SELF_APPROVAL', message: 'the initiator cannot approve their own request' };
  if (a.approvers.length > 0 && !a.approvers.includes(a.approver)) return { code: 'CUSTODY.NOT_AN_APPROVER', message: 'the policy does not list you as an approver' };
  return null;
}

export const quorumMet = (approvals: number, required: number): boolean => approvals >= required;

/** JSON form for jsonb columns and events (bigints as decimal strings). */
export interface PolicyJson {
  approvalsRequired: number;
  approvers: string[];
  destinationDelaySeconds: number;
  velocityWindowSeconds: number;
  maxPerWithdrawal: string;
  maxPerWindow: string;
  assetLimits: { asset: string; maxPerWithdrawal: string; maxPerWindow: string }[];
}

export const policyToJson = (p: WithdrawalPolicy): PolicyJson => ({
  ...p,
  maxPerWithdrawal: p.maxPerWithdrawal.toString(),
  maxPerWindow: p.maxPerWindow.toString(),
  assetLimits: p.assetLimits.map((l) => ({ asset: l.asset, maxPerWithdrawal: l.maxPerWithdrawal.toString(), maxPerWindow: l.maxPerWindow.toString() })),
});

export const policyFromJson = (j: PolicyJson): WithdrawalPolicy => ({
  ...j,
  maxPerWithdrawal: BigInt(j.maxPerWithdrawal),
  maxPerWindow: BigInt(j.maxPerWindow),
  assetLimits: j.assetLimits.map((l) => ({ asset: l.asset, maxPerWithdrawal: BigInt(l.maxPerWithdrawal), maxPerWindow: BigInt(l.maxPerWindow) })),
});
