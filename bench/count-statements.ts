/**
 * Preloaded (`--import`) into a bench's child process when BENCH_STATEMENTS=DIR:
 * counts the statements the process sends to PostgreSQL through node-postgres,
 * by their text (first 120 characters, whitespace folded), and on SIGUSR2
 * writes the counts so far to DIR/statements-<pid>.json. The bench signals
 * before and after a window and subtracts: statements per order per service,
 * BEGIN and COMMIT included. A bench that runs the services in its own process
 * imports it and reads `statementsSoFar()` instead.
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

const dir = process.env.BENCH_STATEMENTS;
const counts = new Map<string, number>();

/** The counts so far, by statement text (empty unless BENCH_STATEMENTS is set). */
export const statementsSoFar = (): Map<string, number> => new Map(counts);

if (dir) {
  const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const query = proto.query;
  proto.query = function (this: unknown, ...a: unknown[]) {
    const q = a[0];
    const text = typeof q === 'string' ? q : (q as { text?: string } | null)?.text;
    if (typeof text === 'string') {
      const k = text.replace(/\s+/g, ' ').trim().slice(0, 120);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    return query.apply(this, a);
  };
  process.on('SIGUSR2', () => {
    mkdirSync(dir, { recursive: true }); // a folder that is not there yet is made, not a reason for the service to die
    const file = join(dir, `statements-${process.pid}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify({ at: Date.now(), counts: Object.fromEntries(counts) }));
    renameSync(`${file}.tmp`, file);
  });
}
