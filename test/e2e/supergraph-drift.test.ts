import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { composeSupergraph } from '../../gateway/composition.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';

describe('the checked-in supergraph', () => {
  test('equals a fresh composition of schema/<subgraph>.graphql (run `npm run compose` after changing a subgraph schema)', () => {
    expect(readFileSync(fromRoot('schema', 'supergraph.graphql'), 'utf8')).toBe(composeSupergraph());
  });
});
