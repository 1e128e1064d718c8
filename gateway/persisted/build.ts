import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ApolloGateway } from '@apollo/gateway';
import {
  GraphQLError, Kind, Source, parse, print, validate, visit,
  type DocumentNode, type FragmentDefinitionNode, type GraphQLSchema, type OperationDefinitionNode,
} from 'graphql';
import { manifestOf, operationId, type Manifest, type PersistedOperation } from './manifest.js';

export interface OperationFile {
  /** Shown in errors (relative to the operations folder). */
  path: string;
  text: string;
}

/** Every problem of every file at once, each as "file:line:column: message". */
export class ManifestBuildError extends Error {
  constructor(readonly problems: string[]) {
    super(`persisted operations are invalid:\n${problems.join('\n')}`);
    this.name = 'ManifestBuildError';
  }
}

/** `.graphql` files below a folder, sorted, with paths relative to it. */
export function readOperationFiles(dir: string): OperationFile[] {
  const out: OperationFile[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.graphql')) out.push({ path: relative(dir, p), text: readFileSync(p, 'utf8') });
    }
  };
  walk(dir);
  return out;
}

/** The client-facing schema of a supergraph, exactly as the running gateway derives it. */
export async function apiSchemaOf(supergraphSdl: string): Promise<GraphQLSchema> {
  const gateway = new ApolloGateway({ supergraphSdl });
  try {
    return (await gateway.load()).schema;
  } finally {
    await gateway.stop();
  }
}

/** Errors name the file their node came from (a fragment may live in another file than its operation). */
const where = (file: string, e: GraphQLError): string => {
  const loc = e.locations?.[0];
  return `${e.source?.name ?? file}${loc ? `:${loc.line}:${loc.column}` : ''}: ${e.message}`;
};

/**
 * One manifest entry per named operation: its body is the printed operation
 * followed by the fragments it uses (from any file), so that the body alone
 * is a valid document and its hash is stable whatever the files' layout.
 */
export function buildManifest(files: OperationFile[], schema: GraphQLSchema): Manifest {
  const problems: string[] = [];
  const operations: { file: string; node: OperationDefinitionNode }[] = [];
  const fragments = new Map<string, { file: string; node: FragmentDefinitionNode }>();
  for (const f of files) {
    let doc: DocumentNode;
    try {
      doc = parse(new Source(f.text, f.path));
    } catch (e) {
      problems.push(where(f.path, e as GraphQLError));
      continue;
    }
    for (const d of doc.definitions) {
      const line = d.loc ? `${f.path}:${d.loc.startToken.line}:${d.loc.startToken.column}` : f.path;
      if (d.kind === Kind.OPERATION_DEFINITION) {
        if (!d.name) problems.push(`${line}: an operation needs a name (partners' lists refer to it)`);
        else operations.push({ file: f.path, node: d });
      } else if (d.kind === Kind.FRAGMENT_DEFINITION) {
        const seen = fragments.get(d.name.value);
        if (seen) problems.push(`${line}: fragment ${d.name.value} is already defined in ${seen.file}`);
        else fragments.set(d.name.value, { file: f.path, node: d });
      } else {
        problems.push(`${line}: only operations and fragments belong in an operation file`);
      }
    }
  }

  const out: PersistedOperation[] = [];
  const names = new Map<string, string>();
  for (const { file, node } of operations) {
    const name = node.name!.value;
    const seen = names.get(name);
    if (seen) {
      problems.push(`${file}: operation ${name} is already defined in ${seen}`);
      continue;
    }
    names.set(name, file);
    const used = usedFragments(node, fragments);
    const missing = used.filter((n) => !fragments.has(n));
    if (missing.length) {
      problems.push(`${file}: operation ${name} uses undefined fragment(s) ${missing.join(', ')}`);
      continue;
    }
    const doc: DocumentNode = { kind: Kind.DOCUMENT, definitions: [node, ...used.sort().map((n) => fragments.get(n)!.node)] };
    const errors = validate(schema, doc);
    if (errors.length) {
      problems.push(...errors.map((e) => where(file, e)));
      continue;
    }
    const body = print(doc);
    out.push({ id: operationId(body), name, type: node.operation, body });
  }
  if (problems.length) throw new ManifestBuildError(problems);
  return manifestOf(out);
}

/** Names of the fragments an operation spreads, directly or through other fragments. */
function usedFragments(op: OperationDefinitionNode, fragments: Map<string, { node: FragmentDefinitionNode }>): string[] {
  const found = new Set<string>();
  const collect = (node: OperationDefinitionNode | FragmentDefinitionNode) =>
    visit(node, {
      FragmentSpread(s) {
        if (found.has(s.name.value)) return;
        found.add(s.name.value);
        const f = fragments.get(s.name.value);
        if (f) collect(f.node);
      },
    });
  collect(op);
  return [...found];
}
