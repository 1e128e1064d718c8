import type { Caller } from '../subgraphs/kit/auth.js';

export interface GatewayContext {
  caller: Caller;
  token: string;
}
