import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { composeSupergraph } from '../gateway/composition.js';
import { fromRoot } from '../subgraphs/kit/paths.js';

// npm run compose: schema/<subgraph>.graphql -> schema/supergraph.graphql (checked in; a test fails on drift).
if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const sdl = composeSupergraph();
  writeFileSync(fromRoot('schema', 'supergraph.graphql'), sdl);
  console.log(`wrote schema/supergraph.graphql (${sdl.length} bytes)`);
}
