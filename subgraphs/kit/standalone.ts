import type { BaseContext } from '@apollo/server';
import type { SettingsSpec } from './config.js';
import { ConfigError } from './config.js';
import { startSubgraph, subgraphConfig, type SubgraphDefinition } from './subgraph.js';

/** Entry of a subgraph as its own process: config only from the environment, clean stop on SIGINT/SIGTERM. */
export async function runStandalone<C extends BaseContext, S extends SettingsSpec>(def: SubgraphDefinition<C, S>): Promise<void> {
  try {
    const running = await startSubgraph(def, subgraphConfig(def, process.env));
    console.log(`${def.name} subgraph at ${running.url}`);
    const stop = () => { running.stop().then(() => process.exit(0), () => process.exit(1)); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  } catch (e) {
    console.error(e instanceof ConfigError ? e.message : `${def.name} failed to start: ${(e as Error).message}`);
    process.exit(1);
  }
}
