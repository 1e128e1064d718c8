import { runDemo } from './demo/connect.js';
import { playDistribution } from './demo/distribution.js';

// npm run demo:distribution [-- --url http://127.0.0.1:4000/graphql] [--data-dir .data]
// A dividend announced, withheld and paid on chain, against a running `npm start` or an ephemeral seeded stack.
await runDemo(playDistribution);
