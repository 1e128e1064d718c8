import { demoCredentials } from './demoMarket.js';
import { runDemo } from './demo/connect.js';
import { playDemo } from './demo/scenario.js';

// npm run demo [-- --url http://127.0.0.1:4000/graphql] [--data-dir .data]
// Plays the guided scenario against a running `npm start`; with none running, starts an ephemeral seeded stack first.
await runDemo(async (url, token, say) => playDemo(url, await demoCredentials(token), say));
