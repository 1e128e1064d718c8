import { type Caller } from '../kit/auth.js';
import { requireRole } from '../kit/access.js';
import { badInput } from '../kit/errors.js';
import { GENESIS, verifyChain, type AuditBreak } from './domain/audit-chain.js';
import { anchoredHead, auditEntry, auditMaxSeq, auditRange } from './store/audit.js';
import type { SettlementServices } from './services.js';

const MAX_RANGE = 200_000n;

function parseSeq(v: string | null | undefined, field: string): bigint | null {
  if (v === null || v === undefined) return null;
  if (!/^\d{1,19}$/.test(v) || BigInt(v) < 1n) throw badInput('INVALID_SEQ', `${field} must be an audit entry number (1 or more)`);
  return BigInt(v);
}

/**
 * Checks the audit log from..to: every entry's hash against its content, every
 * link against the previous entry's hash, no number missing, and the newest
 * head the outbox recorded against the log (so entries cut from the end are
 * noticed too). Reports every break.
 */
export async function verifyAuditLog(s: SettlementServices, caller: Caller, a: { from?: string | null; to?: string | null }) {
  requireRole(caller, 'AUDITOR', 'COMPLIANCE_OFFICER', 'SETTLEMENT_AGENT');
  const anchor = await anchoredHead(s.db);
  const max = await auditMaxSeq(s.db);
  const from = parseSeq(a.from, 'from') ?? 1n;
  const head = anchor && anchor.seq > max ? anchor.seq : max;
  const to = parseSeq(a.to, 'to') ?? head;
  if (to < from) throw badInput('INVALID_RANGE', 'to must not be before from');
  if (to - from >= MAX_RANGE) throw badInput('RANGE_TOO_LARGE', `verify at most ${MAX_RANGE} entries per call`);

  const breaks: AuditBreak[] = [];
  let prev: string | null = GENESIS;
  if (from > 1n) {
    const before = await auditEntry(s.db, from - 1n);
    prev = before?.hash ?? null;
    if (!before && from - 1n <= head) breaks.push({ seq: (from - 1n).toString(), kind: 'MISSING', detail: `entry ${from - 1n} is gone` });
  }
  const entries = await auditRange(s.db, from, to);
  breaks.push(...verifyChain(entries, from, to > head ? head : to, prev));
  if (anchor && anchor.seq >= from && anchor.seq <= to) {
    const at = entries.find((e) => e.seq === anchor.seq);
    if (at && at.hash !== anchor.hash) breaks.push({ seq: anchor.seq.toString(), kind: 'CHANGED', detail: 'the entry differs from the head recorded with its settlement event' });
  }
  const last = entries.at(-1);
  return {
    valid: breaks.length === 0, from: from.toString(), to: to.toString(), checked: entries.length,
    head: last ? { seq: last.seq.toString(), hash: last.hash } : null, breaks,
  };
}
