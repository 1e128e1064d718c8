import type { SubgraphDefinition } from '../kit/subgraph.js';
import { createLoaders } from './loaders.js';
import { resolvers, type IssuanceContext } from './resolvers.js';

export const issuance: SubgraphDefinition<IssuanceContext> = {
  name: 'issuance',
  defaultPort: 4001,
  resolvers,
  context: (base) => ({ ...base, loaders: createLoaders(base.db) }),
};
