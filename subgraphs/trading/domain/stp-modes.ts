import type { StpMode } from './index.js';

/** The self-trade prevention modes a rulebook offers (settings.ts and rules.ts both read them; neither imports the other). */
export const STP_MODES: readonly StpMode[] = ['CANCEL_NEWEST', 'CANCEL_OLDEST', 'DECREMENT', 'NONE'];
