import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse, type GraphQLSchema } from 'graphql';
import { apiSchemaOf, buildManifest, ManifestBuildError } from '../../gateway/persisted/build.js';
import { operationId, readManifest, serializeManifest } from '../../gateway/persisted/manifest.js';
import { hashApiKey, readPartnersFile } from '../../gateway/persisted/partners.js';
import { addPartner, freshManifest, MANIFEST_PATH } from '../../scripts/build-persisted.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';

describe('the persisted operation manifest', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => { schema = await apiSchemaOf(readFileSync(fromRoot('schema', 'supergraph.graphql'), 'utf8')); });

  test('the checked-in manifest equals a fresh build of operations/ against the supergraph (run `npm run persisted` after changing either)', async () => {
    expect(readFileSync(MANIFEST_PATH, 'utf8')).toBe(serializeManifest(await freshManifest()));
  });

  test('is Apollo\'s format, and every id is the sha256 of a body that holds one named operation and the fragments it uses', () => {
    const m = readManifest(MANIFEST_PATH);
    expect(m).toMatchObject({ format: 'apollo-persisted-query-manifest', version: 1 });
    for (const op of m.operations) {
      expect(op.id).toBe(operationId(op.body));
      const defs = parse(op.body).definitions;
      expect(defs[0]).toMatchObject({ kind: 'OperationDefinition', operation: op.type, name: { value: op.name } });
      expect(defs.slice(1).every((d) => d.kind === 'FragmentDefinition')).toBe(true);
    }
    // OrderState lives in orders.graphql; PlaceOrder (another file) carries it in its body.
    expect(m.operations.find((o) => o.name === 'PlaceOrder')?.body).toMatch(/fragment OrderState on Order/);
  });

  test('an invalid operation fails the build with its file, position and problem, every problem at once', () => {
    const files = [
      { path: 'a/typo.graphql', text: 'query Typo {\n  securityTokens { idd }\n}' },
      { path: 'b/anonymous.graphql', text: '{ venueRules { defaultStpMode } }' },
      { path: 'c/dup.graphql', text: 'query Typo { venueRules { defaultStpMode } }' },
      { path: 'd/broken.graphql', text: 'query Broken {' },
      { path: 'e/frag.graphql', text: 'query NoFragment { orders { ...Missing } }' },
      { path: 'f/vars.graphql', text: 'query Vars($id: ID) { settlement(id: $id) { id } }' },
    ];
    let err: unknown;
    try { buildManifest(files, schema); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ManifestBuildError);
    const problems = (err as ManifestBuildError).problems;
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^a\/typo\.graphql:2:20: Cannot query field "idd" on type "SecurityToken"/),
      expect.stringMatching(/^b\/anonymous\.graphql:1:1: an operation needs a name/),
      expect.stringMatching(/^c\/dup\.graphql: operation Typo is already defined in a\/typo\.graphql/),
      expect.stringMatching(/^d\/broken\.graphql:1:15: Syntax Error/),
      expect.stringMatching(/^e\/frag\.graphql: operation NoFragment uses undefined fragment\(s\) Missing/),
      expect.stringMatching(/^f\/vars\.graphql:1:\d+: Variable "\$id" of type "ID" used in position expecting type "ID!"/),
    ]));
    expect(problems).toHaveLength(6);
  });
});

describe('adding a partner (npm run persisted -- add-partner)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'partners-'));
  const file = join(dir, 'partners.json');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('stores only the hash of the key it prints, and a second call adds a key for rotation', () => {
    const out = addPartner(['--name', 'northwind', '--org', 'northwind', '--roles', 'BROKER_DEALER', '--mode', 'IDS_ONLY', '--operations', 'Positions,PlaceOrder', '--file', file]);
    const key = out.trim().split('\n').pop()!;
    expect(key).toMatch(/^tsp_[A-Za-z0-9_-]{43}$/);
    expect(readFileSync(file, 'utf8')).not.toContain(key);
    expect(readPartnersFile(file).partners).toEqual([
      { name: 'northwind', org: 'northwind', roles: ['BROKER_DEALER'], mode: 'IDS_ONLY', operations: ['Positions', 'PlaceOrder'], keys: [hashApiKey(key)] },
    ]);
    const second = addPartner(['--name', 'northwind', '--file', file]).trim().split('\n').pop()!;
    expect(readPartnersFile(file).partners[0].keys).toEqual([hashApiKey(key), hashApiKey(second)]);
  });

  test('refuses an operation the manifest does not hold, a role or mode that does not exist, and leaves the file as it was', () => {
    const before = readFileSync(file, 'utf8');
    const add = (extra: string[]) => () => addPartner(['--name', 'x', '--org', 'x', '--file', file, ...extra]);
    expect(add(['--roles', 'AUDITOR', '--operations', 'DropEverything'])).toThrow(/operation "DropEverything" is not in the persisted operation manifest/);
    expect(add(['--roles', 'ROOT', '--operations', 'Positions'])).toThrow(/--roles must be some of/);
    expect(add(['--roles', 'AUDITOR', '--mode', 'ANYTHING', '--operations', 'Positions'])).toThrow(/--mode must be one of/);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });
});
