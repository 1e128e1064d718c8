import { writeOrGather, type WriteKind } from '../../kit/db/deferred-writes.js';
import type { Queryable } from '../../kit/db/types.js';
import { txState } from '../../kit/db/tx-state.js';
import { appendEventOrGather } from '../../kit/outbox.js';
import { GENESIS, entryHash, type AuditEntry } from '../domain/audit-chain.js';

/** SQL of the hash-chained audit log. Entries are only ever inserted (a trigger refuses UPDATE and DELETE). */

// Serializes appends until commit, so that each entry links to the one committed before it.
const AUDIT_LOCK = 72_103_001;

interface AuditRowDb {
  seq: string; settlement_id: string | null; batch_id: string | null; kind: string; actor: string; detail: unknown; at: Date; prev_hash: string; hash: string;
}

const toEntry = (r: AuditRowDb): AuditEntry => ({
  seq: BigInt(r.seq), settlementId: r.settlement_id, batchId: r.batch_id, kind: r.kind, actor: r.actor, detail: r.detail, at: new Date(r.at), prevHash: r.prev_hash, hash: r.hash,
});

export interface NewAuditEntry { settlementId: string | null; batchId?: string | null; kind: string; actor: string; detail: unknown }

interface Head { seq: bigint; hash: string }
const HEAD = Symbol('audit head');

/** Takes the chain's lock and reads its last entry: once per transaction (appendAudit carries the head along after that). */
async function lockAndReadHead(q: Queryable): Promise<Head> {
  await q.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK]);
  const [last] = await q.query<{ seq: string; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
  return last ? { seq: BigInt(last.seq), hash: last.hash } : { seq: 0n, hash: GENESIS };
}

/**
 * Appends an entry inside the caller's transaction (before appendEvent: the outbox lock comes last).
 * The first entry of a transaction locks the chain until commit and reads its head; later ones link
 * to the entry before them in the same transaction (computed in call order, so concurrent calls on
 * one transaction still form one chain).
 */
export async function appendAudit(q: Queryable, e: NewAuditEntry): Promise<{ seq: string; hash: string }> {
  const state = txState(q);
  const before = (state.get(HEAD) as Promise<Head> | undefined) ?? lockAndReadHead(q);
  const entry = before.then((prev) => {
    // Millisecond time, so that the stored instant reads back exactly as hashed; detail as JSON exactly as stored.
    const at = new Date();
    const detail = JSON.parse(JSON.stringify(e.detail ?? {}, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))) as unknown;
    const content = { seq: prev.seq + 1n, settlementId: e.settlementId, batchId: e.batchId ?? null, kind: e.kind, actor: e.actor, detail, at };
    return { content, prev: prev.hash, hash: entryHash(content, prev.hash) };
  });
  const head = entry.then((x) => ({ seq: x.content.seq, hash: x.hash }));
  // The caller gets the failure through `entry`; the head kept for later appends must not also
  // surface it as an unhandled rejection (a session killed mid-append would end the process).
  head.catch(() => undefined);
  state.set(HEAD, head);
  const { content: c, prev, hash } = await entry;
  await writeOrGather(q, AUDIT_ROWS, {
    seq: c.seq.toString(), settlement_id: c.settlementId, batch_id: c.batchId, kind: c.kind, actor: c.actor, detail: c.detail, at: c.at.toISOString(), prev_hash: prev, hash,
  });
  return { seq: c.seq.toString(), hash };
}

interface AuditRowIn { seq: string; settlement_id: string | null; batch_id: string | null; kind: string; actor: string; detail: unknown; at: string; prev_hash: string; hash: string }

/** Entries in one statement (a group commit's, gathered; already linked in memory): the detail goes in exactly as hashed. */
const AUDIT_ROWS: WriteKind<AuditRowIn> = {
  order: 20,
  async write(q, rows) {
    await q.query(
      `INSERT INTO audit_log (seq, settlement_id, batch_id, kind, actor, detail, at, prev_hash, hash)
       SELECT seq, settlement_id, batch_id, kind, actor, detail, at, prev_hash, hash
       FROM jsonb_to_recordset($1::jsonb) AS x(seq bigint, settlement_id text, batch_id text, kind text, actor text, detail jsonb, at timestamptz, prev_hash text, hash text)
       ORDER BY seq`,
      [JSON.stringify(rows)],
    );
  },
};

/**
 * An entry that no status event accompanies: its head goes to the outbox too
 * (topic settlement.audit), so that the log's end is anchored outside it.
 */
export async function appendAnchoredAudit(q: Queryable, e: NewAuditEntry): Promise<{ seq: string; hash: string }> {
  const head = await appendAudit(q, e);
  await appendEventOrGather(q, 'settlement.audit', head.seq, { auditSeq: head.seq, auditHash: head.hash, kind: e.kind, settlementId: e.settlementId });
  return head;
}

export const auditOfSettlements = async (q: Queryable, ids: readonly string[]) =>
  (await q.query<AuditRowDb>('SELECT * FROM audit_log WHERE settlement_id = ANY($1::text[]) ORDER BY seq', [ids])).map(toEntry);

export async function auditRange(q: Queryable, from: bigint, to: bigint): Promise<AuditEntry[]> {
  return (await q.query<AuditRowDb>('SELECT * FROM audit_log WHERE seq >= $1 AND seq <= $2 ORDER BY seq', [from.toString(), to.toString()])).map(toEntry);
}

export async function auditEntry(q: Queryable, seq: bigint): Promise<AuditEntry | null> {
  const [r] = await q.query<AuditRowDb>('SELECT * FROM audit_log WHERE seq = $1', [seq.toString()]);
  return r ? toEntry(r) : null;
}

export async function auditMaxSeq(q: Queryable): Promise<bigint> {
  const [r] = await q.query<{ s: string | null }>('SELECT max(seq) AS s FROM audit_log');
  return BigInt(r.s ?? 0);
}

/**
 * The newest audit head the outbox recorded (every settlement.status event
 * carries the seq and hash of the entry written with it): an anchor outside
 * the log, so that entries cut from its end are noticed too.
 */
export async function anchoredHead(q: Queryable): Promise<{ seq: bigint; hash: string } | null> {
  const [r] = await q.query<{ audit_seq: string; audit_hash: string }>(
    `SELECT payload->>'auditSeq' AS audit_seq, payload->>'auditHash' AS audit_hash FROM outbox
     WHERE topic IN ('settlement.status', 'settlement.audit') AND payload ? 'auditSeq' ORDER BY outbox.seq DESC LIMIT 1`,
  );
  return r ? { seq: BigInt(r.audit_seq), hash: r.audit_hash } : null;
}
