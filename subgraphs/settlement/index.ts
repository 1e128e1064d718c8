import type { SubgraphDefinition } from '../kit/subgraph.js';
import { createLoaders } from './loaders.js';
import { resolvers, type SettlementContext } from './resolvers.js';

export const settlement: SubgraphDefinition<SettlementContext> = {
  name: 'settlement',
  defaultPort: 4003,
  resolvers,
  context: (base) => ({ ...base, loaders: createLoaders(base.db) }),
};
