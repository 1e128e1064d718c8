import { gqlOk } from '../graphqlClient.js';
import { DEMO_ORGS } from '../seed.js';
import { TREASURY } from '../seed-dividend.js';
import type { DemoToken } from './connect.js';

/**
 * A distribution, step by step, on the seeded market: the issuer announces a dividend on ACME to the
 * holders of record now, shows each entitlement with its withholding and the rule it comes from, and
 * follows custody paying it from the treasury's account, to PAID with each transaction.
 */
export interface DistributionOutcome { distributionId: string; status: string; gross: string; withheld: string; net: string; paid: number; txHashes: string[] }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function playDistribution(url: string, token: DemoToken, say: (line: string) => void, timeoutMs = 120_000): Promise<DistributionOutcome> {
  const issuer = await token(DEMO_ORGS.issuer, ['ISSUER_AGENT', 'COMPLIANCE_OFFICER', 'AUDITOR']);
  const broker = await token(DEMO_ORGS.broker, ['BROKER_DEALER']);
  const acme = (await gqlOk(url, issuer, '{ securityTokens { id symbol } }')).securityTokens.find((t: { symbol: string }) => t.symbol === 'ACME');
  if (!acme) throw new Error('no ACME token: seed the market first (npm start)');
  // The treasury's custody account, matched by its wallet (the issuer sees its investor's wallets, the custodian its accounts).
  const treasury = (await gqlOk(url, issuer, '{ investors { legalName wallets { address } } }')).investors.find((i: { legalName: string }) => i.legalName === TREASURY);
  const wallets = new Set((treasury?.wallets ?? []).map((x: { address: string }) => x.address));
  const account = (await gqlOk(url, broker, '{ custodyAccounts { id walletAddress } }')).custodyAccounts.find((a: { walletAddress: string }) => wallets.has(a.walletAddress));
  if (!account) throw new Error('no treasury custody account: seed the market first (npm start)');

  const at = new Date().toISOString();
  say(`1. The cap table of ACME as of now (the record date):`);
  const table = (await gqlOk(url, issuer, `query($t: ID!, $at: DateTime!) { securityToken(id: $t) { capTable(asOf: $at) { holders { investor { legalName jurisdiction } balance } } } }`, { t: acme.id, at })).securityToken.capTable;
  for (const h of table.holders) say(`   ${h.investor.legalName.padEnd(26)} ${h.investor.jurisdiction}  ${h.balance}`);

  say(`\n2. announceDistribution: a dividend of 2.50 cash units per share, paid now from the issuer's treasury, its own holding excluded`);
  const d = (await gqlOk(url, issuer, `mutation($in: AnnounceDistributionInput!) { announceDistribution(input: $in) { id status gross withheld net
      entitlements { investor { legalName } units gross withheld net rateBps withholdingBasis } } }`, {
    in: { idempotencyKey: `demo-dividend-${Date.now()}`, tokenId: acme.id, kind: 'DIVIDEND', recordDate: at, paymentDate: at, amountPerUnit: '2500000', asset: 'CASH', payingAccountId: account.id, excludeIssuer: true },
  })).announceDistribution;
  for (const e of d.entitlements) {
    say(`   ${(e.investor?.legalName ?? '?').padEnd(26)} ${e.units} units: gross ${e.gross}, withheld ${e.withheld} (${e.rateBps / 100}%), net ${e.net}`);
    say(`     basis: ${e.withholdingBasis}`);
  }

  say(`\n3. Custody pays each net amount on the payment date (from the treasury's custody wallet, payments due together go in one batchTransfer transaction, up to CUSTODY_PAYMENT_BATCH_MAX payees):`);
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = (await gqlOk(url, issuer, `query($id: ID!) { distribution(id: $id) { status gross withheld net counts { pending paid failed held }
        entitlements { investor { legalName } status txHash reason } withholdingReport { jurisdiction rateBps holders withheld } } }`, { id: d.id })).distribution;
    if (s.status === 'COMPLETED') {
      for (const e of s.entitlements) say(`   ${(e.investor?.legalName ?? '?').padEnd(26)} ${e.status} ${e.txHash ?? e.reason ?? ''}`);
      say(`\n4. The issuer's withholding report (for Forms 1042-S / 1099):`);
      for (const l of s.withholdingReport) say(`   ${l.jurisdiction} at ${l.rateBps / 100}%: ${l.holders} holder(s), withheld ${l.withheld}`);
      say(`   total: gross ${s.gross}, withheld ${s.withheld}, net paid ${s.net} (cash base units)`);
      return { distributionId: d.id, status: s.status, gross: s.gross, withheld: s.withheld, net: s.net, paid: s.counts.paid, txHashes: s.entitlements.map((e: { txHash: string | null }) => e.txHash).filter(Boolean) };
    }
    if (Date.now() > end) throw new Error(`the dividend is not paid yet: ${JSON.stringify(s.counts)}`);
    await sleep(300);
  }
}
