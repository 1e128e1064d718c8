import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { migrate, type Db } from '../../subgraphs/kit/db/index.js';
import { GroupCommit } from '../../subgraphs/kit/db/group-commit.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { GENESIS, verifyChain } from '../../subgraphs/settlement/domain/audit-chain.js';
import { appendAudit, auditMaxSeq, auditRange } from '../../subgraphs/settlement/store/audit.js';
import { dbLabel, openTestDb } from '../support/db.js';

const sources = [
  { scope: 'kit', dir: fromRoot('subgraphs', 'kit', 'migrations') },
  { scope: 'settlement', dir: fromRoot('subgraphs', 'settlement', 'migrations') },
];
const entry = (n: number | string) => ({ settlementId: `stl_${n}`, kind: 'TEST', actor: 'test', detail: { n } });

/** The whole log links up from the first entry, with no number missing. */
async function chainBreaks(db: Db) {
  const max = await auditMaxSeq(db);
  return verifyChain(await auditRange(db, 1n, max), 1n, max, GENESIS);
}

describe(`the audit chain, one lock and one head read per transaction (${dbLabel()})`, () => {
  let db: Db;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ db, cleanup } = await openTestDb());
    await migrate(db, sources);
  }, 60_000);
  afterAll(async () => cleanup?.());

  test('entries of one transaction, appended one after another or at once, form one chain with those of other transactions', async () => {
    await db.tx(async (q) => { for (let i = 0; i < 3; i++) await appendAudit(q, entry(`a${i}`)); });
    const heads = await db.tx((q) => Promise.all([1, 2, 3, 4].map((i) => appendAudit(q, entry(`b${i}`)))));
    expect(heads.map((h) => h.seq)).toEqual(['4', '5', '6', '7']);
    await Promise.all([0, 1, 2].map((i) => db.tx((q) => appendAudit(q, entry(`c${i}`)))));
    expect(await auditMaxSeq(db)).toBe(10n);
    expect(await chainBreaks(db)).toEqual([]);
  });

  test('a unit of a group commit that fails after appending leaves no entry, and the next units link past it', async () => {
    const before = await auditMaxSeq(db);
    const g = new GroupCommit(db, 10);
    const unit = (n: string, fail: boolean) => g.tx(async (q) => {
      await appendAudit(q, entry(n));
      if (fail) throw new Error(`unit ${n} refused`);
      return appendAudit(q, entry(`${n}.2`));
    });
    const first = unit('g0', false); // goes alone, at once; the rest group behind it
    const out = await Promise.allSettled([first, unit('g1', false), unit('g2', true), unit('g3', false), unit('g4', true), unit('g5', false)]);
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    const kept = (await auditRange(db, before + 1n, before + 100n)).map((e) => (e.detail as { n: string }).n);
    expect(kept).toEqual(['g0', 'g0.2', 'g1', 'g1.2', 'g3', 'g3.2', 'g5', 'g5.2']);
    expect(await chainBreaks(db)).toEqual([]);
  });

  test('an append whose first statement fails (an aborted transaction, as when the session is killed) fails its caller once and leaves no unhandled rejection behind', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const before = await auditMaxSeq(db);
      const failed = db.tx(async (q) => {
        await q.query('SELECT 1 / 0').catch(() => undefined); // the transaction is now aborted
        return appendAudit(q, entry('lost'));
      });
      await expect(failed).rejects.toThrow();
      // Unhandled rejections are reported after the microtask queue drains: let a few macrotasks pass.
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      expect(unhandled).toEqual([]);
      expect(await auditMaxSeq(db)).toBe(before);
      await db.tx((q) => appendAudit(q, entry('after')));
      expect(await chainBreaks(db)).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
