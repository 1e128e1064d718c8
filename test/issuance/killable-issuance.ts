/**
 * Issuance on a database that outlives its process, so a test can run it as its own process on the
 * stack's port, kill it (-9) at a chosen instant, and start it again in the test's process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { issuance } from '../../subgraphs/issuance/index.js';
import { startSubgraph, subgraphConfig, type RunningSubgraph } from '../../subgraphs/kit/subgraph.js';
import { createTestDatabase, onPostgres, type TestDatabase } from '../support/db.js';
import { waitFor, type SettlementWorld } from '../settlement/support.js';

export class KillableIssuance {
  private db?: TestDatabase;
  private dir?: string;
  private child?: ChildProcess;
  restarted?: RunningSubgraph;

  /** The database URL to start the stack's issuance with. */
  async databaseUrl(label: string): Promise<string> {
    if (onPostgres()) return (this.db = await createTestDatabase()).url;
    return pathToFileURL(join((this.dir = mkdtempSync(join(tmpdir(), `tokenstack-${label}-`))), 'issuance')).href;
  }

  /** Stops the stack's issuance and runs it as a child process on the same database and port, ready. */
  async spawn(w: SettlementWorld): Promise<void> {
    await w.stack.subgraphs.issuance.stop();
    const child = (this.child = spawn(process.execPath, ['--import', 'tsx', 'subgraphs/issuance/main.ts'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_OPTIONS: '', ...w.stack.env.issuance }, stdio: ['ignore', 'pipe', 'pipe'],
    }));
    let out = '';
    child.stdout!.on('data', (x) => (out += x));
    child.stderr!.on('data', (x) => (out += x));
    await waitFor('the issuance process', async () => {
      if (child.exitCode !== null) throw new Error(`issuance exited ${child.exitCode}: ${out.slice(-2000)}`);
      return fetch(`${w.stack.subgraphs.issuance.url.replace(/\/graphql$/, '')}/readyz`).then((r) => r.status, () => 0);
    }, (x) => x === 200, 120_000);
  }

  async kill(): Promise<void> {
    const child = this.child!;
    child.kill('SIGKILL');
    await waitFor('issuance to die', async () => child.exitCode !== null || child.signalCode !== null, (x) => x);
  }

  /** Issuance started again in this process, from what the killed one left. */
  async restart(w: SettlementWorld): Promise<RunningSubgraph> {
    return (this.restarted = await startSubgraph(issuance, subgraphConfig(issuance, w.stack.env.issuance)));
  }

  /** Before the stack stops: the child and the restarted issuance. */
  async stop(): Promise<void> {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.restarted?.stop().catch(() => undefined);
  }

  /** After the stack stopped: the database. */
  async drop(): Promise<void> {
    await this.db?.drop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
