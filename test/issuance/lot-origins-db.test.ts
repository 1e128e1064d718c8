import { describe, expect, test } from '@jest/globals';
import { mkdtempSync, copyFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addDaysUtc, addMonthsUtc } from '../../subgraphs/issuance/domain/compliance/index.js';
import { migrate } from '../../subgraphs/kit/db/index.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { dbLabel, openTestDb } from '../support/db.js';
import { AT, JUST_BEFORE, Scenario, useIssuanceDb, utc } from './support-db.js';

/**
 * The lot model through the tables: transfers applied by the holdings
 * indexer's own function, then resales asked through transferEligibility.
 * Boundaries: the day before, the instant, the day after.
 */
describe(`a secondary buyer's lot keeps the seller's holding period unless the seller is an affiliate (${dbLabel()})`, () => {
  const it = useIssuanceDb();

  const resale = (s: Scenario, at: Date, amount = 10n) => s.rule('RULE_144_HOLDING_PERIOD', { from: 'buyer', to: 'next', amount, at });

  async function market(seller: { affiliate?: boolean; acquired?: string } = {}) {
    const s = await Scenario.create(it.db, { exemption: 'REG_D_506C' });
    await s.investor('seller', { issuerRelation: seller.affiliate ? 'AFFILIATE' : 'NONE' });
    await s.investor('buyer');
    await s.investor('next');
    // The seller's lot completes its 12 months exactly at AT.
    await s.holds('seller', [{ amount: 1_000n, acquired: seller.acquired ?? '2024-06-15T12:00:00Z' }]);
    return s;
  }

  test('a venue buyer from a seller past the holding period may resell at once: its lot is no longer restricted', async () => {
    const s = await market();
    await s.chainTransfer('seller', 'buyer', 100n, AT);
    const [lot] = await s.lots('buyer');
    expect(lot).toMatchObject({ remaining: '100', restricted: false, holding_period_start: utc('2024-06-15T12:00:00Z'), parent_lot_id: expect.any(String) });
    expect((await resale(s, new Date(AT.getTime() + 1))).passed).toBe(true);
    expect((await resale(s, addDaysUtc(AT, 1))).passed).toBe(true);
    expect((await s.lots('seller'))[0].remaining).toBe('900');
  });

  test('a buyer the day before the seller\'s period ends tacks it: refused until the seller\'s date, allowed at it and the day after', async () => {
    const s = await market();
    await s.chainTransfer('seller', 'buyer', 100n, addDaysUtc(AT, -1));
    expect((await s.lots('buyer'))[0]).toMatchObject({ restricted: true, holding_period_start: utc('2024-06-15T12:00:00Z') });
    expect(await resale(s, JUST_BEFORE(AT))).toMatchObject({ passed: false, blockingUntil: AT });
    expect((await resale(s, AT)).passed).toBe(true);
    expect((await resale(s, addDaysUtc(AT, 1))).passed).toBe(true);
  });

  test('a buyer from an affiliate starts a new period: refused the day before its end, allowed at the instant and the day after', async () => {
    const s = await market({ affiliate: true });
    await s.chainTransfer('seller', 'buyer', 100n, AT);
    expect((await s.lots('buyer'))[0]).toMatchObject({ restricted: true, holding_period_start: AT });
    const end = addMonthsUtc(AT, 12);
    expect(await resale(s, addDaysUtc(end, -1))).toMatchObject({ passed: false, blockingUntil: end });
    expect((await resale(s, end)).passed).toBe(true);
    expect((await resale(s, addDaysUtc(end, 1))).passed).toBe(true);
  });

  test('a lot received today that is still locked queues a sync of the receiver\'s on-chain locks; a free one does not', async () => {
    const s = await market({ affiliate: true });
    const locksQueued = async (name: string) =>
      (await it.db.query("SELECT 1 FROM chain_jobs WHERE kind = 'SYNC_LOCKS' AND subject_id = $1", [s.idOf(name)])).length;
    await s.chainTransfer('seller', 'buyer', 100n, new Date());
    expect(await locksQueued('buyer')).toBe(1);
    await s.investor('free');
    await s.chainTransfer('seller', 'free', 100n, new Date(Date.now() - 400 * 86_400_000));
    expect(await locksQueued('free')).toBe(0);
  });

  test('a resale of a freed lot frees it for the next buyer too, and a chain of tacking buyers keeps the first start', async () => {
    const s = await market();
    await s.chainTransfer('seller', 'buyer', 100n, addDaysUtc(AT, -10));
    await s.chainTransfer('buyer', 'next', 40n, addDaysUtc(AT, -5));
    const [lot] = await s.lots('next');
    expect(lot).toMatchObject({ restricted: true, holding_period_start: utc('2024-06-15T12:00:00Z') });
    expect(await s.rule('RULE_144_HOLDING_PERIOD', { from: 'next', to: 'seller', amount: 40n, at: JUST_BEFORE(AT) })).toMatchObject({ passed: false, blockingUntil: AT });
    expect((await s.rule('RULE_144_HOLDING_PERIOD', { from: 'next', to: 'seller', amount: 40n, at: AT })).passed).toBe(true);
  });
});

