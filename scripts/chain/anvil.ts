// Local anvil node as a child process: the embedded default chain and the test chain.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';

export interface StartAnvilOptions {
  /** 0 or absent: pick a free port. */
  port?: number;
  host?: string;
  chainId?: number;
  /** Seconds between blocks; absent means auto-mine each transaction. */
  blockTime?: number;
  /** Receives every line anvil prints (stdout and stderr). */
  log?: (line: string) => void;
  /**
   * Keep the chain across restarts: anvil loads this file at start and writes it on exit (and every
   * stateIntervalSeconds). The embedded default points it into the data folder.
   */
  stateFile?: string;
  stateIntervalSeconds?: number;
  /** How long to wait for JSON-RPC to answer. Default 20 s. */
  startTimeoutMs?: number;
}

export interface AnvilNode {
  url: string;
  port: number;
  chainId: number;
  pid: number;
  /** The default mnemonic's first 10 keys, funded with 10,000 ETH each. */
  privateKeys: string[];
  stop(): Promise<void>;
}

/**
 * Keys of anvil's default mnemonic ("test test ... junk", m/44'/60'/0'/0/i).
 * Public test keys: never use them on a real network.
 */
export const ANVIL_DEV_KEYS: readonly string[] = Object.freeze([
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
  '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a',
  '0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba',
  '0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e',
  '0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356',
  '0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97',
  '0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6',
]);

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' };

/**
 * Path of the anvil binary shipped by the platform package of @foundry-rs/anvil.
 * We run it directly: npm 11 skips the wrapper's postinstall, and the wrapper adds a node process.
 */
