import { verifyTypedData } from 'ethers';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { askAs, type Ask } from '../graphqlClient.js';
import { DEMO_ORGS } from '../seed.js';

/**
 * The guided demo: what a trading UI, a broker-dealer, a settlement agent and
 * a compliance officer see in one trade, played through the gateway as
 * clients would (HTTP for queries and mutations, graphql-ws for the live
 * fill and settlement status). Each run trades fresh orders, so it can be
 * played again on the same market.
 */
export interface DemoCredentials {
  issuer: string; // ISSUER_AGENT + COMPLIANCE_OFFICER (DEMO_ORGS.issuer)
  broker: string; // BROKER_DEALER (DEMO_ORGS.broker)
  settlement: string; // SETTLEMENT_AGENT + AUDITOR (DEMO_ORGS.settlement)
}

export interface DemoOutcome {
  tradeId: string;
  settlementId: string;
  statuses: string[];
  txHash: string;
  attestationSigner: string;
  refusedOrderCodes: string[];
  refusedTransferCodes: string[];
}

type Level = { price: string; quantity: string };
type Reason = { code: string; message: string; regulation: string | null };
/** A SETTLED settlement (so its transaction is known) with the fields SETTLEMENT_FIELDS asks for. */
interface SettledTrade {
  id: string; status: string; txHash: string; blockNumber: string;
  attestation: { typedData: string; record: string; signature: string; signer: string };
}

const QTY = '100';
const FILL_TIMEOUT_MS = 60_000;
const SETTLE_TIMEOUT_MS = 120_000;

