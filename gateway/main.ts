import { ConfigError, loadConfig } from '../subgraphs/kit/config.js';
import { startGateway } from './server.js';
import { gatewaySettings } from './settings.js';

try {
  const gw = await startGateway(loadConfig(gatewaySettings));
  console.log(`gateway at ${gw.url}`);
  const stop = () => { gw.stop().then(() => process.exit(0), () => process.exit(1)); };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (e) {
  console.error(e instanceof ConfigError ? e.message : `gateway failed to start: ${(e as Error).message}`);
  process.exit(1);
}
