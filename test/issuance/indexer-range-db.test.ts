import { describe, expect, test } from '@jest/globals';
import { addDaysUtc } from '../../subgraphs/issuance/domain/compliance/index.js';
import { dbLabel } from '../support/db.js';
import { AT, NON_ACCREDITED, Scenario, useIssuanceDb, utc, type RangeTransfer } from './support-db.js';

/**
 * The holdings indexer applies a range of Transfers with one statement per kind
 * of book (chain/range.ts). The books it leaves must be those of the transfers
 * applied one at a time, in log order: FIFO lots through lots received earlier
 * in the same range, holding periods by occasion and the sender's relation to
 * the issuer, holders joining and leaving the counters, one event per log.
 */
describe(`the holdings indexer applies a range of transfers in log order (${dbLabel()})`, () => {
  const it = useIssuanceDb();

  async function market(): Promise<Scenario> {
    const s = await Scenario.create(it.db, { exemption: 'REG_D_506C' });
    for (const name of ['a', 'b', 'c']) await s.investor(name, name === 'c' ? NON_ACCREDITED : {});
    await s.investor('d', { ...NON_ACCREDITED, jurisdiction: 'DE' });
    await s.investor('f', { issuerRelation: 'AFFILIATE' });
    await s.holds('a', [{ amount: 100n, acquired: '2024-01-01' }, { amount: 50n, acquired: '2025-03-01' }]);
    await s.holds('b', [{ amount: 30n, acquired: '2025-05-01' }]);
    await s.holds('f', [{ amount: 40n, acquired: '2024-02-01' }]);
    return s;
  }

  // b sends what it received from a earlier in the range, c what it received from b and f; d joins and leaves.
  const day = (n: number) => addDaysUtc(AT, n);
  const RANGE: RangeTransfer[] = [
    { from: 'a', to: 'b', amount: 120n, at: day(-5) },
    { from: 'b', to: 'c', amount: 140n, at: day(-4) },
    { from: 'f', to: 'c', amount: 25n, at: day(-4) },
    { from: 'a', to: 'd', amount: 5n, at: day(-3), occasion: 'GIFT' },
    { from: 'd', to: 'b', amount: 5n, at: day(-2) },
    { from: 'c', to: 'a', amount: 15n, at: day(-1) },
  ];

  /** The token's books with investors by name and lots by what they are (ids and wallets differ between scenarios). */
  async function books(s: Scenario) {
    const name = new Map(Object.entries(s.ids).map(([n, id]) => [id, n]));
    const lots = await it.db.query<{ investor_id: string; amount: string; remaining: string; holding_period_start: Date; issued_at: Date; restricted: boolean; source: string; parent: string | null; consumed: string[] }>(
      `SELECT l.investor_id, l.amount, l.remaining, l.holding_period_start, l.issued_at, l.restricted, l.source,
              p.investor_id || ' ' || p.amount || ' ' || p.holding_period_start::text AS parent,
              array(SELECT c.amount || ' at ' || c.at::text FROM lot_consumptions c WHERE c.lot_id = l.id ORDER BY c.at, c.amount) AS consumed
       FROM lots l LEFT JOIN lots p ON p.id = l.parent_lot_id WHERE l.token_id = $1`,
      [s.tokenId],
    );
    const positions = await it.db.query<{ investor_id: string; balance: string; counted_accredited: boolean; counted_us: boolean }>(
      'SELECT investor_id, balance, counted_accredited, counted_us FROM positions WHERE token_id = $1 ORDER BY investor_id', [s.tokenId]);
    const [counts] = await it.db.query('SELECT total, non_accredited, us_persons FROM holder_counts WHERE token_id = $1', [s.tokenId]);
    const [token] = await it.db.query<{ total_supply: string }>('SELECT total_supply FROM security_tokens WHERE id = $1', [s.tokenId]);
    const events = await it.db.query<{ payload: { amount: string; fromInvestorId: string; toInvestorId: string } }>(
      "SELECT payload FROM outbox WHERE topic = 'token.transfer' AND key = $1 ORDER BY seq", [s.tokenId]);
    const jobs = await it.db.query<{ subject_id: string }>("SELECT subject_id FROM chain_jobs WHERE kind = 'SYNC_LOCKS' AND payload->>'tokenId' = $1 ORDER BY id", [s.tokenId]);
    const rename = (text: string | null) => (text ? text.replace(/inv_\d+_(\w+)/g, '$1') : text);
    return {
      lots: lots.map((l) => ({ ...l, investor_id: name.get(l.investor_id), parent: rename(l.parent) }))
        .sort((x, y) => JSON.stringify(x).localeCompare(JSON.stringify(y))),
      positions: positions.map((p) => ({ ...p, investor_id: name.get(p.investor_id) })).sort((x, y) => x.investor_id!.localeCompare(y.investor_id!)),
      counts, supply: token.total_supply,
      events: events.map((e) => [e.payload.amount, name.get(e.payload.fromInvestorId), name.get(e.payload.toInvestorId)]),
      jobs: jobs.map((j) => name.get(j.subject_id)),
    };
  }

  test('FIFO runs through lots received earlier in the range, with holding periods by occasion and relation, counters and events per log', async () => {
    const s = await market();
    const { txHashes } = await s.chainRange(RANGE);
    expect(txHashes).toHaveLength(6);
    const open = async (n: string) => (await s.lots(n)).map((l) => [l.remaining, l.holding_period_start.toISOString(), l.parent_lot_id !== null]);
    // a's two pieces reached b tacked, older than b's own lot: they went first. f is an affiliate: c's piece from it starts afresh.
    expect(await open('c')).toEqual([
      ['85', utc('2024-01-01').toISOString(), true], ['20', utc('2025-03-01').toISOString(), true], ['20', utc('2025-05-01').toISOString(), true], ['25', day(-4).toISOString(), true],
    ]);
    expect(await open('a')).toEqual([['15', utc('2024-01-01').toISOString(), true], ['25', utc('2025-03-01').toISOString(), false]]);
    expect(await open('b')).toEqual([['5', utc('2025-03-01').toISOString(), true], ['10', utc('2025-05-01').toISOString(), false]]);
    expect(await open('d')).toEqual([]);
    const b = await books(s);
    expect(b.positions.map((p) => [p.investor_id, p.balance])).toEqual([['a', '40'], ['b', '15'], ['c', '150'], ['d', '0'], ['f', '15']]);
    // c joined (non-accredited, US); d joined (non-accredited, not US) and left: it left the buckets it was counted in.
    expect(b.counts).toEqual({ total: 4, non_accredited: 1, us_persons: 4 });
    expect(b.positions.find((p) => p.investor_id === 'd')).toMatchObject({ counted_accredited: false, counted_us: false });
    expect(b.supply).toBe('220');
    expect(b.events).toEqual(RANGE.map((x) => [x.amount.toString(), x.from, x.to]));
  });

  test('the books after a range are those of its transfers applied one at a time', async () => {
    const [ranged, single] = [await market(), await market()];
    await ranged.chainRange(RANGE);
    for (const x of RANGE) await single.chainTransfer(x.from, x.to, x.amount, x.at, { occasion: x.occasion });
    expect(await books(ranged)).toEqual(await books(single));
  });

  test('a range applied again changes nothing: the token is indexed through its last block', async () => {
    const s = await market();
    const range = await s.chainRange(RANGE, { indexed: true });
    const after = await books(s);
    const [through] = await it.db.query<{ block: string }>('SELECT block FROM token_indexed_through WHERE token_id = $1', [s.tokenId]);
    expect(Number(through.block)).toBeGreaterThan(0);
    await range.apply();
    expect(await books(s)).toEqual(after);
    const [still] = await it.db.query<{ block: string }>('SELECT block FROM token_indexed_through WHERE token_id = $1', [s.tokenId]);
    expect(still.block).toBe(through.block);
  });

  test('a range in which a wallet sends more than it holds fails whole, even when a later log makes up for it', async () => {
    const s = await market();
    const before = await books(s);
    await expect(s.chainRange([{ from: 'b', to: 'c', amount: 50n, at: day(-2) }, { from: 'a', to: 'b', amount: 30n, at: day(-1) }]))
      .rejects.toThrow(/sending more/);
    expect(await books(s)).toEqual(before);
  });
});
