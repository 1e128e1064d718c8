import type { Role } from '../subgraphs/kit/auth.js';
import { cashMinter } from './cash.js';
import { seedPaidDividend } from './seed-dividend.js';
import type { DemoCredentials } from './demo/scenario.js';
import { DEMO_ORGS, seedDemoMarket, type SeedReport } from './seed.js';
import type { Stack } from './stack.js';

/** Base units of one whole unit of the default cash token (6 decimals). */
export const CASH_UNIT = 1_000_000n;

/** Subgraph settings of the demo market: prices in whole cash units, so cash = price x quantity x 10^6 base units. */
export const DEMO_SUBGRAPH_ENV = { TRADING_TICK_VALUE: String(CASH_UNIT), CUSTODY_BROADCAST_ENABLED: 'true' };

export type TokenMaker = (org: string, roles: Role[]) => Promise<string>;

/** Seeds a running stack (npm start, tests): the dev bank funds custody accounts with the stack's cash token. */
export async function seedStack(stack: Stack, token: TokenMaker, say: (line: string) => void = () => undefined): Promise<SeedReport & { dividend?: { distributionId: string; status: string } }> {
  const bank = stack.cash && stack.chainRpcUrl ? await cashMinter(stack.chainRpcUrl, stack.cash) : undefined;
  try {
    const who = {
      issuer: await token(DEMO_ORGS.issuer, ['ISSUER_AGENT', 'COMPLIANCE_OFFICER']),
      broker: await token(DEMO_ORGS.broker, ['BROKER_DEALER']),
      venue: await token(DEMO_ORGS.venue, ['ATS_OPERATOR']),
    };
    const market = await seedDemoMarket(stack.gateway.url, who, { mintCash: bank?.mint, cashUnit: CASH_UNIT, say });
    if (!bank) return market;
    return { ...market, dividend: await seedPaidDividend(stack.gateway.url, who, market, { mintCash: bank.mint, fuel: bank.fuel, cashUnit: CASH_UNIT, say }) };
  } finally {
    await bank?.close();
  }
}

/** The users the demo plays. */
export async function demoCredentials(token: TokenMaker): Promise<DemoCredentials> {
  return {
    issuer: await token(DEMO_ORGS.issuer, ['ISSUER_AGENT', 'COMPLIANCE_OFFICER']),
    broker: await token(DEMO_ORGS.broker, ['BROKER_DEALER']),
    settlement: await token(DEMO_ORGS.settlement, ['SETTLEMENT_AGENT', 'AUDITOR']),
  };
}
