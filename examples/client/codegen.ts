import type { CodegenConfig } from '@graphql-codegen/cli';
import { generate } from '@graphql-codegen/cli';
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { apiSchemaSdl } from './apiSchema.js';

// npm run codegen: schema/supergraph.graphql (its API schema) + operations.ts -> generated/ (checked in).
// `-- --check` writes nothing and fails when generated/ is not what it would write.

export const GENERATED_DIR = fromRoot('examples', 'client', 'generated');

export function codegenConfig(): CodegenConfig {
  return {
    schema: apiSchemaSdl(),
    documents: [fromRoot('examples', 'client', 'operations.ts')],
    silent: true,
    generates: {
      [`${GENERATED_DIR}/`]: {
        preset: 'client',
        presetConfig: { fragmentMasking: false },
        config: {
          useTypeImports: true,
          enumsAsTypes: true,
          // NodeNext ESM wants the .js extensions on relative imports.
          emitLegacyCommonJSImports: false,
          // Amounts and dates travel as strings; never a JS number for money.
          scalars: { BigInt: 'string', Decimal: 'string', DateTime: 'string', Address: 'string', CountryCode: 'string' },
        },
      },
    },
  };
}

/** Files as codegen would write them, keyed by path relative to the repository root. */
export async function generatedFiles(): Promise<Record<string, string>> {
  const out = (await generate(codegenConfig(), false)) as { filename: string; content: string }[];
  return Object.fromEntries(out.map((f) => [relative(fromRoot(), f.filename), f.content]));
}

/** Paths whose checked-in content differs from a fresh generation. */
export async function staleFiles(): Promise<string[]> {
  const fresh = await generatedFiles();
  const read = (p: string) => { try { return readFileSync(join(fromRoot(), p), 'utf8'); } catch { return undefined; } };
  return Object.entries(fresh).filter(([p, content]) => read(p) !== content).map(([p]) => p);
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--check')) {
    const stale = await staleFiles();
    if (stale.length) {
      console.error(`stale generated client files (run npm run codegen): ${stale.join(', ')}`);
      process.exit(1);
    }
    console.log('examples/client/generated is current');
  } else {
    await generate(codegenConfig(), true);
    console.log(`wrote ${relative(fromRoot(), GENERATED_DIR)}/`);
  }
}
