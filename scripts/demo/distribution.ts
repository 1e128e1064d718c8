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

/** The fields of announceDistribution's answer the demo prints. */
interface Announced {
  id: string; status: string; gross: string; withheld: string; net: string;
  entitlements: { investor: { legalName: string } | null; units: string; gross: string; withheld: string; net: string; rateBps: number; withholdingBasis: string }[];
}

/** A distribution as the demo polls it until it is paid. */
interface DistributionState {
  status: string; gross: string; withheld: string; net: string;
  counts: { pending: number; paid: number; failed: number; held: number };
  entitlements: { investor: { legalName: string } | null; status: string; txHash: string | null; reason: string | null }[];
  withholdingReport: { jurisdiction: string; rateBps: number; holders: number; withheld: string }[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function playDistribution(url: string, token: DemoToken, say: (line: string) => void, timeoutMs = 120_000): Promise<DistributionOutcome> {
  const issuer = await token(DEMO_ORGS.issuer, ['ISSUER_AGENT', 'COMPLIANCE_OFFICER', 'AUDITOR']);
  const broker = await token(DEMO_ORGS.broker, ['BROKER_DEALER']);
  const acme = (await gqlOk<{ securityTokens: { id: string; symbol: string }[] }>(url, issuer, '{ securityTokens { id symbol } }')).securityTokens.find((t) => t.symbol === 'ACME');
  if (!acme) throw new Error('no ACME token: seed the market first (npm start)');
  // The treasury's custody account, matched by its wallet (the issuer sees its investor's wallets, the custodian its accounts).
  const treasury = (await gqlOk<{ investors: { legalName: string; wallets: { address: string }[] }[] }>(url, issuer, '{ investors { legalName wallets { address } } }')).investors.find((i) => i.legalName === TREASURY);
  const wallets = new Set((treasury?.wallets ?? []).map((x) => x.address));
  const account = (await gqlOk<{ custodyAccounts: { id: string; walletAddress: string }[] }>(url, broker, '{ custodyAccounts { id walletAddress } }')).custodyAccounts.find((a) => wallets.has(a.walletAddress));
  if (!account) throw new Error('no treasury custody account: seed the market first (npm start)');

  const at = new Date().toISOString();
  say(`1. The cap table of ACME as of now (the record date):`);
  const table = (await gqlOk<{ securityToken: { capTable: { holders: { investor: { legalName: string; jurisdiction: string }; balance: string }[] } } }>(url, issuer, `query($t: ID!, $at: DateTime!) { securityToken(id: $t) { capTable(asOf: $at) { holders { investor { legalName jurisdiction } balance } } } }`, { t: acme.id, at })).securityToken.capTable;
  for (const h of table.holders) say(`   ${h.investor.legalName.padEnd(26)} ${h.investor.jurisdiction}  ${h.balance}`);

  say(`\n2. announceDistribution: a dividend of 2.50 cash units per share, paid now from the issuer's treasury, its own holding excluded`);
  const d = (await gqlOk<{ announceDistribution: Announced }>(url, issuer, `mutation($in: AnnounceDistributionInput!) { announceDistribution(input: $in) { id status gross withheld net
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
    const s = (await gqlOk<{ distribution: DistributionState }>(url, issuer, `query($id: ID!) { distribution(id: $id) { status gross withheld net counts { pending paid failed held }
        entitlements { investor { legalName } status txHash reason } withholdingReport { jurisdiction rateBps holders withheld } } }`, { id: d.id })).distribution;
    if (s.status === 'COMPLETED') {
      for (const e of s.entitlements) say(`   ${(e.investor?.legalName ?? '?').padEnd(26)} ${e.status} ${e.txHash ?? e.reason ?? ''}`);
      say(`\n4. The issuer's withholding report (for Forms 1042-S / 1099):`);
      for (const l of s.withholdingReport) say(`   ${l.jurisdiction} at ${l.rateBps / 100}%: ${l.holders} holder(s), withheld ${l.withheld}`);
      say(`   total: gross ${s.gross}, withheld ${s.withheld}, net paid ${s.net} (cash base units)`);
      return { distributionId: d.id, status: s.status, gross: s.gross, withheld: s.withheld, net: s.net, paid: s.counts.paid, txHashes: s.entitlements.map((e) => e.txHash).filter((h): h is string => Boolean(h)) };
    }
    if (Date.now() > end) throw new Error(`the dividend is not paid yet: ${JSON.stringify(s.counts)}`);
    await sleep(300);
  }
}
