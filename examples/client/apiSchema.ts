import { readFileSync } from 'node:fs';
import { Supergraph } from '@apollo/federation-internals';
import { printSchema } from 'graphql';
import { fromRoot } from '../../subgraphs/kit/paths.js';

/**
 * The schema clients see: the supergraph without its join__/link__ machinery,
 * exactly as the gateway derives it (Apollo's own API-schema step).
 */
export function apiSchemaSdl(supergraphFile = fromRoot('schema', 'supergraph.graphql')): string {
  return printSchema(Supergraph.build(readFileSync(supergraphFile, 'utf8')).apiSchema().toGraphQLJSSchema());
}
