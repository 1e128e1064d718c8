import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { ROLES, type Role } from '../subgraphs/kit/auth.js';
import { fromRoot } from '../subgraphs/kit/paths.js';
import { apiSchemaOf, buildManifest, ManifestBuildError, readOperationFiles } from '../gateway/persisted/build.js';
import { readManifest, serializeManifest, type Manifest } from '../gateway/persisted/manifest.js';
import { addPartnerKey, MODES, type Mode } from '../gateway/persisted/partners.js';

// npm run persisted                      operations/**/*.graphql -> schema/persisted-operations.json (a test fails on drift)
// npm run persisted -- add-partner --name N --org O --roles R1,R2 --mode SAFELIST --operations Op1,Op2 [--file F]
// npm run persisted -- add-partner --name N [--file F]        another key for an existing partner (rotation)
// The partners file is F, else GATEWAY_PARTNERS_PATH, else config/partners.json; the key is printed once, only its hash is stored.

export const MANIFEST_PATH = fromRoot('schema', 'persisted-operations.json');

/** The manifest that operations/ and the checked-in supergraph give today. */
export async function freshManifest(): Promise<Manifest> {
  const schema = await apiSchemaOf(readFileSync(fromRoot('schema', 'supergraph.graphql'), 'utf8'));
  return buildManifest(readOperationFiles(fromRoot('operations')), schema);
}

const list = (v: string | undefined) => (v ?? '').split(',').map((s) => s.trim()).filter(Boolean);

export function addPartner(argv: string[]): string {
  const { values: o } = parseArgs({
    args: argv,
    options: { name: { type: 'string' }, org: { type: 'string' }, roles: { type: 'string' }, mode: { type: 'string' }, operations: { type: 'string' }, file: { type: 'string' } },
  });
  if (!o.name) throw new Error('--name is required');
  const file = resolve(o.file ?? process.env.GATEWAY_PARTNERS_PATH ?? fromRoot('config', 'partners.json'));
  const roles = list(o.roles) as Role[];
  if (roles.some((r) => !ROLES.includes(r))) throw new Error(`--roles must be some of ${ROLES.join(', ')}`);
  if (o.mode !== undefined && !MODES.includes(o.mode as Mode)) throw new Error(`--mode must be one of ${MODES.join(', ')}`);
  const entry = o.org ? { name: o.name, org: o.org, roles, mode: (o.mode ?? 'SAFELIST') as Mode, operations: list(o.operations) } : { name: o.name };
  const { key, created } = addPartnerKey(file, readManifest(MANIFEST_PATH), entry);
  return `${created ? 'added partner' : 'new key for partner'} ${o.name} in ${file} (restart the gateway to apply)\n`
    + `API key, shown only now; the partner sends it as "x-api-key: <key>":\n${key}`;
}

async function main(argv: string[]): Promise<string> {
  if (argv[0] === 'add-partner') return addPartner(argv.slice(1));
  if (argv.length) throw new Error(`unknown arguments: ${argv.join(' ')}`);
  const m = await freshManifest();
  writeFileSync(MANIFEST_PATH, serializeManifest(m));
  return `wrote schema/persisted-operations.json (${m.operations.length} operations: ${m.operations.map((op) => op.name).join(', ')})`;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (out) => console.log(out),
    (e: Error) => {
      console.error(e instanceof ManifestBuildError ? e.message : `npm run persisted: ${e.message}`);
      process.exit(1);
    },
  );
}