describe(`existing lots migrate to the lot model (${dbLabel()})`, () => {
  test('a transfer lot written with a fresh period takes the seller\'s start, along a chain of transfers; a buyer from an affiliate keeps its own', async () => {
    const t = await openTestDb();
    const old = mkdtempSync(join(tmpdir(), 'issuance-0002-'));
    try {
      for (const f of ['0001_init.sql', '0002_compliance_and_chain.sql']) copyFileSync(fromRoot('subgraphs', 'issuance', 'migrations', f), join(old, f));
      await migrate(t.db, [{ scope: 'kit', dir: fromRoot('subgraphs', 'kit', 'migrations') }, { scope: 'issuance', dir: old }]);
      const q = t.db;
      await q.query(`INSERT INTO security_tokens (id, issuer_org, name, symbol, decimals, exemption, idempotency_key, request_hash) VALUES ('tok_m','org','M','M',0,'REG_D_506B','k','h')`);
      for (const [id, rel] of [['a', 'NONE'], ['b', 'NONE'], ['c', 'AFFILIATE'], ['d', 'NONE']]) {
        await q.query(`INSERT INTO investors (id, org, legal_name, type, jurisdiction, us_person, idempotency_key, request_hash, issuer_relation) VALUES ($1,'org',$1,'INDIVIDUAL','US',true,$1,'h',$2)`, [id, rel]);
      }
      const lot = (id: string, inv: string, at: string, source: string, tx: string | null, log: number | null, remaining = 0) => q.query(
        `INSERT INTO lots (id, token_id, investor_id, amount, remaining, acquired_at, holding_period_start, issued_at, source, tx_hash, log_index) VALUES ($1,'tok_m',$2,100,$3,$4,$4,$4,$5,$6,$7)`,
        [id, inv, remaining, utc(at), source, tx, log]);
      const used = (lotId: string, at: string, tx: string, log: number) =>
        q.query('INSERT INTO lot_consumptions (lot_id, amount, at, tx_hash, log_index) VALUES ($1,100,$2,$3,$4)', [lotId, utc(at), tx, log]);
      // a (issued 2024-01-01) -> b (2024-06-01) -> c, an affiliate (2024-09-01) -> d (2025-01-01)
      await lot('l_a', 'a', '2024-01-01', 'ISSUANCE', '0x01', 0);
      await used('l_a', '2024-06-01', '0x02', 3); await lot('l_b', 'b', '2024-06-01', 'TRANSFER', '0x02', 300);
      await used('l_b', '2024-09-01', '0x03', 1); await lot('l_c', 'c', '2024-09-01', 'TRANSFER', '0x03', 100);
      await used('l_c', '2025-01-01', '0x04', 2); await lot('l_d', 'd', '2025-01-01', 'TRANSFER', '0x04', 200, 100);

      await migrate(t.db, [{ scope: 'kit', dir: fromRoot('subgraphs', 'kit', 'migrations') }, { scope: 'issuance', dir: fromRoot('subgraphs', 'issuance', 'migrations') }]);
      const rows = await q.query<{ id: string; holding_period_start: Date; parent_lot_id: string | null; restricted: boolean }>('SELECT id, holding_period_start, parent_lot_id, restricted FROM lots ORDER BY id');
      expect(rows).toEqual([
        { id: 'l_a', holding_period_start: utc('2024-01-01'), parent_lot_id: null, restricted: true },
        { id: 'l_b', holding_period_start: utc('2024-01-01'), parent_lot_id: 'l_a', restricted: true },
        { id: 'l_c', holding_period_start: utc('2024-01-01'), parent_lot_id: 'l_b', restricted: true },
        { id: 'l_d', holding_period_start: utc('2025-01-01'), parent_lot_id: 'l_c', restricted: true },
      ]);
    } finally {
      rmSync(old, { recursive: true, force: true });
      await t.cleanup();
    }
  });
});
