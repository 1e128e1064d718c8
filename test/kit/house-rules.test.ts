import { describe, expect, test } from '@jest/globals';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { custody } from '../../subgraphs/custody/index.js';
import { issuance } from '../../subgraphs/issuance/index.js';
import { settlement } from '../../subgraphs/settlement/index.js';
import { trading } from '../../subgraphs/trading/index.js';
// @ts-expect-error the lint config is plain JavaScript without declarations
import { HOUSE_PLAN, houseRules } from '../../eslint.config.js';

/**
 * The house rules of ARCHITECTURE.md bite: a planted file that breaks one is
 * refused with that rule, a clean one passes. The repository's own config
 * lints planted text at real paths; the list mechanism (a subgraph whose SQL
 * is all in store/) is checked on planted files in a temporary tree.
 */
const repoLint = new ESLint({ cwd: fromRoot() });
const ruleIds = async (eslint: ESLint, code: string, filePath: string) =>
  (await eslint.lintText(code, { filePath }))[0].messages.map((m) => `${m.ruleId}: ${m.message}`);

const CLEAN_DOMAIN = `
/** Pure: numbers in, numbers out. */
export const split = (units: bigint, numerator: bigint, denominator: bigint): bigint => (units * numerator) / denominator;
`;

describe('house rules (eslint.config.js)', () => {
  test('the plan lists every subgraph, as following or still to do', () => {
    expect([...HOUSE_PLAN.pureDomain, ...HOUSE_PLAN.pureDomainToDo].sort()).toEqual(['custody', 'issuance', 'settlement', 'trading']);
    expect([...HOUSE_PLAN.storeOnly, ...HOUSE_PLAN.storeOnlyToDo].sort()).toEqual(['custody', 'issuance', 'settlement', 'trading']);
  });

  // The rooms of ARCHITECTURE.md's house plan. internal.ts holds the internal calls a subgraph serves:
  // it is there exactly when the subgraph's definition serves some (settlement and trading serve none).
  const ROOMS = ['index.ts', 'settings.ts', 'services.ts', 'resolvers', 'peers.ts', 'feeds.ts', 'domain', 'store', 'migrations'];
  test.each([issuance, trading, settlement, custody].map((d) => [d.name, d] as const))('subgraphs/%s holds every room of the plan', (name, def) => {
    const missing = ROOMS.filter((room) => !existsSync(fromRoot('subgraphs', name, room)));
    expect(missing).toEqual([]);
    expect(existsSync(fromRoot('subgraphs', name, 'internal.ts'))).toBe(typeof def.internal === 'function');
  });

  test('an explicit any is refused everywhere: a subgraph, the gateway, a script, a test', async () => {
    const loose = `export const answer = (d: any) => d.data;\n`;
    for (const where of [['subgraphs', 'custody', 'planted.ts'], ['gateway', 'planted.ts'], ['scripts', 'planted.ts'], ['test', 'issuance', 'planted.test.ts']]) {
      expect(await ruleIds(repoLint, loose, fromRoot(...where))).toEqual([expect.stringMatching(/^@typescript-eslint\/no-explicit-any: /)]);
    }
    expect(await ruleIds(repoLint, `export const answer = (d: { data: unknown }) => d.data;\n`, fromRoot('test', 'issuance', 'planted.test.ts'))).toEqual([]);
  });

  test('a clean domain file passes', async () => {
    expect(await ruleIds(repoLint, CLEAN_DOMAIN, fromRoot('subgraphs', 'issuance', 'domain', 'planted-clean.ts'))).toEqual([]);
  });

  test.each([
    ['the database', `import { openDb } from '../../kit/db/index.js';\nexport const open = () => openDb('memory://');\n`, 'no database'],
    ['pg', `import pg from 'pg';\nexport const pool = () => new pg.Pool();\n`, 'no database'],
    ['PGlite', `import { PGlite } from '@electric-sql/pglite';\nexport const db = () => new PGlite();\n`, 'no database'],
    ['GraphQL', `import { GraphQLError } from 'graphql';\nexport const no = () => new GraphQLError('no');\n`, 'no GraphQL'],
    ['kit/errors', `import { badInput } from '../../kit/errors.js';\nexport const no = () => badInput('X', 'no');\n`, 'no GraphQL and no kit/errors'],
  ])('a domain file importing %s is refused', async (_what, code, message) => {
    for (const s of HOUSE_PLAN.pureDomain as string[]) {
      const found = await ruleIds(repoLint, code, fromRoot('subgraphs', s, 'domain', 'planted.ts'));
      expect(found).toEqual([expect.stringMatching(new RegExp(`^no-restricted-imports: .*${message}`))]);
    }
  });

  test('a query in domain/ is refused, in every subgraph; the gateway runs none', async () => {
    const code = `export async function count(q: { query<T>(sql: string): Promise<T[]> }) {\n  return q.query<{ n: string }>('SELECT count(*) AS n FROM orders');\n}\n`;
    for (const s of ['issuance', 'trading', 'settlement', 'custody']) {
      expect(await ruleIds(repoLint, code, fromRoot('subgraphs', s, 'domain', 'planted.ts'))).toEqual([expect.stringMatching(/^no-restricted-syntax: SQL runs only in store\//)]);
    }
    expect(await ruleIds(repoLint, code, fromRoot('gateway', 'planted.ts'))).toEqual([expect.stringMatching(/^no-restricted-syntax: SQL runs only in store\/ \(the gateway/)]);
    // A regular expression's exec is not SQL.
    expect(await ruleIds(repoLint, `export const digits = (s: string) => /^\\d+$/.exec(s);\n`, fromRoot('subgraphs', 'settlement', 'domain', 'planted.ts'))).toEqual([]);
  });

  test('in the repository, a subgraph on the store-only list runs queries in its store/ only', async () => {
    const code = `export const orders = (q: { query(sql: string): Promise<unknown[]> }) => q.query('SELECT id FROM orders');\n`;
    expect(HOUSE_PLAN.storeOnly).toContain('settlement');
    for (const s of HOUSE_PLAN.storeOnly as string[]) {
      for (const where of [['planted.ts'], ['resolvers', 'planted.ts'], ['feeds.ts']]) {
        expect(await ruleIds(repoLint, code, fromRoot('subgraphs', s, ...where))).toEqual([`no-restricted-syntax: SQL runs only in store/ (subgraphs/${s}/store/)`]);
      }
      expect(await ruleIds(repoLint, code, fromRoot('subgraphs', s, 'store', 'planted.ts'))).toEqual([]);
    }
  });

  test('a subgraph on the store-only list: a query outside store/ is refused, inside store/ it is not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'house-rules-'));
    try {
      const plant = (path: string, code: string) => {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), code);
      };
      const query = `export const orders = (q: { query(sql: string): Promise<unknown[]> }) => q.query('SELECT id FROM orders');\n`;
      plant('subgraphs/trading/resolvers/orders.ts', query);
      plant('subgraphs/trading/store/orders.ts', query);
      plant('subgraphs/settlement/batches.ts', query); // not on the list in this plan
      const config = [...tseslint.configs.recommended, ...houseRules({ ...HOUSE_PLAN, storeOnly: ['trading'] })] as Linter.Config[];
      const eslint = new ESLint({ cwd: dir, overrideConfigFile: true, overrideConfig: config });
      const results = await eslint.lintFiles(['subgraphs/**/*.ts']);
      const byFile = Object.fromEntries(results.map((r) => [r.filePath.slice(dir.length + 1), r.messages.map((m) => m.ruleId)]));
      expect(byFile).toEqual({
        'subgraphs/trading/resolvers/orders.ts': ['no-restricted-syntax'],
        'subgraphs/trading/store/orders.ts': [],
        'subgraphs/settlement/batches.ts': [],
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
