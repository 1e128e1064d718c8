import { runStandalone } from '../kit/standalone.js';
import { custody } from './index.js';

await runStandalone(custody);