export function anvilBinaryPath(): string {
  const arch = ARCH[process.arch];
  if (!arch || !['linux', 'darwin', 'win32'].includes(process.platform)) {
    throw new Error(`anvil: no prebuilt binary for ${process.platform}/${process.arch}`);
  }
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}`;
  let dir: string;
  try {
    dir = path.dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
  } catch {
    throw new Error(`anvil: package ${pkg} is not installed (optional dependency of @foundry-rs/anvil)`);
  }
  return path.join(dir, 'bin', process.platform === 'win32' ? 'anvil.exe' : 'anvil');
}

// Children still running; killed synchronously if the parent exits without stopping them.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function trackChild(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
}

/** Binds `port` (0: any the OS picks) and lets it go; null when it is taken. */
function tryPort(port: number, host: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' || e.code === 'EACCES' ? resolve(null) : reject(e)));
    srv.listen(port, host, () => {
      const { port: bound } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(bound));
    });
  });
}

/** Where the ports of outgoing connections start (Linux says; BSD, macOS and Windows start at 49152). */
function ephemeralStart(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 0) return low;
  } catch {
    // not Linux
  }
  return 49152;
}

const LOWEST_PICK = 10_000;
/** The pick range is cut into bands; each process picks in its own (a jest worker by its id, any other by its pid). */
const BANDS = 8;
/** Ports this process handed out: a stack picks all its ports before it binds any of them. */
const handedOut = new Set<number>();

/** This process's band: a jest worker by its id, any other process by its pid. */
export function portBand(env: NodeJS.ProcessEnv = process.env, pid = process.pid): number {
  const worker = Number(env.JEST_WORKER_ID);
  return (Number.isInteger(worker) && worker > 0 ? worker - 1 : pid) % BANDS;
}

/** The ports a band picks from: [low, high). */
export function bandRange(band: number): { low: number; high: number } {
  const width = Math.floor((Math.min(ephemeralStart(), 32_768) - LOWEST_PICK) / BANDS);
  return { low: LOWEST_PICK + band * width, high: LOWEST_PICK + (band + 1) * width };
}

/**
 * A free port, picked below the ephemeral range: a port the OS hands out for listen(0) comes from the range its
 * outgoing connections take local ports from, so a database or HTTP connection opened meanwhile can take it before
 * the server that asked binds it (seen as EADDRINUSE when a stack's subgraphs start after their migrations).
 * A port is picked long before it is bound (a stack's subgraphs listen after their migrations), so two processes
 * picking at random from one range could both choose it: each process (jest worker) picks in its own band, and a
 * process never hands out one port twice. A process outside the tests may still bind the port first; startAnvil
 * retries, the stacks' start fails with EADDRINUSE.
 */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  const { low, high } = bandRange(portBand());
  for (let i = 0; high - low >= 500 && i < 50; i++) {
    const pick = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(pick)) continue;
    const port = await tryPort(pick, host);
    if (port !== null) {
      handedOut.add(port);
      return port;
    }
  }
  const any = await tryPort(0, host);
  if (any === null) throw new Error('no free port');
  return any;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function rpcChainId(url: string): Promise<number | null> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(1000),
    });
    const body = (await res.json()) as { result?: string };
    return body.result ? Number(BigInt(body.result)) : null;
  } catch {
    return null;
  }
}

class AddressInUse extends Error {}

export async function startAnvil(opts: StartAnvilOptions = {}): Promise<AnvilNode> {
  const bin = anvilBinaryPath();
  if (!existsSync(bin)) throw new Error(`anvil: binary not found at ${bin}`);
  // Only a port we picked ourselves can be retried on a bind race.
  const attempts = opts.port ? 1 : 3;
  for (let i = 1; ; i++) {
    const port = opts.port || (await findFreePort(opts.host ?? '127.0.0.1'));
    try {
      return await launch(bin, port, opts);
    } catch (err) {
      if (!(err instanceof AddressInUse) || i >= attempts) throw err;
    }
  }
}

async function launch(bin: string, port: number, opts: StartAnvilOptions): Promise<AnvilNode> {
  const host = opts.host ?? '127.0.0.1';
  const chainId = opts.chainId ?? 31337;
  const args = ['--host', host, '--port', String(port), '--chain-id', String(chainId), '--accounts', '10'];
  if (opts.blockTime) args.push('--block-time', String(opts.blockTime));
  if (opts.stateFile) args.push('--state', opts.stateFile, '--state-interval', String(opts.stateIntervalSeconds ?? 5));
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);

  // Keep the last lines for error messages; always drain the pipes so anvil never blocks on a full one.
  const tail: string[] = [];
  // Our child printing "Listening on" proves the answer below comes from it, not another node on the port.
  let listening = false;
  const onLine = (line: string) => {
    if (!line.trim()) return;
    if (line.startsWith('Listening on')) listening = true;
    tail.push(line);
    if (tail.length > 20) tail.shift();
    opts.log?.(line);
  };
  // A chunk may end mid-line: keep the remainder per stream.
  const lineReader = () => {
    let rest = '';
    return (chunk: Buffer) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      lines.forEach(onLine);
    };
  };
  child.stdout!.on('data', lineReader());
  child.stderr!.on('data', lineReader());

  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let spawnError: Error | null = null;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });
  child.once('error', (e) => {
    spawnError = e;
  });

  const stop = async (): Promise<void> => {
    if (exited || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const forced = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exitPromise;
    clearTimeout(forced);
  };

  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
  for (;;) {
    if (spawnError) throw new Error(`anvil: failed to start ${bin}: ${(spawnError as Error).message}`);
    if (exited) {
      const out = tail.join('\n');
      const e = exited as { code: number | null; signal: NodeJS.Signals | null };
      const msg = `anvil: exited before answering (code ${e.code}, signal ${e.signal}) on port ${port}:\n${out}`;
      throw /address already in use|os error 98/i.test(out) ? new AddressInUse(msg) : new Error(msg);
    }
    const answered = listening ? await rpcChainId(url) : null;
    if (answered !== null) {
      if (answered !== chainId) {
        await stop();
        throw new Error(`anvil: ${url} answered chain id ${answered}, expected ${chainId} (port taken by another node?)`);
      }
      break;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`anvil: no JSON-RPC answer at ${url} within ${opts.startTimeoutMs ?? 20_000} ms:\n${tail.join('\n')}`);
    }
    await sleep(50);
  }

  return { url, port, chainId, pid: child.pid!, privateKeys: [...ANVIL_DEV_KEYS], stop };
}