export async function playDemo(httpUrl: string, who: DemoCredentials, say: (line: string) => void = console.log): Promise<DemoOutcome> {
  const run = Date.now().toString(36);
  const [issuer, broker, agent] = [askAs(httpUrl, who.issuer), askAs(httpUrl, who.broker), askAs(httpUrl, who.settlement)];

  say('1. The market, as the broker-dealer sees it');
  const tokens = Object.fromEntries((await issuer<{ securityTokens: { id: string; symbol: string }[] }>('{ securityTokens { id symbol } }')).securityTokens.map((t) => [t.symbol, t.id]));
  const acme = tokens.ACME, bolt = tokens.BOLT;
  if (!acme || !bolt) throw new Error('the demo market is not seeded: run `npm start` (without --no-seed) first');
  const names = Object.fromEntries((await issuer<{ investors: { id: string; legalName: string }[] }>('{ investors { id legalName } }')).investors.map((i) => [i.id, i.legalName]));
  const accounts = (await broker<{ custodyAccounts: { id: string; walletAddress: string; investor: { id: string } }[] }>('{ custodyAccounts { id walletAddress investor { id } } }')).custodyAccounts;
  const account = (name: string) => {
    const a = accounts.find((x) => names[x.investor.id] === name);
    if (!a) throw new Error(`no custody account of ${name} at ${DEMO_ORGS.broker}`);
    return a;
  };
  const seller = account('Avery Capital LLC'), buyer = account('Dana Fischer');
  const book = (await broker<{ orderBook: { bids: Level[]; asks: Level[] } }>(`query($t: ID!) { orderBook(tokenId: $t, depth: 5) { bids { price quantity } asks { price quantity } } }`, { t: acme })).orderBook;
  say(`   ACME (Reg D 506(c)) book: bids ${levels(book.bids)} | asks ${levels(book.asks)}`);
  const price = book.asks.length ? String(BigInt(book.asks[0].price) - 1n) : '104';

  say('2. A trading UI subscribes over graphql-ws to fills of ACME, with fields from three subgraphs');
  const ws = createClient({ url: httpUrl.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${who.broker}` }, retryAttempts: 3 });
  try {
    const fill = next<{ tradeExecuted: { cursor: string; trade: { id: string; price: string; quantity: string; cashAmount: string; token: { symbol: string } } } }>(ws, `subscription($t: ID!) { tradeExecuted(tokenId: $t) { cursor trade { id price quantity cashAmount token { symbol exemption } settlement { status } } } }`, { t: acme }, FILL_TIMEOUT_MS);
    await sleep(300); // the subscription starts at the current end of the stream

    say(`3. Avery Capital sells ${QTY} ACME at ${price}; Dana Fischer (Germany, accredited) buys ${QTY} at ${price}`);
    const place = (a: { id: string }, side: 'BUY' | 'SELL', tif: string) => broker<{ placeOrder: { accepted: boolean; order: { id: string; status: string; filled: string }; rejections: { code: string; message: string }[] } }>(`mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted order { id status filled } rejections { code message } } }`,
      { in: { tokenId: acme, accountId: a.id, side, type: 'LIMIT', timeInForce: tif, price, quantity: QTY, clientOrderId: `demo-${run}-${side}` } });
    const sell = (await place(seller, 'SELL', 'GTC')).placeOrder;
    if (!sell.accepted) throw new Error(`the sell was refused: ${codes(sell.rejections)}`);
    say(`   sell ${sell.order.id}: ${sell.order.status} (tokens reserved at custody)`);
    const buy = (await place(buyer, 'BUY', 'IOC')).placeOrder;
    if (!buy.accepted) throw new Error(`the buy was refused: ${codes(buy.rejections)}`);
    say(`   buy ${buy.order.id}: ${buy.order.status}, filled ${buy.order.filled}`);

    const ev = (await fill).tradeExecuted;
    say(`4. Fill streamed to the UI: trade ${ev.trade.id}, ${ev.trade.quantity} ${ev.trade.token.symbol} @ ${ev.trade.price}, cash ${ev.trade.cashAmount} base units (cursor ${ev.cursor})`);

    say('5. Settlement: verified again with issuance, delivery versus payment on chain, status streamed');
    const statuses: string[] = [];
    const settled = await waitForSettlement(ws, agent, acme, ev.trade.id, (s) => { statuses.push(s); say(`   status ${s}`); });
    say(`   SETTLED in block ${settled.blockNumber}, transaction ${settled.txHash}`);

    say('6. The attestation: EIP-712, signed by the settlement agent, checked with ethers alone and by the API');
    const td = JSON.parse(settled.attestation.typedData);
    const { EIP712Domain: _domain, ...types } = td.types;
    const signer = verifyTypedData(td.domain, types, td.message, settled.attestation.signature);
    const check = (await agent<{ verifyAttestation: { valid: boolean; signer: string; matchesSettlement: boolean } }>(`query($r: String!, $s: String!) { verifyAttestation(record: $r, signature: $s) { valid signer matchesSettlement } }`,
      { r: settled.attestation.record, s: settled.attestation.signature })).verifyAttestation;
    say(`   ethers.verifyTypedData -> ${signer} (agent ${settled.attestation.signer}); verifyAttestation: valid=${check.valid}, matches the settlement=${check.matchesSettlement}`);

    say('7. Books at custody after settlement (total / available / reserved / on chain)');
    for (const [label, a] of [['Avery (seller)', seller], ['Dana (buyer)', buyer]] as const) {
      const b = (await broker<{ custodyAccount: { balances: { asset: string; total: string; available: string; reserved: string; onChain: string | null }[] } }>(`query($id: ID!) { custodyAccount(id: $id) { balances { asset total available reserved onChain } } }`, { id: a.id })).custodyAccount.balances;
      for (const x of b.filter((x) => x.asset === acme || x.asset === 'CASH')) {
        say(`   ${label} ${x.asset === acme ? 'ACME' : 'CASH'}: ${x.total} / ${x.available} / ${x.reserved} / ${x.onChain ?? 'not indexed yet'}`);
      }
    }

    say('8. Refusals carry every reason');
    const harper = account('Harper Quinn');
    const refused = (await broker<{ placeOrder: { accepted: boolean; rejections: Reason[] } }>(`mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted rejections { code message regulation } } }`,
      { in: { tokenId: acme, accountId: harper.id, side: 'BUY', type: 'LIMIT', price, quantity: '10', clientOrderId: `demo-${run}-harper` } })).placeOrder;
    say(`   Harper Quinn (KYC never approved, no cash) buying 10 ACME: ${refused.accepted ? 'accepted' : 'refused'}`);
    for (const r of refused.rejections) say(`     ${r.code}${r.regulation ? ` [${r.regulation}]` : ''}: ${r.message}`);
    const gao = Object.entries(names).find(([, n]) => n === 'Gao Wei')![0];
    const avery = seller.investor.id;
    const elig = (await issuer<{ transferEligibility: { allowed: boolean; results: (Reason & { passed: boolean; blockingUntil: string | null })[] } }>(`query($t: ID!, $f: ID, $to: ID, $a: BigInt!) { transferEligibility(tokenId: $t, from: $f, to: $to, amount: $a) { allowed results { code passed message regulation blockingUntil } } }`,
      { t: bolt, f: avery, to: gao, a: '10' })).transferEligibility;
    const failed = elig.results.filter((r) => !r.passed);
    say(`   Avery -> Gao Wei (China, no accreditation) 10 BOLT under 506(b): allowed=${elig.allowed}; ${elig.results.length} rules checked, ${failed.length} refuse:`);
    for (const r of failed) say(`     ${r.code}${r.regulation ? ` [${r.regulation}]` : ''}: ${r.message}${r.blockingUntil ? ` (until ${r.blockingUntil})` : ''}`);

    say('Done: one trade, filled, streamed, settled on chain, attested, booked; two refusals with their reasons.');
    return {
      tradeId: ev.trade.id, settlementId: settled.id, statuses, txHash: settled.txHash, attestationSigner: signer,
      refusedOrderCodes: refused.rejections.map((r) => r.code), refusedTransferCodes: failed.map((r) => r.code),
    };
  } finally {
    await ws.dispose();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const levels = (ls: Level[]) => (ls.length ? ls.map((l) => `${l.quantity}@${l.price}`).join(' ') : '(none)');
const codes = (rs: { code: string }[]) => rs.map((r) => r.code).join(', ');

/** The first event of a subscription, or an error after the deadline. */
function next<T>(ws: Client, query: string, variables: Record<string, unknown>, timeoutMs: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { stop(); reject(new Error(`no event within ${timeoutMs} ms: ${query.slice(0, 60)}`)); }, timeoutMs);
    const stop = ws.subscribe<T>({ query, variables }, {
      next: (r) => {
        if (r.errors?.length) { clearTimeout(timer); stop(); reject(new Error(JSON.stringify(r.errors))); return; }
        clearTimeout(timer); stop(); resolve(r.data as T);
      },
      error: (e) => { clearTimeout(timer); reject(e instanceof Error ? e : new Error(JSON.stringify(e))); },
      complete: () => undefined,
    });
  });
}

const SETTLEMENT_FIELDS = 'id status txHash blockNumber attestation { typedData record signature signer }';

/** Follows the trade's settlement over graphql-ws (resumable from the settlement's start) until SETTLED or final. */
async function waitForSettlement(ws: Client, agent: Ask, tokenId: string, tradeId: string, onStatus: (s: string) => void) {
  const end = Date.now() + SETTLE_TIMEOUT_MS;
  let settlementId: string | undefined;
  while (!settlementId) {
    // A fill of the venue is settled under its trade id as the venue reference.
    const all = (await agent<{ settlements: { id: string; venueReference: string }[] }>(`query($t: ID!) { settlements(tokenId: $t) { id venueReference } }`, { t: tokenId })).settlements;
    settlementId = all.find((s) => s.venueReference === tradeId)?.id;
    if (Date.now() > end) throw new Error(`trade ${tradeId} has no settlement yet`);
    if (!settlementId) await sleep(200);
  }
  const history = (await agent<{ settlement: { history: { status: string }[] } }>(`query($id: ID!) { settlement(id: $id) { history { status } } }`, { id: settlementId })).settlement.history;
  for (const h of history) onStatus(h.status);
  let last = history.at(-1)?.status;
  if (last !== 'SETTLED') {
    last = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { stop(); reject(new Error(`settlement ${settlementId} not SETTLED within ${SETTLE_TIMEOUT_MS} ms`)); }, Math.max(1, end - Date.now()));
      const seen = new Set(history.map((h) => h.status));
      const stop = ws.subscribe<{ settlementStatusChanged: { status: string; reason: string | null; final: boolean } }>({ query: `subscription($s: ID!) { settlementStatusChanged(settlementId: $s, after: "0") { status reason final } }`, variables: { s: settlementId } }, {
        next: (r) => {
          const e = r.data?.settlementStatusChanged;
          if (!e) return;
          if (!seen.has(e.status)) { seen.add(e.status); onStatus(e.status + (e.reason ? ` (${e.reason})` : '')); }
          if (e.status === 'SETTLED' || e.final) { clearTimeout(timer); stop(); resolve(e.status); }
        },
        error: (e) => { clearTimeout(timer); reject(e instanceof Error ? e : new Error(JSON.stringify(e))); },
        complete: () => undefined,
      });
    });
  }
  if (last !== 'SETTLED') throw new Error(`settlement ${settlementId} ended ${last}`);
  return (await agent<{ settlement: SettledTrade }>(`query($id: ID!) { settlement(id: $id) { ${SETTLEMENT_FIELDS} } }`, { id: settlementId })).settlement;
}
