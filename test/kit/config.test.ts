import { spawnSync } from 'node:child_process';
import { describe, expect, test } from '@jest/globals';
import { ConfigError, int, loadConfig, url } from '../../subgraphs/kit/config.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { custodySettings } from '../../subgraphs/custody/settings.js';

const run = (entry: string, env: Record<string, string>) =>
  spawnSync(process.execPath, ['--import', 'tsx', entry], {
    cwd: fromRoot(), env: { PATH: process.env.PATH!, ...env }, encoding: 'utf8', timeout: 60_000,
  });

const base = { SERVICE_SECRET: 's'.repeat(32), AUTH_JWT_SECRET: 'j'.repeat(32), CUSTODY_KEK: '0x' + '1'.repeat(64), PORT: '0' };

describe('configuration from the environment', () => {
  test('a missing setting stops a subgraph at start with a message naming the variable', () => {
    const r = run('subgraphs/issuance/main.ts', { ...base });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('DATABASE_URL is required');
  });

  test('a malformed setting stops a subgraph at start with a message naming the variable', () => {
    const r = run('subgraphs/custody/main.ts', { ...base, DATABASE_URL: 'memory://', CUSTODY_KEK: 'short' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('CUSTODY_KEK must be 32 bytes');
    const r2 = run('subgraphs/trading/main.ts', { ...base, DATABASE_URL: 'mysql://x' });
    expect(r2.stderr).toContain('DATABASE_URL must use');
  });

  test('the gateway refuses to start without a token verification key', () => {
    const r = run('gateway/main.ts', { PORT: '0' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('AUTH_JWT_SECRET');
  });

  test('parsers name the variable and the rule broken', () => {
    expect(() => loadConfig({ N: int('n', undefined, 1, 5) }, { N: '9' })).toThrow(new ConfigError('N', 'must be between 1 and 5, got 9'));
    expect(() => loadConfig({ U: url('u', ['http:']) }, { U: 'nope' })).toThrow(/U must be a URL/);
    expect(loadConfig({ N: int('n', 3) }, {})).toEqual({ N: 3 });
    // A payment batch is at least one payment and at most what a block's gas holds at the transfer gas limit.
    const batch = { CUSTODY_PAYMENT_BATCH_MAX: custodySettings.CUSTODY_PAYMENT_BATCH_MAX };
    for (const bad of ['0', '201', '-1', '2.5', 'many']) expect(() => loadConfig(batch, { CUSTODY_PAYMENT_BATCH_MAX: bad })).toThrow(/CUSTODY_PAYMENT_BATCH_MAX/);
    expect(loadConfig(batch, {})).toEqual({ CUSTODY_PAYMENT_BATCH_MAX: 50 });
  });
});

describe('the configuration reference', () => {
  test('README documents every setting the gateway and each subgraph read', async () => {
    const { readFileSync } = await import('node:fs');
    const readme = readFileSync(fromRoot('README.md'), 'utf8');
    const { subgraphSettings } = await import('../../subgraphs/kit/settings.js');
    const { gatewaySettings } = await import('../../gateway/settings.js');
    const { DEFINITIONS } = await import('../../scripts/stack.js');
    const names = [
      ...Object.keys(subgraphSettings(0)),
      ...Object.keys(gatewaySettings),
      ...Object.values(DEFINITIONS).flatMap((d) => Object.keys(d.settings ?? {})),
    ];
    expect(names.filter((n) => !readme.includes(`\`${n}\``))).toEqual([]);
  });
});
