// Compiled contracts by name: ours (contracts/build, committed) and the T-REX and OnchainID packages' artifacts.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JsonFragment } from 'ethers';

export interface Artifact {
  contractName: string;
  abi: JsonFragment[];
  /** Creation bytecode, 0x-prefixed; '0x' for interfaces and abstract contracts. */
  bytecode: string;
}

export type ArtifactSource = 'project' | 'trex' | 'onchainid';

const PACKAGES: Record<Exclude<ArtifactSource, 'project'>, string> = {
  trex: '@tokenysolutions/t-rex',
  onchainid: '@onchain-id/solidity',
};

/** Nearest folder above this file with a package.json: works from the sources and from dist/. */
export function projectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('artifacts: no package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

export function projectBuildDir(): string {
  return path.join(projectRoot(), 'contracts', 'build');
}

export function packageDir(pkg: string): string {
  return path.dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
}

function walk(dir: string, out: string[]): string[] {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory()) {
      if (ent.name !== 'build-info') walk(p, out);
    } else if (ent.name.endsWith('.json') && !ent.name.endsWith('.dbg.json')) {
      out.push(p);
    }
  }
  return out;
}

// name -> file, per source. A package's own contracts/ tree wins over the copies of its
// dependencies that hardhat also wrote (T-REX carries an older Identity under artifacts/@onchain-id).
const indexes = new Map<ArtifactSource, Map<string, string>>();
function index(source: ArtifactSource): Map<string, string> {
  let idx = indexes.get(source);
  if (idx) return idx;
  idx = new Map();
  const root = source === 'project' ? projectBuildDir() : path.join(packageDir(PACKAGES[source]), 'artifacts');
  if (existsSync(root)) {
    const own = path.join(root, 'contracts') + path.sep;
    const files = walk(root, []).sort((a, b) => Number(b.startsWith(own)) - Number(a.startsWith(own)));
    for (const f of files) {
      const name = path.basename(f, '.json');
      if (!idx.has(name)) idx.set(name, f);
    }
  }
  indexes.set(source, idx);
  return idx;
}

const cache = new Map<string, Artifact>();

/**
 * The artifact of a contract by name. Without `from`, looks in our build first, then OnchainID
 * (the canonical Identity and ClaimIssuer), then T-REX.
 */
export function loadArtifact(name: string, from?: ArtifactSource): Artifact {
  const key = `${from ?? '*'}:${name}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const sources: ArtifactSource[] = from ? [from] : ['project', 'onchainid', 'trex'];
  for (const s of sources) {
    const file = index(s).get(name);
    if (!file) continue;
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Artifact;
    const art: Artifact = { contractName: raw.contractName, abi: raw.abi, bytecode: raw.bytecode };
    cache.set(key, art);
    return art;
  }
  throw new Error(`artifacts: no compiled contract named ${name} in ${sources.join(', ')}`);
}
