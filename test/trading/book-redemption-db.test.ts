/**
 * A token's redemption on its trading book has a column of its own (books.redemption_id), apart from the split
 * in progress (books.split_id): issuance's feed marks each, a split done clears only its own, and a book
 * written before the column existed (the redemption id in split_id) is moved over by the migration.
 */
import { mkdtempSync, copyFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { migrate } from '../../subgraphs/kit/db/index.js';
import type { OutboxEvent } from '../../subgraphs/kit/outbox.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { onIssuerEvent } from '../../subgraphs/trading/oversight.js';
import { bookHalted, bookRow } from '../../subgraphs/trading/store/writer.js';
import { dbLabel, openTestDb } from '../support/db.js';

const KIT = { scope: 'kit', dir: fromRoot('subgraphs', 'kit', 'migrations') };
const TRADING = { scope: 'trading', dir: fromRoot('subgraphs', 'trading', 'migrations') };
const TOKEN = 'tok_01m99000000000000000000000';
const RED = 'red_01m99000000000000000000000';
const SPL = 'spl_01m99000000000000000000000';

let seq = 0;
const event = (topic: string, payload: Record<string, unknown>): OutboxEvent => ({ seq: String(++seq), topic, key: TOKEN, payload: { tokenId: TOKEN, ...payload }, createdAt: new Date().toISOString() });

describe(`a token's redemption on its trading book (${dbLabel()})`, () => {
  test('a redemption burning marks the book apart from any split; a split done afterwards clears its own mark only, the book stays halted', async () => {
    const { db, cleanup } = await openTestDb();
    try {
      await migrate(db, [KIT, TRADING]);
      await db.tx((q) => onIssuerEvent(q, event('redemption.status', { redemptionId: RED, status: 'ANNOUNCED' })));
      expect(await bookRow(db, TOKEN)).toBeNull();
      await db.tx((q) => onIssuerEvent(q, event('redemption.status', { redemptionId: RED, status: 'BURNING' })));
      expect(await bookRow(db, TOKEN)).toMatchObject({ redemption_id: RED, split_id: null });
      // A malformed id on the feed marks nothing.
      await db.tx((q) => onIssuerEvent(q, event('redemption.status', { redemptionId: 'spl_not-a-redemption', status: 'BURNING' })));
      expect((await bookRow(db, TOKEN))!.redemption_id).toBe(RED);
      await db.tx((q) => onIssuerEvent(q, event('split.status', { splitId: SPL, status: 'CHAIN' })));
      expect(await bookRow(db, TOKEN)).toMatchObject({ redemption_id: RED, split_id: SPL });
      await db.tx((q) => onIssuerEvent(q, event('split.status', { splitId: SPL, status: 'DONE' })));
      const b = (await bookRow(db, TOKEN))!;
      expect({ redemption: b.redemption_id, split: b.split_id, halted: bookHalted(b) }).toEqual({ redemption: RED, split: null, halted: true });
    } finally {
      await cleanup();
    }
  });

  test('a book written before the column existed keeps its redemption (moved out of split_id) and its split', async () => {
    const { db, cleanup } = await openTestDb();
    const before = mkdtempSync(join(tmpdir(), 'trading-mig-'));
    try {
      // The trading migrations as they were before 0005, applied under their own names.
      for (const f of readdirSync(TRADING.dir).filter((x) => x < '0005')) copyFileSync(join(TRADING.dir, f), join(before, f));
      await migrate(db, [KIT, { scope: 'trading', dir: before }]);
      const other = TOKEN.replace(/0$/, '1');
      await db.query('INSERT INTO books (token_id, split_id) VALUES ($1, $2), ($3, $4)', [TOKEN, RED, other, SPL]);
      expect(await migrate(db, [KIT, TRADING])).toEqual(['trading/0005_book_redemption.sql']);
      expect(await bookRow(db, TOKEN)).toMatchObject({ redemption_id: RED, split_id: null });
      expect(await bookRow(db, other)).toMatchObject({ redemption_id: null, split_id: SPL });
    } finally {
      rmSync(before, { recursive: true, force: true });
      await cleanup();
    }
  });
});
