import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { writeOrGather, type WriteKind } from '../../subgraphs/kit/db/deferred-writes.js';
import { GroupCommit, eachInOneTransaction } from '../../subgraphs/kit/db/group-commit.js';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { dbLabel, openTestDb } from '../support/db.js';

describe(`group commit (${dbLabel()})`, () => {
  let db: Db;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ db, cleanup } = await openTestDb());
    await db.exec(`CREATE TABLE gc_items (k text PRIMARY KEY, v int NOT NULL CHECK (v >= 0));
                   CREATE TABLE gc_deferred (k text, CONSTRAINT gc_deferred_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)`);
  }, 60_000);
  afterAll(async () => cleanup?.());

  const keys = async (table: string) => (await db.query<{ k: string }>(`SELECT k FROM ${table} ORDER BY k`)).map((r) => r.k);

  test('concurrent units of work commit in one transaction; one that throws is rolled back alone and only its caller sees the error', async () => {
    const g = new GroupCommit(db, 10);
    const unit = (k: string, v: number) => g.tx(async (q) => {
      await q.query('INSERT INTO gc_items (k, v) VALUES ($1, $2)', [k, v]);
      return (await q.query<{ x: string }>('SELECT txid_current()::text AS x'))[0].x;
    });
    const first = unit('a', 1); // goes alone, at once
    const out = await Promise.allSettled([first, unit('b', 1), unit('c', -1), unit('d', 1), unit('b', 2)]);
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'rejected']);
    const txids = out.filter((o): o is PromiseFulfilledResult<string> => o.status === 'fulfilled').map((o) => o.value);
    expect(txids[1]).toBe(txids[2]); // b and d shared a transaction
    expect(await keys('gc_items')).toEqual(['a', 'b', 'd']);
    expect((await db.query<{ v: number }>("SELECT v FROM gc_items WHERE k = 'b'"))[0].v).toBe(1);
  });

  test('when the commit itself fails, every unit of the group gets the error and none is kept', async () => {
    const out = await eachInOneTransaction(db, ['x', 'y', 'x'], {
      begin: () => undefined,
      work: async (q, k) => { await q.query('INSERT INTO gc_deferred (k) VALUES ($1)', [k]); return k; },
      isItemError: () => true,
    }).then(() => 'committed', (e: Error) => e.message);
    expect(out).toMatch(/gc_deferred_k|unique|duplicate/i);
    expect(await keys('gc_deferred')).toEqual([]);
  });

  test('items that fail leave nothing of what they collected for the end of the pass', async () => {
    const out = await eachInOneTransaction(db, [1, -1, 2], {
      begin: () => [] as number[],
      work: async (q, n, seen) => {
        seen.push(n);
        await q.query('INSERT INTO gc_items (k, v) VALUES ($1, $2)', [`n${n}`, n]);
        return n;
      },
      isItemError: (e) => /check/i.test(String((e as Error).message)),
      mark: (seen) => { const len = seen.length; return () => { seen.length = len; }; },
      end: async (q, seen) => { await q.query('INSERT INTO gc_items (k, v) VALUES ($1, $2)', [`sum${seen.join('+')}`, 0]); },
    });
    expect(out.map((o) => (o instanceof Error ? 'error' : o))).toEqual([1, 'error', 2]);
    expect(await keys('gc_items')).toEqual(expect.arrayContaining(['n1', 'n2', 'sum1+2']));
    expect(await keys('gc_items')).not.toContain('n-1');
  });

  test('rows handed to writeOrGather go in one statement per kind for the group; a row refused there fails its unit alone', async () => {
    const calls: number[] = [];
    const rows: WriteKind<{ k: string; v: number }> = {
      order: 1,
      async write(q, list) {
        calls.push(list.length);
        await q.query('INSERT INTO gc_items (k, v) SELECT k, v FROM jsonb_to_recordset($1::jsonb) AS x(k text, v int)', [JSON.stringify(list)]);
      },
    };
    const g = new GroupCommit(db, 10);
    const unit = (k: string, v: number) => g.tx(async (q) => { await writeOrGather(q, rows, { k, v }); return k; });
    await Promise.all([unit('w0', 1), unit('w1', 1), unit('w2', 1), unit('w3', 1)]);
    expect(calls).toEqual([4]);
    expect(await keys('gc_items')).toEqual(expect.arrayContaining(['w0', 'w1', 'w2', 'w3']));

    calls.length = 0;
    const out = await Promise.allSettled([unit('x0', 1), unit('x1', 1), unit('x2', -1), unit('x3', 1)]);
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(calls).toEqual([4, 1, 1, 1, 1]); // the gathered statement refused, then each unit's row inside its own savepoint
    expect(await keys('gc_items')).toEqual(expect.arrayContaining(['x0', 'x1', 'x3']));
    expect(await keys('gc_items')).not.toContain('x2');
  });
});
