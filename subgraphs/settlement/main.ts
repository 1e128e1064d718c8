import { runStandalone } from '../kit/standalone.js';
import { settlement } from './index.js';

await runStandalone(settlement);
