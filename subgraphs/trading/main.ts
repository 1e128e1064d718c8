import { runStandalone } from '../kit/standalone.js';
import { trading } from './index.js';

await runStandalone(trading);
