import type { SubgraphDefinition } from '../kit/subgraph.js';
import { createLoaders } from './loaders.js';
import { resolvers, type TradingContext } from './resolvers.js';

export const trading: SubgraphDefinition<TradingContext> = {
  name: 'trading',
  defaultPort: 4002,
  resolvers,
  context: (base) => ({ ...base, loaders: createLoaders(base.db) }),
};
