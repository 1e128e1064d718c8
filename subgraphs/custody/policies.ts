import type { Caller } from '../kit/auth.js';
import type { Queryable } from '../kit/db/types.js';
import { appError, badInput, notFound } from '../kit/errors.js';
import { requestHash } from '../kit/idempotency.js';
import { PendingEvents } from './events.js';
import { requireCustodian, invalidState, unknownAccount, type CustodyEnv } from './services.js';
import { approvalRefusal, checkPolicy, policyFromJson, policyToJson, quorumMet, type EffectivePolicy, type WithdrawalPolicy } from './domain/policy.js';
import { invalidAsset, isAsset, parseAccountId, parseId, parseIdempotencyKey, parseText } from './inputs.js';
import { newId } from '../kit/ids.js';
import { accountOwner } from './store/ledger.js';
import * as store from './store/policies.js';
import type { PolicyChangeRow } from './store/policies.js';

/**
 * Withdrawal policies: an account's own, else its organisation's, else the
 * configured defaults. A change is proposed, then applied once the quorum of
 * the policy in force approves it (the proposer does not count).
 */
export async function effectivePolicy(q: Queryable, defaults: WithdrawalPolicy, org: string, accountId: string | null): Promise<EffectivePolicy> {
  const rows = await store.policiesFor(q, org, accountId);
  if (accountId && rows.account) return { policy: policyFromJson(rows.account.policy), scope: 'ACCOUNT', version: rows.account.version };
  if (rows.org) return { policy: policyFromJson(rows.org.policy), scope: 'ORGANISATION', version: rows.org.version };
  return { policy: defaults, scope: 'DEFAULT', version: 0 };
}

/** Version of the row a change at this scope would replace (0: none yet). */
async function scopeVersion(q: Queryable, org: string, accountId: string | null): Promise<number> {
  const rows = await store.policiesFor(q, org, accountId);
  return (accountId ? rows.account?.version : rows.org?.version) ?? 0;
}

export interface ProposeInput { idempotencyKey: string; accountId?: string | null; policy: WithdrawalPolicy }

/** A proposed policy as domain/policy.ts checks it; a bad one is INPUT.INVALID_POLICY naming the field (or INPUT.INVALID_ASSET). */
function validPolicy(p: WithdrawalPolicy): WithdrawalPolicy {
  const checked = checkPolicy(p, isAsset);
  if ('policy' in checked) return checked.policy;
  const { problem } = checked;
  throw 'field' in problem ? badInput('INVALID_POLICY', `policy.${problem.field} ${problem.why}`, { field: problem.field }) : invalidAsset(problem.asset);
}

export async function proposePolicyChange(env: CustodyEnv, caller: Caller, input: ProposeInput): Promise<PolicyChangeRow> {
  requireCustodian(caller);
  const key = parseIdempotencyKey(input.idempotencyKey);
  const accountId = input.accountId ? parseAccountId(input.accountId) : null;
  const policy = validPolicy(input.policy);
  const now = env.now();
  return env.db.tx(async (q) => {
    if (accountId) {
      const a = await accountOwner(q, accountId);
      if (!a || a.org !== caller.org) throw unknownAccount(accountId);
    }
    const governing = await effectivePolicy(q, env.defaults, caller.org, accountId);
    const { row, created } = await store.insertPolicyChange(q, {
      id: newId('pch'), org: caller.org, account_id: accountId, proposed: policyToJson(policy),
      base_version: await scopeVersion(q, caller.org, accountId),
      approvals_required: governing.policy.approvalsRequired, approvers: governing.policy.approvers,
      proposed_by: caller.subject, idempotency_key: key, request_hash: requestHash({ accountId, policy }), created_at: now,
    });
    if (created) {
      const events = new PendingEvents();
      events.add('policy.change_proposed', row.id, { changeId: row.id, org: row.org, accountId, proposedBy: row.proposed_by, proposed: row.proposed, approvalsRequired: row.approvals_required });
      await events.appendTo(q);
    }
    return row;
  });
}

async function lockPending(q: Queryable, caller: Caller, id: string): Promise<PolicyChangeRow> {
  const c = await store.policyChangeById(q, id, { forUpdate: true });
  // Another organisation's change does not exist for this caller.
  if (!c || c.org !== caller.org) throw notFound('PolicyChange', id);
  if (c.status !== 'PENDING') throw invalidState('policy change', id, c.status, 'PENDING');
  return c;
}

export async function approvePolicyChange(env: CustodyEnv, caller: Caller, id: string): Promise<PolicyChangeRow> {
  requireCustodian(caller);
  parseId(id, 'pch', 'id');
  const now = env.now();
  return env.db.tx(async (q) => {
    const c = await lockPending(q, caller, id);
    const refusal = approvalRefusal({ approver: caller.subject, initiator: c.proposed_by, approvers: c.approvers });
    if (refusal) throw appError(refusal.code, refusal.message, { details: { changeId: id } });
    const events = new PendingEvents();
    const added = await store.addPolicyApproval(q, id, caller.subject, now);
    const approvals = (await store.policyApprovals(q, [id])).length;
    if (added) events.add('policy.change_approval_recorded', id, { changeId: id, approver: caller.subject, approvals, approvalsRequired: c.approvals_required });
    if (quorumMet(approvals, c.approvals_required)) {
      // A change applied since this one was proposed wins; this one must be proposed again on top of it.
      const version = c.base_version + 1;
      if (await store.upsertPolicy(q, { id: newId('pol'), org: c.org, accountId: c.account_id, policy: c.proposed, version, changeId: id })) {
        await store.decidePolicyChange(q, id, { status: 'APPLIED', by: caller.subject, reason: null, at: now });
        events.add('policy.changed', c.account_id ?? c.org, { changeId: id, org: c.org, accountId: c.account_id, version, policy: c.proposed });
      } else {
        await store.decidePolicyChange(q, id, { status: 'SUPERSEDED', by: caller.subject, reason: 'the policy changed after this proposal', at: now });
        events.add('policy.change_superseded', id, { changeId: id });
      }
    }
    await events.appendTo(q);
    return (await store.policyChangeById(q, id))!;
  });
}

export async function rejectPolicyChange(env: CustodyEnv, caller: Caller, id: string, reason: string): Promise<PolicyChangeRow> {
  requireCustodian(caller);
  parseId(id, 'pch', 'id');
  const why = parseText(reason, 'reason');
  return env.db.tx(async (q) => {
    await lockPending(q, caller, id);
    await store.decidePolicyChange(q, id, { status: 'REJECTED', by: caller.subject, reason: why, at: env.now() });
    const events = new PendingEvents();
    events.add('policy.change_rejected', id, { changeId: id, by: caller.subject, reason: why });
    await events.appendTo(q);
    return (await store.policyChangeById(q, id))!;
  });
}
