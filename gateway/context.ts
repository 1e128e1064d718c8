import type { Caller } from '../subgraphs/kit/auth.js';
import type { Partner } from './persisted/partners.js';

export interface GatewayContext {
  caller: Caller;
  token: string;
  /** Set when the caller authenticated with a partner API key: its mode and operation list apply. */
  partner?: Partner;
}
