import { runStandalone } from '../kit/standalone.js';
import { issuance } from './index.js';

await runStandalone(issuance);
