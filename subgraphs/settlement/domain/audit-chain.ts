/**
 * The audit log's hash chain. Each entry's hash is SHA-256 over the canonical
 * JSON of {seq, settlementId, batchId, kind, actor, detail, at, prev}, where
 * prev is the previous entry's hash (64 zeros before the first). Changing an
 * entry changes its hash; removing one leaves a gap in seq and a link that
 * does not match. No I/O.
 */
import { createHash } from 'node:crypto';

export const GENESIS = '0'.repeat(64);

export interface AuditContent {
  seq: bigint;
  settlementId: string | null;
  batchId: string | null;
  kind: string;
  actor: string;
  detail: unknown;
  at: Date;
}

export interface AuditEntry extends AuditContent { prevHash: string; hash: string }

/** JSON with object keys sorted at every depth: the same value always gives the same text. */
export function canonicalJson(v: unknown): string {
  const canon = (x: unknown): unknown => {
    if (typeof x === 'bigint') return x.toString();
    if (x instanceof Date) return x.toISOString();
    if (Array.isArray(x)) return x.map(canon);
    if (x && typeof x === 'object') {
      return Object.fromEntries(Object.keys(x).sort().filter((k) => (x as Record<string, unknown>)[k] !== undefined).map((k) => [k, canon((x as Record<string, unknown>)[k])]));
    }
    return x;
  };
  return JSON.stringify(canon(v));
}

export function entryHash(e: AuditContent, prevHash: string): string {
  const body = canonicalJson({ seq: e.seq.toString(), settlementId: e.settlementId, batchId: e.batchId, kind: e.kind, actor: e.actor, detail: e.detail, at: e.at.toISOString(), prev: prevHash });
  return createHash('sha256').update(body).digest('hex');
}

export type AuditBreakKind = 'CHANGED' | 'MISSING' | 'BROKEN_LINK';
export interface AuditBreak { seq: string; kind: AuditBreakKind; detail: string }

/**
 * Checks entries from..to (in seq order) given the hash before `from`
 * (GENESIS when from is 1). Reports every break, not only the first.
 */
export function verifyChain(entries: readonly AuditEntry[], from: bigint, to: bigint, prevBefore: string | null): AuditBreak[] {
  const breaks: AuditBreak[] = [];
  let expectedSeq = from;
  let prev = prevBefore;
  for (const e of entries) {
    while (expectedSeq < e.seq) {
      breaks.push({ seq: expectedSeq.toString(), kind: 'MISSING', detail: `entry ${expectedSeq} is gone` });
      expectedSeq++;
      prev = null; // the link after a gap cannot be checked against a known hash
    }
    if (prev !== null && e.prevHash !== prev) breaks.push({ seq: e.seq.toString(), kind: 'BROKEN_LINK', detail: `prevHash ${e.prevHash.slice(0, 12)}... does not match the previous entry's hash ${prev.slice(0, 12)}...` });
    const actual = entryHash(e, e.prevHash);
    if (actual !== e.hash) breaks.push({ seq: e.seq.toString(), kind: 'CHANGED', detail: `content hashes to ${actual.slice(0, 12)}..., the entry says ${e.hash.slice(0, 12)}...` });
    prev = e.hash;
    expectedSeq = e.seq + 1n;
  }
  while (expectedSeq <= to) {
    breaks.push({ seq: expectedSeq.toString(), kind: 'MISSING', detail: `entry ${expectedSeq} is gone` });
    expectedSeq++;
  }
  return breaks;
}
