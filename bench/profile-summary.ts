/**
 * Summarises V8 CPU profiles (`node --cpu-prof`, e.g. written by
 * `BENCH_PROFILE=gateway,trading,custody,issuance BENCH_PROFILE_DIR=DIR npx tsx bench/place-order.ts`):
 * for each profile, the share of samples by where the code lives (a package,
 * Node's internals, garbage collection, idle, a project file) and the
 * functions with the most self time, and the project functions with the
 * most inclusive time (what a flame graph shows as wide towers).
 *
 *   npx tsx bench/profile-summary.ts DIR_OR_FILE... [--top 15]
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

interface Frame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: Frame; hitCount?: number; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const TOP = topAt >= 0 ? Number(args[topAt + 1]) : 15;
const inputs = args.filter((a, i) => a !== '--top' && i !== topAt + 1);

/** Where a frame's code lives, coarse enough to read as a flame graph's colours. */
function place(f: Frame): string {
  if (f.functionName === '(garbage collector)') return 'GC';
  if (f.functionName === '(idle)') return 'idle';
  if (f.functionName === '(program)') return 'V8/native';
  const u = f.url;
  if (!u) return 'V8/native';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (nm) return nm[1];
  if (u.startsWith('node:')) return u.replace(/^node:internal\/([^/]+).*$/, 'node:$1');
  const own = /\/(gateway|subgraphs|scripts|bench)\/(.*)$/.exec(u);
  return own ? `${own[1]}/${own[2]}` : u;
}

/** Written by bench/place-order.ts and bench/settlement.ts beside the profiles: process names by pid, and the windows to keep (monotonic µs). */
interface BenchInfo { pids: Record<string, string>; windows: { from: string; to: string }[] }

function benchInfo(dir: string): BenchInfo | null {
  try {
    return JSON.parse(readFileSync(join(dir, 'bench-profile.json'), 'utf8')) as BenchInfo;
  } catch {
    return null;
  }
}

function summarise(file: string, info: BenchInfo | null): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const pid = /\.(\d+)\.\d+\.\d+\.cpuprofile$/.exec(file)?.[1];
  const name = (pid && info?.pids[pid]) ?? basename(file);
  const windows = (info?.windows ?? []).map((w) => [Number(w.from), Number(w.to)] as const);
  const inWindow = (t: number) => windows.length === 0 || windows.some(([a, b]) => t >= a && t <= b);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Time per sample: the delta to the next sample.
  const self = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (!inWindow(t)) continue;
    const dt = p.timeDeltas[i + 1] ?? 0;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const idle = [...self.entries()].filter(([id]) => byId.get(id)?.callFrame.functionName === '(idle)').reduce((a, [, v]) => a + v, 0);
  const busy = total - idle;
  const places = new Map<string, number>();
  const funcs = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, t] of self) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    if (f.functionName === '(idle)') continue;
    const where = place(f);
    places.set(where, (places.get(where) ?? 0) + t);
    const key = `${f.functionName || '(anonymous)'} ${where}:${f.lineNumber + 1}`;
    funcs.set(key, (funcs.get(key) ?? 0) + t);
    // Inclusive time of project functions: count each once per stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)!.callFrame;
      const w = place(cf);
      if (!/^(gateway|subgraphs)\//.test(w)) continue;
      const k = `${cf.functionName || '(anonymous)'} ${w}:${cf.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + t);
    }
  }
  const pc = (v: number) => `${((100 * v) / busy).toFixed(1).padStart(5)}%`;
  const top = (m: Map<string, number>, n: number) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, n);
  const lines = [
    `${name}${windows.length ? ' (the windows the bench marked)' : ''}: ${(total / 1e6).toFixed(1)} s sampled, busy ${(busy / 1e6).toFixed(1)} s (${((100 * busy) / total).toFixed(0)}%)`,
    '  busy time by where the code lives:',
    ...top(places, TOP).map(([k, v]) => `    ${pc(v)}  ${k}`),
    '  functions by self time:',
    ...top(funcs, TOP).map(([k, v]) => `    ${pc(v)}  ${k}`),
    '  project functions by inclusive time:',
    ...top(inclusive, TOP).map(([k, v]) => `    ${pc(v)}  ${k}`),
  ];
  return lines.join('\n');
}

const files = inputs.flatMap((a) => (statSync(a).isDirectory() ? readdirSync(a).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(a, f)) : [a]));
if (files.length === 0) {
  process.stderr.write('usage: npx tsx bench/profile-summary.ts DIR_OR_FILE... [--top N]\n');
  process.exitCode = 2;
}
// tsx's loader thread writes a profile of its own (*.1.002.cpuprofile): the main thread's are the ones that matter.
for (const f of files.filter((x) => !/\.[1-9]\d*\.\d+\.cpuprofile$/.test(x))) process.stdout.write(`${summarise(f, benchInfo(dirname(f)))}\n\n`);
