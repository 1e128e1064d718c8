import { hexKey } from '../kit/config.js';
import type { SubgraphDefinition } from '../kit/subgraph.js';
import { createLoaders } from './loaders.js';
import { resolvers, type CustodyContext } from './resolvers.js';

export const custody: SubgraphDefinition<CustodyContext> = {
  name: 'custody',
  defaultPort: 4004,
  settings: {
    CUSTODY_KEK: hexKey('key-encryption key for wallet keys at rest, 32 bytes as 0x-hex (keep it in a secrets manager)'),
  },
  resolvers,
  context: (base, rt) => ({ ...base, loaders: createLoaders(base.db), kek: rt.config.CUSTODY_KEK as string }),
};
