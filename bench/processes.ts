/**
 * What the benches that run the stack as separate processes share: command
 * line settings, the child processes (each optionally under `node
 * --cpu-prof`), a closed-loop load driver over HTTP, CPU seconds per process
 * from /proc and the statistics they print.
 *
 * With BENCH_PROFILE=gateway,trading,... (names of started processes) and
 * BENCH_PROFILE_DIR=DIR those processes run under `node --cpu-prof`;
 * `writeProfileInfo` leaves bench-profile.json beside their profiles (which
 * pid is which process, and the windows to keep), which
 * `npx tsx bench/profile-summary.ts DIR` reads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fromRoot } from '../subgraphs/kit/paths.js';
import { mulberry32 } from '../scripts/random.js';

export function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}
export const num = (name: string, def: number) => {
  const v = Number(arg(name) ?? def);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
};

export const say = (s: string) => void process.stdout.write(s);
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
export const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * p))] : NaN; };
export const loadAverage = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');

/** The same order stream every run. */
export const prng = mulberry32;

// ------------------------------------------------------------------ processes

const children = new Map<string, ChildProcess>();
let stopping = false;

/** Starts `entry` (a .ts file of the project) as a named child process; its exit is reported unless expected. */
export function startProcess(name: string, entry: string, env: Record<string, string | undefined>): ChildProcess {
  const prof = (process.env.BENCH_PROFILE ?? '').split(',').includes(name) ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR ?? os.tmpdir()}`] : [];
  const count = process.env.BENCH_STATEMENTS ? ['--import', fromRoot('bench/count-statements.ts')] : [];
  const child = spawn(process.execPath, [...prof, '--import', 'tsx', ...count, fromRoot(entry)], { env: { ...process.env, NODE_OPTIONS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd: fromRoot() });
  let err = '';
  child.stdout!.resume();
  child.stderr!.on('data', (d) => { err = (err + d).slice(-4000); });
  child.once('exit', (code, signal) => {
    if (children.get(name) === child) children.delete(name);
    if (!stopping && !expected.has(child)) say(`\n${name} exited with ${code ?? signal}: ${err}\n`);
  });
  children.set(name, child);
  pids.set(String(child.pid), name);
  return child;
}
const expected = new WeakSet<ChildProcess>();
const pids = new Map<string, string>();

/** Stops a named child (SIGTERM, SIGKILL after 10 s) and waits for it. */
export async function stopProcess(name: string): Promise<void> {
  const c = children.get(name);
  if (!c) return;
  expected.add(c);
  await stopChild(c);
}

/** Kills a named child at once (SIGKILL, as a crash) and waits for it to be gone. */
export async function killProcess(name: string): Promise<void> {
  const c = children.get(name);
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  expected.add(c);
  await new Promise((r) => { c.once('exit', r); c.kill('SIGKILL'); });
}

function stopChild(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    const t = setTimeout(() => { c.kill('SIGKILL'); }, 10_000);
    c.once('exit', () => { clearTimeout(t); r(); });
    c.kill('SIGTERM');
  });
}

export async function stopAllProcesses(): Promise<void> {
  stopping = true;
  await Promise.all([...children.values()].map(stopChild));
}

/** Waits until `url` answers 200 (a process's /readyz), for at most three minutes (a loaded shared machine starts processes slowly). */
export async function waitReady(url: string, what: string, child?: ChildProcess): Promise<void> {
  const end = Date.now() + 180_000;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    try {
      const r = await fetch(url);
      if (r.status === 200) return;
    } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`${what} did not become ready at ${url}`);
    await sleep(200);
  }
}

/** Monotonic microseconds, the clock CPU profiles time their samples with. */
export const monotonicMicros = () => String(process.hrtime.bigint() / 1000n);
const profileWindows: { from: string; to: string }[] = [];
/** Marks a window of interest for bench/profile-summary.ts. */
export const markProfileWindow = (from: string, to: string) => { if (process.env.BENCH_PROFILE) profileWindows.push({ from, to }); };

/** Which profile is which process, and the windows marked: `npx tsx bench/profile-summary.ts DIR` reads it. */
export function writeProfileInfo(): void {
  if (!process.env.BENCH_PROFILE) return;
  mkdirSync(process.env.BENCH_PROFILE_DIR ?? os.tmpdir(), { recursive: true });
  writeFileSync(join(process.env.BENCH_PROFILE_DIR ?? os.tmpdir(), 'bench-profile.json'), JSON.stringify({ pids: Object.fromEntries(pids), windows: profileWindows }));
}

// ------------------------------------------------------------------ load

export interface Load { ok: number; refused: number; errors: number; seconds: number; latencies: number[] }

/** A closed loop: `workers` callers, each sending its next request when the last one is answered, for `seconds`. */
export async function drive(workers: number, seconds: number, send: (worker: number, i: number) => Promise<'ok' | 'refused'>): Promise<Load> {
  const latencies: number[] = [];
  let ok = 0; let refused = 0; let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    for (let i = 0; performance.now() < end; i++) {
      const s = performance.now();
      try {
        if ((await send(w, i)) === 'ok') ok++; else refused++;
        latencies.push(performance.now() - s);
      } catch (e) {
        errors++;
        if (errors <= 3) say(`\n  request failed: ${(e as Error).message.slice(0, 300)}\n`);
      }
    }
  }));
  return { ok, refused, errors, seconds: (performance.now() - t0) / 1000, latencies };
}

/** A GraphQL request, its data of the shape the caller names; an HTTP error or a GraphQL error throws. */
export async function post<D = unknown>(url: string, token: string, query: string, variables?: unknown): Promise<D> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
  const body = (await r.json()) as { data?: D; errors?: unknown[] };
  if (r.status !== 200 || body.errors) throw new Error(`HTTP ${r.status} ${JSON.stringify(body.errors)}`);
  return body.data as D;
}

/**
 * With BENCH_STATEMENTS=DIR (children preload bench/count-statements.ts): the statements each started process
 * has sent so far, by text. Signals every child and waits for its answer file.
 */
export async function statementCounts(): Promise<Record<string, Record<string, number>>> {
  const dir = process.env.BENCH_STATEMENTS;
  if (!dir) return {};
  const since = Date.now();
  const out: Record<string, Record<string, number>> = {};
  for (const [name, c] of children) {
    if (!c.pid) continue;
    c.kill('SIGUSR2');
    for (let i = 0; i < 100; i++) {
      try {
        const r = JSON.parse(readFileSync(join(dir, `statements-${c.pid}.json`), 'utf8')) as { at: number; counts: Record<string, number> };
        if (r.at >= since) { out[name] = r.counts; break; }
      } catch { /* not written yet */ }
      await sleep(50);
    }
  }
  return out;
}

/** CPU seconds (user + system) of the started processes, from /proc (Linux); the PostgreSQL server's are summed over
 * its processes (`postgres`), and over the backends whose command line names a database containing `ownDb` (`pg own`:
 * on a shared server the other is everyone's). */
export function cpuSeconds(ownDb?: string): Record<string, number> {
  const ticks = 100; // USER_HZ
  const read = (pid: number) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      return (Number(rest[11]) + Number(rest[12])) / ticks;
    } catch { return 0; }
  };
  const out: Record<string, number> = {};
  for (const [name, c] of children) out[name] = c.pid ? read(c.pid) : 0;
  let pgCpu = 0;
  let ownCpu = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'postgres') continue;
      const t = read(Number(d));
      pgCpu += t;
      if (ownDb && readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(ownDb)) ownCpu += t;
    } catch { /* gone */ }
  }
  out.postgres = pgCpu;
  if (ownDb) out['pg own'] = ownCpu;
  out.bench = process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6;
  return out;
}
export const cpuDelta = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]));
