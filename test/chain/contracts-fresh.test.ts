import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { keccak256 } from 'ethers';
import { projectBuildDir, type Artifact } from '../../subgraphs/kit/chain/artifacts.js';
import { compileContracts } from '../../scripts/compile-contracts.js';

describe('contracts/build', () => {
  it('matches a fresh compile of contracts/ (run `npx tsx scripts/compile-contracts.ts` if not)', () => {
    const fresh = compileContracts();
    const dir = projectBuildDir();
    const built: Record<string, Artifact> = Object.fromEntries(
      readdirSync(dir)
        .filter((f) => f.endsWith('.json'))
        .map((f) => [path.basename(f, '.json'), JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Artifact]),
    );
    expect(Object.keys(built).sort()).toEqual(Object.keys(fresh).sort());
    for (const [name, art] of Object.entries(fresh)) {
      expect({ name, abi: built[name].abi }).toEqual({ name, abi: art.abi });
      // Hashes keep a failure readable.
      expect({ name, bytecode: keccak256(built[name].bytecode) }).toEqual({ name, bytecode: keccak256(art.bytecode) });
    }
  });
});
