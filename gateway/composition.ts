import { readFileSync } from 'node:fs';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { fromRoot } from '../subgraphs/kit/paths.js';

/** Subgraphs and the URLs recorded in the supergraph (the default local layout; each can be overridden at run time). */
export const SUBGRAPHS = [
  { name: 'issuance', url: 'http://127.0.0.1:4001/graphql' },
  { name: 'trading', url: 'http://127.0.0.1:4002/graphql' },
  { name: 'settlement', url: 'http://127.0.0.1:4003/graphql' },
  { name: 'custody', url: 'http://127.0.0.1:4004/graphql' },
] as const;

export type SubgraphKey = (typeof SUBGRAPHS)[number]['name'];

export function composeSupergraph(): string {
  const result = composeServices(
    SUBGRAPHS.map((s) => ({ name: s.name, url: s.url, typeDefs: parse(readFileSync(fromRoot('schema', `${s.name}.graphql`), 'utf8')) })),
  );
  if (result.errors) throw new Error('composition failed:\n' + result.errors.map((e) => e.message).join('\n'));
  return result.supergraphSdl;
}
