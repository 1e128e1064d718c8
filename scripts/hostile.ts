/**
 * The randomised hostile-input run: a whole stack in this process (PGlite in
 * memory, no chain), then `--count` requests from `--seed` (HTTP to the
 * gateway and straight to the subgraphs, some graphql-ws), then a normal query
 * and /healthz. Prints the figures; exits 1 on any 5xx, error without a code,
 * INTERNAL_SERVER_ERROR or crash close, or an unhealthy stack afterwards.
 *
 *   npm run hostile -- --count 10000 --seed 12 --concurrency 8
 */
import { parseArgs } from 'node:util';
import { generateSecrets } from './devSecrets.js';
import { stackHealthy, runHostile } from './hostileRun.js';
import { startStack } from './stack.js';

const { values } = parseArgs({ options: { count: { type: 'string', default: '10000' }, seed: { type: 'string', default: '12' }, concurrency: { type: 'string', default: '8' } } });
const count = Number(values.count), seed = Number(values.seed), concurrency = Number(values.concurrency);

const secrets = generateSecrets();
const stack = await startStack({
  secrets, chain: 'none', ports: { gateway: 0, issuance: 0, trading: 0, settlement: 0, custody: 0 }, logLevel: 'silent', nodeEnv: 'production',
  gatewayEnv: { RATE_LIMIT_PER_MINUTE: '0' },
});
try {
  console.log(`hostile run: ${count} requests, seed ${seed}, ${concurrency} at a time, against ${stack.gateway.url}`);
  const f = await runHostile(stack, secrets, { seed, count, concurrency, progress: (n) => { if (n % 1000 === 0) console.log(`  ${n} sent`); } });
  const health = await stackHealthy(stack, secrets);
  const fivexx = Object.entries(f.statuses).filter(([s]) => /^5/.test(s)).reduce((n, [, c]) => n + c, 0);
  console.log(JSON.stringify({ ...f, violations: f.violations.length, fivexx, health, perSecond: Math.round((f.requests / f.ms) * 1000) }, null, 2));
  for (const v of f.violations.slice(0, 30)) console.log(`#${v.index} ${v.label}: ${v.problem}\n    ${v.request}`);
  process.exitCode = f.violations.length || health.query !== 200 || health.healthz !== 200 ? 1 : 0;
} finally {
  await stack.stop();
}
