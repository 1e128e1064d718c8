import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { migrate } from '../../subgraphs/kit/db/index.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { dbLabel, openTestDb } from '../support/db.js';

const real = (name: string) => [
  { scope: 'kit', dir: fromRoot('subgraphs', 'kit', 'migrations') },
  { scope: name, dir: fromRoot('subgraphs', name, 'migrations') },
];

describe(`migrations (${dbLabel()})`, () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'mig-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test.each(['issuance', 'trading', 'settlement', 'custody'])('the %s migrations apply once, and a second start applies nothing', async (name) => {
    const { db, cleanup } = await openTestDb();
    try {
      const first = await migrate(db, real(name));
      expect(first.length).toBeGreaterThanOrEqual(2);
      expect(first[0]).toBe('kit/0001_outbox.sql');
      expect(await migrate(db, real(name))).toEqual([]);
      const recorded = await db.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY name');
      expect(recorded.map((r) => r.name).sort()).toEqual([...first].sort());
    } finally {
      await cleanup();
    }
  });

  test('a migration edited after it was applied stops the start with its name', async () => {
    const { db, cleanup } = await openTestDb();
    try {
      writeFileSync(join(dir, '0001_a.sql'), 'CREATE TABLE a (x int);');
      await migrate(db, [{ scope: 't', dir }]);
      writeFileSync(join(dir, '0001_a.sql'), 'CREATE TABLE a (x bigint);');
      await expect(migrate(db, [{ scope: 't', dir }])).rejects.toThrow('t/0001_a.sql was changed');
    } finally {
      await cleanup();
    }
  });

  test('a failing migration leaves neither its changes nor its record, and the ones before it stay applied', async () => {
    const { db, cleanup } = await openTestDb();
    const d = mkdtempSync(join(tmpdir(), 'mig-'));
    try {
      writeFileSync(join(d, '0001_ok.sql'), 'CREATE TABLE ok (x int);');
      writeFileSync(join(d, '0002_bad.sql'), 'CREATE TABLE half (x int); SELECT 1/0;');
      await expect(migrate(db, [{ scope: 't', dir: d }])).rejects.toThrow(/division by zero/);
      expect((await db.query<{ name: string }>('SELECT name FROM schema_migrations')).map((r) => r.name)).toEqual(['t/0001_ok.sql']);
      await expect(db.query('SELECT * FROM half')).rejects.toThrow(/does not exist/);
    } finally {
      rmSync(d, { recursive: true, force: true });
      await cleanup();
    }
  });

  test('two processes migrating the same database at once apply each file once', async () => {
    const a = await openTestDb();
    try {
      const { openDb } = await import('../../subgraphs/kit/db/open.js');
      // A second connection pool on the same database stands for a second process (on PGlite, the same instance).
      const b = a.url === 'memory://' ? a.db : await openDb(a.url);
      const [x, y] = await Promise.all([migrate(a.db, real('issuance')), migrate(b, real('issuance'))]);
      const sqlIn = (scope: string) => readdirSync(fromRoot('subgraphs', scope, 'migrations')).filter((f) => f.endsWith('.sql')).map((f) => `${scope}/${f}`);
      expect([...x, ...y].sort()).toEqual([...sqlIn('issuance'), ...sqlIn('kit')].sort());
      if (b !== a.db) await b.close();
    } finally {
      await a.cleanup();
    }
  });
});
