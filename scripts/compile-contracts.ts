// Compiles contracts/**/*.sol offline with solc-js and writes contracts/build/<Name>.json.
// The outputs are committed: the runtime never needs solc. Run: npx tsx scripts/compile-contracts.ts
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import solc from 'solc';
import { packageDir, projectRoot, type Artifact } from '../subgraphs/kit/chain/artifacts.js';

// paris (no PUSH0) so the bytecode runs on any EVM chain the T-REX suite itself runs on.
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'paris',
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
};

interface SolcError {
  severity: 'error' | 'warning' | 'info';
  formattedMessage: string;
}
interface SolcOutput {
  errors?: SolcError[];
  contracts?: Record<string, Record<string, { abi: Artifact['abi']; evm: { bytecode: { object: string } } }>>;
}

function solFiles(dir: string, root: string, out: string[] = []): string[] {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, ent.name);
    if (ent.isDirectory() && ent.name !== 'build') solFiles(p, root, out);
    else if (ent.isFile() && ent.name.endsWith('.sol')) out.push(path.relative(root, p).split(path.sep).join('/'));
  }
  return out.sort();
}

/**
 * Serves `@scope/pkg/...` imports from node_modules. T-REX and OnchainID pin `pragma solidity 0.8.17;`;
 * we relax an exact 0.8.x pin to ^0.8.x so the bundled solc (0.8.37) compiles modules built on them.
 */
function importCallback(root: string) {
  return (importPath: string): { contents: string } | { error: string } => {
    try {
      const local = path.join(root, importPath);
      if (!importPath.startsWith('@') && existsSync(local)) return { contents: readFileSync(local, 'utf8') };
      const parts = importPath.split('/');
      const pkg = importPath.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
      const rest = parts.slice(importPath.startsWith('@') ? 2 : 1).join('/');
      const file = path.join(packageDir(pkg), rest);
      const contents = readFileSync(file, 'utf8').replace(/pragma solidity\s*=?\s*(0\.8\.\d+)\s*;/g, 'pragma solidity ^$1;');
      return { contents };
    } catch (e) {
      const hint = importPath.startsWith('@openzeppelin/') ? ' (install @openzeppelin/contracts@4, the line T-REX 4 is built on)' : '';
      return { error: `cannot resolve ${importPath}${hint}: ${(e as Error).message}` };
    }
  };
}

function compile(): { artifacts: Record<string, Artifact>; warnings: string[] } {
  const root = projectRoot();
  const files = solFiles(path.join(root, 'contracts'), root);
  const sources = Object.fromEntries(files.map((f) => [f, { content: readFileSync(path.join(root, f), 'utf8') }]));
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: importCallback(root) })) as SolcOutput;

  const errors = (output.errors ?? []).filter((e) => e.severity === 'error');
  if (errors.length) throw new Error(`solc ${solc.version()}:\n${errors.map((e) => e.formattedMessage).join('\n')}`);

  const artifacts: Record<string, Artifact> = {};
  for (const file of files) {
    for (const [name, c] of Object.entries(output.contracts?.[file] ?? {})) {
      if (artifacts[name]) throw new Error(`two contracts named ${name}: artifacts are keyed by name`);
      artifacts[name] = { contractName: name, abi: c.abi, bytecode: '0x' + c.evm.bytecode.object };
    }
  }
  const warnings = (output.errors ?? []).filter((e) => e.severity === 'warning' && files.some((f) => e.formattedMessage.includes(f)));
  return { artifacts, warnings: warnings.map((w) => w.formattedMessage) };
}

/** Compiles every contract under contracts/ (not contracts/build) and returns our own contracts by name. */
export function compileContracts(): Record<string, Artifact> {
  return compile().artifacts;
}

function main(): void {
  const root = projectRoot();
  const started = Date.now();
  console.log(`compiling contracts/ with solc ${solc.version()} ...`);
  const { artifacts, warnings } = compile();
  for (const w of warnings) console.warn(w);
  const out = path.join(root, 'contracts', 'build');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const art of Object.values(artifacts)) {
    writeFileSync(path.join(out, `${art.contractName}.json`), JSON.stringify(art, null, 2) + '\n');
    console.log(`  contracts/build/${art.contractName}.json (${(art.bytecode.length - 2) / 2} bytes)`);
  }
  console.log(`done in ${Date.now() - started} ms`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
