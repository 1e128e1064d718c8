import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { isTransientDbError, pgCode } from '../../subgraphs/kit/db/types.js';
import { dbLabel, openTestDb } from '../support/db.js';

/**
 * Which database failures are of the moment (the same statements may succeed
 * when asked again) and which are not: custody answers the first retryable
 * and the second not (CUSTODY.LEDGER_REFUSED), so that no caller retries a
 * write the database will always refuse.
 */
describe(`failures of the moment and refusals of the database (${dbLabel()})`, () => {
  let db: Db;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    ({ db, cleanup } = await openTestDb());
    await db.exec('CREATE TABLE t (n numeric(78,0) NOT NULL CHECK (n >= 0))');
  });
  afterAll(async () => cleanup?.());

  const failure = (sql: string) => db.query(sql).then(() => null, (e: unknown) => e);

  test('what the database refuses for the values it is given is not transient, asked once or again', async () => {
    for (const sql of ['INSERT INTO t VALUES (10::numeric ^ 78)', 'INSERT INTO t VALUES (-1)', "INSERT INTO t VALUES ('x')", 'INSERT INTO t VALUES (NULL)']) {
      const [first, again] = [await failure(sql), await failure(sql)];
      expect([pgCode(first), isTransientDbError(first)]).toEqual([pgCode(again), false]);
      expect(pgCode(first)).toMatch(/^2[23]/);
    }
  });

  test('a lost connection, a serialization failure, a deadlock, a lock or statement timeout, resources running out are transient', () => {
    const pgError = (code: string) => Object.assign(new Error(`error ${code}`), { code });
    for (const code of ['40001', '40P01', '55P03', '57014', '57P01', '08006', '53300', '58030']) expect([code, isTransientDbError(pgError(code))]).toEqual([code, true]);
    expect(isTransientDbError(new Error('Connection terminated unexpectedly'))).toBe(true);
    // A bug is not a failure of the moment; neither is a refusal with a code of its own.
    expect(isTransientDbError(new TypeError('x is undefined'))).toBe(false);
    expect(isTransientDbError(pgError('23505'))).toBe(false);
  });
});
