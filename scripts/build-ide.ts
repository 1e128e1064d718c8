import { build } from 'esbuild';
import { pathToFileURL } from 'node:url';
import { IDE_BUNDLE_DIR } from '../gateway/ide/routes.js';
import { fromRoot } from '../subgraphs/kit/paths.js';

/**
 * Bundles the GraphQL IDE (GraphiQL, React, graphql-ws and gateway/ide/app.ts)
 * into dist/ide/ide.js and ide.css, which the gateway serves at /ide: the page
 * loads nothing from the internet. `npm run build` runs it after tsc.
 */
export async function buildIde(outdir = IDE_BUNDLE_DIR): Promise<void> {
  // One build, two outputs: ide.js from the app, ide.css from the stylesheet entry.
  await build({
    entryPoints: [
      { in: fromRoot('gateway', 'ide', 'app.ts'), out: 'ide' },
      { in: fromRoot('gateway', 'ide', 'ide.css'), out: 'ide' },
    ],
    outdir,
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'warning',
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const started = Date.now();
  await buildIde();
  console.log(`IDE bundle written to ${IDE_BUNDLE_DIR} in ${Date.now() - started} ms`);
}
