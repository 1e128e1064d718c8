/**
 * Tenant isolation, as a matrix: every Query and Mutation field of the
 * checked-in supergraph (read at test time, so a new field fails this test
 * until it is listed below) is run through the gateway by organisations that
 * own none of the data, with arguments that point at another organisation's
 * token, investors, accounts, orders, fill, settlements, withdrawal and policy
 * change. Each answer must be a typed refusal or data that carries none of
 * the owners' private values, and no mutation may change what the owners see.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { Wallet } from 'ethers';
import {
  buildASTSchema, getNamedType, isCompositeType, isLeafType, isNonNullType, isObjectType, parse,
  type GraphQLField, type GraphQLNamedType, type GraphQLObjectType, type GraphQLSchema,
} from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { signUserToken, type Role } from '../../subgraphs/kit/auth.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { dbLabel } from '../support/db.js';
import { SettlementWorld, gql, gqlOk, waitFor, type Party } from '../settlement/support.js';

const supergraph: GraphQLSchema = buildASTSchema(parse(readFileSync(fromRoot('schema', 'supergraph.graphql'), 'utf8')), { assumeValidSDL: true });

/** Refusals that say "not yours" or "no such thing" without saying more. */
const ACCEPTED_CODES = [
  'FORBIDDEN', 'NOT_FOUND',
  'CUSTODY.UNKNOWN_ACCOUNT', 'CUSTODY.UNKNOWN_INVESTOR', 'CUSTODY.UNKNOWN_WITHDRAWAL', 'CUSTODY.UNKNOWN_POLICY_CHANGE', 'CUSTODY.UNKNOWN_DESTINATION',
  'ISSUANCE.TOKEN_NOT_FOUND', 'ISSUANCE.INVESTOR_NOT_FOUND',
  'SETTLEMENT.UNKNOWN_ACCOUNT', 'TRADING.ORDER_NOT_FOUND',
  // A venue reference or idempotency key another organisation used: says only that the key is taken.
  'INPUT.IDEMPOTENCY_KEY_REUSED',
];

/**
 * Fields that answer with the owner's data to anyone by design; they run like
 * the others and still must not carry a private value.
 */
const PUBLIC: Record<string, string> = {
  securityTokens: 'token facts (name, symbol, exemption, status, contracts) are public; cap table and holders are not',
  securityToken: 'as securityTokens',
  venueRules: "the venue's published rulebook",
  orderBook: 'resting orders aggregated by price level, without order, account or investor',
  trades: 'the public tape: price, quantity, order ids; accounts and fees only to each side',
  marketStatus: 'whether a token trades, halted or paused, and why',
  proofOfHoldings: "a Merkle commitment (root, total, leaf count) over all holders; proofs only of the caller's own accounts",
  settlementAgent: "the settlement agent's signing address, chain and DvP contract, needed to verify attestations",
  verifyAuditLog: "whether the settlement audit log's hash chain is intact; names no party",
  verifyAttestation: 'checks a record and signature the caller already holds',
  splits: "a split's terms (ratio, dates, status) are announced to the market; its holders' rows are not",
  organisationWithdrawalPolicy: "always the caller's own organisation's policy (no argument names another)",
};

/**
 * Mutations that act on shared, venue-wide state or on another
 * organisation's record by design; they must still leak nothing, but may
 * change what the owners see.
 */
const CROSS_ORG_BY_DESIGN: Record<string, string> = {
  openCustodyAccount: "a custodian opens accounts for investors other organisations onboarded; issuance then adds the account's wallet to that investor",
};

/** What the owners hold, filled in by the set-up. */
/** What firstEvent's subscriptions answer (ORDER_EVENTS, TRADE_EVENTS). */
interface FirstEvent { orderUpdated?: { status: string }; tradeExecuted?: { trade: { buyAccountId: string | null } } }

interface World {
  tokenId: string; seller: Party; buyer: Party; restingOrderId: string; restingClientOrderId: string; filledOrderId: string; tradeId: string;
  settlementId: string; external: Record<string, unknown>; externalId: string; withdrawalId: string; withdrawalKey: string;
  destinationId: string; destinationAddress: string; pendingChangeId: string; pendingChangeKey: string;
  attestation: { record: string; signature: string };
  voteId: string;
  distributionId: string;
  entitlementId: string;
  redemptionId: string;
}

const reason = 'tenant isolation check';
const newAddress = () => Wallet.createRandom().address;
const policy = { approvalsRequired: 1, destinationDelaySeconds: 0, velocityWindowSeconds: 3600, maxPerWithdrawal: '5', maxPerWindow: '5' };

/** Arguments of every field (one run each), pointing at the owners' data. */
const ARGS: Record<string, (w: World) => Record<string, unknown>[]> = {
  custodyAccounts: () => [{}],
  custodyAccount: (w) => [{ id: w.seller.accountId }],
  withdrawal: (w) => [{ id: w.withdrawalId }],
  withdrawals: () => [{}],
  walletSweeps: () => [{}],
  policyChanges: () => [{}],
  organisationWithdrawalPolicy: () => [{}],
  proofOfHoldings: (w) => [{ tokenId: w.tokenId }, { tokenId: 'CASH' }],
  deposits: (w) => [{}, { accountId: w.seller.accountId }],
  reconciliation: () => [{}],
  securityTokens: () => [{}],
  securityToken: (w) => [{ id: w.tokenId }],
  investors: () => [{}],
  investor: (w) => [{ id: w.seller.investorId }],
  transferEligibility: (w) => [{ tokenId: w.tokenId, from: w.seller.investorId, to: w.buyer.investorId, amount: '1' }],
  settlements: (w) => [{}, { tokenId: w.tokenId }],
  settlement: (w) => [{ id: w.settlementId }, { id: w.externalId }],
  auditTrail: (w) => [{ settlementId: w.settlementId }],
  verifyAuditLog: () => [{}],
  verifyAttestation: (w) => [w.attestation],
  settlementAgent: () => [{}],
  venueRules: () => [{}],
  orderBook: (w) => [{ tokenId: w.tokenId }],
  orders: (w) => [{}, { filter: { tokenId: w.tokenId } }],
  order: (w) => [{ id: w.restingOrderId }, { id: w.filledOrderId }],
  trades: (w) => [{ tokenId: w.tokenId }],
  marketStatus: (w) => [{ tokenId: w.tokenId }],
  orderAuditTrail: (w) => [{ orderId: w.restingOrderId }],
  surveillanceAlerts: (w) => [{}, { tokenId: w.tokenId }],
  subscribers: () => [{}],
  votes: (w) => [{}, { tokenId: w.tokenId }],
  vote: (w) => [{ id: w.voteId }],
  splits: (w) => [{ tokenId: w.tokenId }],
  distributions: (w) => [{}, { tokenId: w.tokenId }],
  distribution: (w) => [{ id: w.distributionId }],
  entitlements: (w) => [{}, { distributionId: w.distributionId }, { investorId: w.seller.investorId }],
  redemptions: (w) => [{ tokenId: w.tokenId }],

  openCustodyAccount: (w) => [{ input: { idempotencyKey: `acc-${w.seller.investorId}`, investorId: w.seller.investorId, kind: 'SEGREGATED' } }],
  requestWithdrawal: (w) => [{ input: { idempotencyKey: w.withdrawalKey, accountId: w.seller.accountId, asset: 'CASH', amount: '1', toAddress: w.destinationAddress } }],
  approveWithdrawal: (w) => [{ id: w.withdrawalId }],
  rejectWithdrawal: (w) => [{ id: w.withdrawalId, reason }],
  addWithdrawalDestination: (w) => [{ input: { accountId: w.seller.accountId, address: newAddress(), label: 'elsewhere' } }],
  removeWithdrawalDestination: (w) => [{ id: w.destinationId }],
  proposePolicyChange: (w) => [{ input: { idempotencyKey: w.pendingChangeKey, accountId: w.seller.accountId, policy: { ...policy, maxPerWithdrawal: '1' } } }],
  approvePolicyChange: (w) => [{ id: w.pendingChangeId }],
  rejectPolicyChange: (w) => [{ id: w.pendingChangeId, reason }],
  recoverCustodyWallet: (w) => [{ input: { idempotencyKey: 'intruder-recovery', accountId: w.seller.accountId, reason } }],
  requestWalletSweep: (w) => [{ input: { idempotencyKey: 'intruder-sweep', accountId: w.seller.accountId } }],
  // No sweep exists in this software-signer stack: an id in the right format must say no more than NOT_FOUND.
  approveWalletSweep: () => [{ id: 'swp_00000000000000000000000000' }],
  rejectWalletSweep: () => [{ id: 'swp_00000000000000000000000000', reason }],
  createSecurityToken: () => [{ input: { idempotencyKey: 'OWNR', name: 'OWNR shares', symbol: 'OWNR', decimals: 0, exemption: 'REG_D_506B' } }],
  deploySecurityToken: (w) => [{ tokenId: w.tokenId }],
  setTransferRules: (w) => [{ tokenId: w.tokenId, rules: { maxHolders: 1 }, reason }],
  issueTokens: (w) => [{ input: { idempotencyKey: 'intruder-issue', tokenId: w.tokenId, investorId: w.seller.investorId, amount: '1' } }],
  pauseToken: (w) => [{ tokenId: w.tokenId, reason }],
  unpauseToken: (w) => [{ tokenId: w.tokenId, reason }],
  freezeInvestor: (w) => [{ tokenId: w.tokenId, investorId: w.seller.investorId, frozen: true, reason }],
  freezePartialTokens: (w) => [{ tokenId: w.tokenId, investorId: w.seller.investorId, amount: '1', reason }],
  setLiquidateOnly: (w) => [{ tokenId: w.tokenId, investorId: w.seller.investorId, liquidateOnly: true, reason }],
  forcedTransfer: (w) => [{ tokenId: w.tokenId, fromInvestorId: w.seller.investorId, toInvestorId: w.buyer.investorId, amount: '1', reason }],
  recoverInvestorWallet: (w) => [{ investorId: w.seller.investorId, lostWallet: w.seller.wallet, newWallet: newAddress(), reason }],
  attachDocument: (w) => [{ tokenId: w.tokenId, name: 'offering memorandum', uri: 'https://example.org/om.pdf', hash: '0x' + 'ab'.repeat(32) }],
  registerInvestor: () => [{ input: { idempotencyKey: 'Owner-Seller', legalName: 'Owner Seller', type: 'INDIVIDUAL', jurisdiction: 'US', usPerson: true } }],
  recordKyc: (w) => [{ investorId: w.seller.investorId, status: 'REJECTED', reason }],
  recordAmlScreening: (w) => [{ investorId: w.seller.investorId, status: 'CONFIRMED_MATCH', screenedAt: new Date().toISOString(), reason }],
  recordAffiliation: (w) => [{ investorId: w.seller.investorId, since: new Date().toISOString(), reason }],
  recordAccreditation: (w) => [{ investorId: w.seller.investorId, accredited: false, method: 'SELF_CERTIFIED', verifiedAt: new Date().toISOString(), reason }],
  addInvestorWallet: (w) => [{ investorId: w.seller.investorId, address: newAddress(), reason }],
  // The owner's own key first (taken: says only that), then a new one.
  announceDistribution: (w) => [{ input: distributionInput(w, 'owner-dist-1') }, { input: distributionInput(w, 'intruder-dist-1') }],
  // The owner's entitlement: to another organisation it does not exist (or the role is refused).
  releaseEntitlement: (w) => [{ input: { idempotencyKey: 'intruder-release-1', entitlementId: w.entitlementId, reason } }],
  retryEntitlement: (w) => [{ input: { idempotencyKey: 'intruder-retry-1', entitlementId: w.entitlementId, reason } }],
  // The owner's own key first (taken: says only that), then a new one.
  announceRedemption: (w) => [{ input: redemptionInput(w, 'owner-red-1') }, { input: redemptionInput(w, 'intruder-red-1') }],
  // The owners' redemption: to another organisation it does not exist (or the role is refused).
  releaseRedemptionHolder: (w) => [{ input: { idempotencyKey: 'intruder-red-release-1', redemptionId: w.redemptionId, investorId: w.seller.investorId, reason } }],
  recordTaxForm: (w) => [{ input: { investorId: w.seller.investorId, form: 'W8BEN', treatyCountry: 'GB', signedAt: new Date(Date.now() - 60_000).toISOString(), reason } }],
  // The owner's own report replayed word for word, then a new report between the owner's accounts on the venue the owner uses.
  submitExternalTrade: (w) => [{ input: w.external }, { input: { ...w.external, venueReference: 'intruder-ref-1' } }],
  cancelSettlement: (w) => [{ id: w.externalId, reason }],
  retrySettlementBooking: (w) => [{ id: w.externalId }],
  authorizeVenueToken: (w) => [{ venue: String(w.external.venue), tokenId: w.tokenId, authorized: false }],
  placeOrder: (w) => [{ input: { tokenId: w.tokenId, accountId: w.seller.accountId, side: 'SELL', price: '105', quantity: '1', clientOrderId: w.restingClientOrderId } }],
  cancelOrder: (w) => [{ orderId: w.restingOrderId }],
  replaceOrder: (w) => [{ orderId: w.restingOrderId, price: '104' }],
  haltTrading: (w) => [{ tokenId: w.tokenId, reason }],
  resumeTrading: (w) => [{ tokenId: w.tokenId, reason }],
  admitSubscriber: () => [{ org: 'intruder-co', reason }],
  suspendSubscriber: (w) => [{ org: w.seller.org, reason }],
  // The owner's own key replayed, then a new vote; a ballot for the owners' holder of record.
  openVote: (w) => [
    { input: { idempotencyKey: 'owner-vote-1', tokenId: w.tokenId, recordDate: new Date().toISOString(), closesAt: new Date(Date.now() + 86_400_000).toISOString(), question: 'Approve?', options: ['FOR', 'AGAINST'] } },
    { input: { idempotencyKey: 'intruder-vote', tokenId: w.tokenId, recordDate: new Date().toISOString(), closesAt: new Date(Date.now() + 86_400_000).toISOString(), question: 'Approve?', options: ['FOR', 'AGAINST'] } },
  ],
  announceSplit: (w) => [
    { input: { idempotencyKey: 'intruder-split', tokenId: w.tokenId, numerator: '2', denominator: '1', effectiveDate: new Date().toISOString(), cashInLieuPrice: '0' } },
    // Cash in lieu paid from the owner's paying account: the intruder reaches neither the token nor the account.
    { input: { idempotencyKey: 'intruder-split-cash', tokenId: w.tokenId, numerator: '1', denominator: '10', effectiveDate: new Date().toISOString(), cashInLieuPrice: '5', payingAccountId: w.seller.accountId } },
  ],
  castBallot: (w) => [{ input: { idempotencyKey: 'intruder-ballot', voteId: w.voteId, investorId: w.seller.investorId, choices: [{ option: 'AGAINST', units: '1' }] } }],
};

/** A dividend on the owners' token, paid from the seller's account, far from its payment date. */
const distributionInput = (w: World, idempotencyKey: string) => ({
  idempotencyKey, tokenId: w.tokenId, kind: 'DIVIDEND', recordDate: new Date(Date.now() - 1000).toISOString(),
  paymentDate: new Date(Date.now() + 365 * 86_400_000).toISOString(), totalAmount: '100', asset: 'CASH', payingAccountId: w.seller.accountId,
});

/** A redemption of the owners' token a year away, paid from the seller's account. */
const redemptionInput = (w: World, idempotencyKey: string) => ({
  idempotencyKey, tokenId: w.tokenId, redemptionDate: new Date(Date.now() + 365 * 86_400_000).toISOString(), pricePerUnit: '1000', asset: 'CASH',
  payingAccountId: w.seller.accountId, finalCoupon: { amountPerUnit: '10' },
});

/** Every field of an object type whose arguments are all optional, leaves at the bottom, `depth` object levels deep. */
function selectionOf(type: GraphQLNamedType, depth: number, skip: (f: GraphQLField<unknown, unknown>) => boolean = () => false): string {
  if (isLeafType(type)) return '';
  if (!isObjectType(type)) return '{ __typename }';
  const parts: string[] = ['__typename'];
  for (const f of Object.values(type.getFields())) {
    if (skip(f) || f.args.some((a) => isNonNullType(a.type) && a.defaultValue === undefined)) continue;
    const t = getNamedType(f.type);
    if (isLeafType(t)) parts.push(f.name);
    else if (isCompositeType(t) && depth > 1) parts.push(`${f.name} ${selectionOf(t, depth - 1, skip)}`);
  }
  return `{ ${parts.join(' ')} }`;
}

/** One operation calling `field` with its arguments as variables. */
function operationOf(kind: 'query' | 'mutation', field: GraphQLField<unknown, unknown>, args: Record<string, unknown>, depth: number): string {
  const used = field.args.filter((a) => args[a.name] !== undefined);
  const vars = used.map((a) => `$${a.name}: ${a.type.toString()}`).join(', ');
  const call = used.map((a) => `${a.name}: $${a.name}`).join(', ');
  return `${kind}${vars ? `(${vars})` : ''} { ${field.name}${call ? `(${call})` : ''} ${selectionOf(getNamedType(field.type), depth)} }`;
}

const rootFields = (t: GraphQLObjectType | null | undefined) => Object.values(t?.getFields() ?? {});

/** Every string in a JSON value. */
function stringsIn(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => stringsIn(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => stringsIn(x, out));
  return out;
}

/** The owners' private values found in `text`, leaving out what the caller itself sent. */
function leaked(secrets: string[], sent: unknown, text: string): string[] {
  // A value inside what was sent (an attestation record, say) is the caller's own knowledge.
  const known = stringsIn(sent).map((s) => s.toLowerCase());
  const lower = text.toLowerCase();
  return secrets.filter((s) => !known.some((k) => k.includes(s.toLowerCase())) && lower.includes(s.toLowerCase()));
}

describe(`tenant isolation through the gateway (${dbLabel()})`, () => {
  let w: SettlementWorld;
  let world: World;
  let secrets: string[];
  let owners: { issuer: string; alpha: string; beta: string; operator: string; alphaApprover: string };
  const fields = { query: rootFields(supergraph.getQueryType()), mutation: rootFields(supergraph.getMutationType()) };

  const place = (who: string, p: Party, side: 'BUY' | 'SELL', price: string, quantity: string, key: string) =>
    gqlOk<{ placeOrder: { accepted: boolean; rejections: { code: string; message: string }[]; order: { id: string; status: string } } }>(w.url, who, `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted rejections { code message } order { id status } } }`,
      { in: { tokenId: world.tokenId, accountId: p.accountId, side, type: 'LIMIT', price, quantity, clientOrderId: key } }).then((d) => d.placeOrder);
  const userToken = (org: string, subject: string, roles: Role[], investorId?: string) =>
    signUserToken({ secret: w.stack.secrets.jwtSecret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject, org, roles, investorId });

  beforeAll(async () => {
    w = await SettlementWorld.start();
    const { tokenId } = await w.token506b('OWNR');
    const seller = await w.party('Owner Seller', 'alpha-bd');
    const buyer = await w.party('Owner Buyer', 'beta-bd');
    world = { tokenId, seller, buyer } as World;
    await w.issue(tokenId, seller, 500n);
    await w.fund(buyer, 1_000_000_000n); // an external trade's price is in whole cash units (6 decimals)
    await w.fund(seller, 1_000n);
    const operator = await w.token('ats-co', ['ATS_OPERATOR']);
    for (const org of ['alpha-bd', 'beta-bd']) await gqlOk(w.url, operator, `mutation($o: String!) { admitSubscriber(org: $o, reason: "approved subscriber") { org } }`, { o: org });
    const desk: Role[] = ['BROKER_DEALER', 'CUSTODIAN', 'COMPLIANCE_OFFICER', 'AUDITOR'];
    owners = {
      issuer: w.desk.token, operator,
      alpha: await userToken('alpha-bd', 'alpha-desk', desk), beta: await userToken('beta-bd', 'beta-desk', desk),
      alphaApprover: await userToken('alpha-bd', 'alpha-approver', ['CUSTODIAN']),
    };

    // A fill that settles on chain, and an order left resting.
    const sell = await place(owners.alpha, seller, 'SELL', '100', '40', 'owner-sell-1');
    const buy = await place(owners.beta, buyer, 'BUY', '100', '40', 'owner-buy-1');
    expect([sell.accepted, buy.order.status]).toEqual([true, 'FILLED']);
    const resting = await place(owners.alpha, seller, 'SELL', '105', '10', 'owner-rest-1');
    expect(resting.order.status).toBe('OPEN');
    const tape = await waitFor('the fill to settle', () => gqlOk<{ trades: { id: string; settlement: { id: string; status: string } | null }[] }>(w.url, owners.beta, `query($t: ID!) { trades(tokenId: $t) { id settlement { id status } } }`, { t: tokenId }),
      (d) => d.trades[0]?.settlement?.status === 'SETTLED');
    const settled = (await w.settlementOf(tape.trades[0].settlement!.id))!;
    Object.assign(world, {
      restingOrderId: resting.order.id, restingClientOrderId: 'owner-rest-1', filledOrderId: buy.order.id, tradeId: tape.trades[0].id, settlementId: settled.id,
      attestation: { record: settled.attestation!.typedData, signature: settled.attestation!.signature },
    });

    // A trade from another venue, reported by the seller's broker-dealer, settled to the end before the matrix runs.
    await w.authorizeVenue('OTHER-ATS', tokenId);
    world.external = { venue: 'OTHER-ATS', venueReference: 'owner-ext-1', tokenId, buyerAccountId: buyer.accountId, sellerAccountId: seller.accountId,
      quantity: '2', price: '100', tradeTime: new Date(Date.now() - 60_000).toISOString() };
    const ext = await w.submit(owners.alpha, world.external);
    expect(ext.body.errors).toBeUndefined();
    world.externalId = ext.body.data!.submitExternalTrade.id;
    await w.waitStatus(world.externalId, ['SETTLED']);

    // Custody: an account policy without delay (applied by the quorum), a destination, a withdrawal waiting for approval, a pending policy change.
    const change = (key: string, p: object) => gqlOk<{ proposePolicyChange: { id: string; status: string } }>(w.url, owners.alpha, `mutation($in: ProposePolicyChangeInput!) { proposePolicyChange(input: $in) { id status } }`,
      { in: { idempotencyKey: key, accountId: seller.accountId, policy: p } }).then((d) => d.proposePolicyChange);
    const first = await change('owner-policy-1', policy);
    for (let i = 0; i < 2; i++) {
      await gqlOk(w.url, await userToken('alpha-bd', `alpha-quorum-${i}`, ['CUSTODIAN']), `mutation($id: ID!) { approvePolicyChange(id: $id) { status } }`, { id: first.id });
    }
    world.destinationAddress = newAddress();
    world.destinationId = (await gqlOk<{ addWithdrawalDestination: { id: string } }>(w.url, owners.alpha, `mutation($in: AddWithdrawalDestinationInput!) { addWithdrawalDestination(input: $in) { id } }`,
      { in: { accountId: seller.accountId, address: world.destinationAddress, label: 'treasury' } })).addWithdrawalDestination.id;
    world.withdrawalKey = 'owner-wdr-1';
    const wd = (await gqlOk<{ requestWithdrawal: { withdrawal: { id: string; status: string }; refusals: { code: string; message: string }[] } }>(w.url, owners.alpha, `mutation($in: RequestWithdrawalInput!) { requestWithdrawal(input: $in) { withdrawal { id status } refusals { code message } } }`,
      { in: { idempotencyKey: world.withdrawalKey, accountId: seller.accountId, asset: 'CASH', amount: '3', toAddress: world.destinationAddress } })).requestWithdrawal;
    expect(wd.refusals).toEqual([]);
    world.withdrawalId = wd.withdrawal.id;
    world.pendingChangeKey = 'owner-policy-2';
    world.pendingChangeId = (await change(world.pendingChangeKey, { ...policy, maxPerWithdrawal: '4' })).id;
    const dist = (await gqlOk<{ announceDistribution: { id: string; entitlements: { id: string }[] } }>(w.url, owners.issuer, `mutation($in: AnnounceDistributionInput!) { announceDistribution(input: $in) { id entitlements { id } } }`,
      { in: distributionInput(world, 'owner-dist-1') })).announceDistribution;
    world.distributionId = dist.id;
    world.entitlementId = dist.entitlements[0].id;
    world.redemptionId = (await gqlOk<{ announceRedemption: { id: string } }>(w.url, owners.issuer, `mutation($in: AnnounceRedemptionInput!) { announceRedemption(input: $in) { id } }`,
      { in: redemptionInput(world, 'owner-red-1') })).announceRedemption.id;

    // Issuance: a vote of the holders of record, with the seller's ballot cast by its broker-dealer.
    world.voteId = (await gqlOk<{ openVote: { id: string } }>(w.url, owners.issuer, `mutation($in: OpenVoteInput!) { openVote(input: $in) { id } }`, { in: {
      idempotencyKey: 'owner-vote-1', tokenId, recordDate: new Date().toISOString(), closesAt: new Date(Date.now() + 86_400_000).toISOString(), question: 'Approve?', options: ['FOR', 'AGAINST'],
    } })).openVote.id;
    await gqlOk(w.url, owners.alpha, `mutation($in: CastBallotInput!) { castBallot(input: $in) { id } }`,
      { in: { idempotencyKey: 'owner-ballot-1', voteId: world.voteId, investorId: seller.investorId, choices: [{ option: 'FOR', units: '10' }] } });

    secrets = [seller.investorId, buyer.investorId, seller.accountId, buyer.accountId, seller.wallet, buyer.wallet, 'Owner Seller', 'Owner Buyer',
      'owner-sell-1', 'owner-buy-1', 'owner-rest-1', world.settlementId, world.externalId, 'owner-ext-1', settled.txHash!, settled.attestation!.signature,
      world.withdrawalId, world.destinationId, world.destinationAddress, first.id, world.pendingChangeId, 'owner-policy-1', 'owner-policy-2', 'owner-wdr-1', 'owner-ballot-1', world.distributionId, world.entitlementId, world.redemptionId];
    expect(secrets.every((s) => typeof s === 'string' && s.length > 0)).toBe(true);
  }, 600_000);
  afterAll(async () => w?.stop());

  test('every query and mutation of the supergraph has arguments in the matrix', () => {
    const all = [...fields.query, ...fields.mutation].map((f) => f.name);
    expect(all.filter((n) => !ARGS[n])).toEqual([]);
    expect(Object.keys(ARGS).filter((n) => !all.includes(n))).toEqual([]);
    expect([...Object.keys(PUBLIC), ...Object.keys(CROSS_ORG_BY_DESIGN)].filter((n) => !all.includes(n))).toEqual([]);
  });

  /** What the owners see of their own data, read with their own tokens (plus the venue authorisations, which no query shows). */
  async function ownersView(): Promise<Record<string, unknown>> {
    const volatile = (f: GraphQLField<unknown, unknown>) => /^(asOf|evaluatedAt|checkedAt|cursor|updatedAt|onChain|onChainBlock|nextAttemptAt)$/.test(f.name);
    const sel = (type: string, depth = 2) => selectionOf(supergraph.getType(type)!, depth, volatile);
    const view: Record<string, unknown> = {};
    view.issuer = await gqlOk(w.url, owners.issuer, `query($t: ID!) { securityToken(id: $t) ${sel('SecurityToken')} investors ${sel('Investor')} votes(tokenId: $t) ${sel('Vote')} distributions ${sel('Distribution')} redemptions(tokenId: $t) ${sel('Redemption')} }`, { t: world.tokenId });
    for (const org of ['alpha', 'beta'] as const) {
      view[org] = await gqlOk(w.url, owners[org], `{ custodyAccounts ${sel('CustodyAccount')} orders ${sel('Order', 1)} withdrawals ${sel('Withdrawal')}
        policyChanges ${sel('PolicyChange')} organisationWithdrawalPolicy ${sel('EffectiveWithdrawalPolicy')} settlements ${sel('Settlement', 1)} }`);
    }
    view.venue = await gqlOk(w.url, owners.operator, `query($t: ID!) { subscribers ${sel('Subscriber')} marketStatus(tokenId: $t) ${sel('MarketStatus')} }`, { t: world.tokenId });
    view.venueTokens = await w.settlement.db.query('SELECT venue, token_id FROM venue_tokens ORDER BY venue, token_id');
    return view;
  }

  /** The owners' view once background work (feeds, chain jobs) has stopped changing it. */
  async function quietView(): Promise<Record<string, unknown>> {
    for (let last = await ownersView(); ;) {
      await w.desk.settled();
      await new Promise((r) => setTimeout(r, 1500));
      const next = await ownersView();
      if (JSON.stringify(next) === JSON.stringify(last)) return next;
      last = next;
    }
  }

  test("the owners' view is stable while nobody acts, so a difference below is a change", async () => {
    // The chain indexers may still be applying the set-up's last blocks: wait for quiet, then two reads must agree.
    const quiet = await quietView();
    expect(await ownersView()).toEqual(quiet);
  }, 120_000);

  const callers: [string, Role[], boolean][] = [
    // ATS_OPERATOR included: the venue's powers belong to its operator organisations (TRADING_OPERATOR_ORGS), not to the role.
    ['an organisation holding every institutional role', ['ISSUER_AGENT', 'BROKER_DEALER', 'ATS_OPERATOR', 'CUSTODIAN', 'SETTLEMENT_AGENT', 'COMPLIANCE_OFFICER', 'AUDITOR'], false],
    ["an investor of another organisation whose token names the owner's investor", ['INVESTOR'], true],
  ];
  describe.each(callers)('as %s', (_who, roles, namesOwnersInvestor) => {
    let intruder: string;
    beforeAll(async () => {
      intruder = await userToken('intruder-co', `intruder-${roles.length}`, roles, namesOwnersInvestor ? world.seller.investorId : undefined);
    });

    /** Runs one field with each of its argument sets; returns a description of every leak found. */
    async function probe(kind: 'query' | 'mutation', field: GraphQLField<unknown, unknown>): Promise<string[]> {
      const problems: string[] = [];
      for (const args of ARGS[field.name]?.(world) ?? []) { // a field missing from ARGS fails the first test
        let r = await gql<Record<string, unknown>>(w.url, intruder, operationOf(kind, field, args, 3), args);
        if (r.body.errors?.some((e) => String(e.extensions?.code).startsWith('LIMIT.'))) r = await gql(w.url, intruder, operationOf(kind, field, args, 2), args);
        const where = `${field.name}(${JSON.stringify(args)})`;
        const found = leaked(secrets, args, JSON.stringify(r.body));
        if (found.length) problems.push(`${where} answered owners' values ${found.join(', ')}: ${JSON.stringify(r.body).slice(0, 600)}`);
        for (const e of r.body.errors ?? []) {
          if (!ACCEPTED_CODES.includes(String(e.extensions?.code))) problems.push(`${where} failed with ${e.extensions?.code}: ${e.message}`);
        }
        const value = r.body.data?.[field.name];
        // A lookup by another organisation's id answers nothing at all, not an empty shell.
        if (kind === 'query' && !PUBLIC[field.name] && !isNonNullType(field.type) && value) problems.push(`${where} returned ${JSON.stringify(value).slice(0, 300)}`);
        // data: null without errors is what the gateway answers when an invisible entity nulls a non-null field: nothing shown.
        if (!r.body.errors?.length && r.body.data !== null && value === undefined) problems.push(`${where} answered neither data nor an error: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      }
      return problems;
    }

    test('every query answers a refusal or data without the owners\' private values', async () => {
      const problems: string[] = [];
      for (const f of fields.query) problems.push(...(await probe('query', f)));
      expect(problems).toEqual([]);
    }, 300_000);

    test('every mutation is refused or acts only on the caller\'s own data, and the owners\' view does not change', async () => {
      const problems: string[] = [];
      let before = await ownersView();
      for (const f of fields.mutation) {
        problems.push(...(await probe('mutation', f)));
        // What a cross-organisation mutation sets off (a wallet linked, then registered on chain) must be over before the next one is judged.
        const after = CROSS_ORG_BY_DESIGN[f.name] ? await quietView() : await ownersView();
        if (!CROSS_ORG_BY_DESIGN[f.name] && JSON.stringify(after) !== JSON.stringify(before)) problems.push(`${f.name} changed the owners' view: ${diff(before, after)}`);
        before = after;
      }
      expect(problems).toEqual([]);
    }, 600_000);
  });

  describe('the ATS_OPERATOR matrix: venue powers belong to the venue operator organisation (ats-co) only', () => {
    const READS = `query($id: ID!, $t: ID!) { order(id: $id) { id } orders { id } orderAuditTrail(orderId: $id) { event }
      trades(tokenId: $t) { id buyAccountId sellAccountId buyerFee sellerFee } }`;
    /** The first answer of a subscription through the gateway, replayed from the start of the outbox. */
    const firstEvent = async (token: string, query: string, variables: Record<string, unknown>) => {
      const c = createClient({ url: w.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
      try {
        return await new Promise<{ data?: FirstEvent; errors?: unknown; complete?: true }>((resolve) => {
          const stop = c.subscribe({ query, variables }, { next: (v) => { stop(); resolve(v as { data?: FirstEvent }); }, error: (e) => resolve({ errors: e }), complete: () => resolve({ complete: true }) });
        });
      } finally {
        await c.dispose();
      }
    };
    const ORDER_EVENTS = 'subscription($a: ID!) { orderUpdated(accountId: $a, after: "0") { status } }';
    const TRADE_EVENTS = 'subscription($a: ID!) { tradeExecuted(accountId: $a, after: "0") { trade { id buyAccountId } } }';

    test.each([
      ['the venue operator (ATS_OPERATOR of ats-co)', 'ats-co', true],
      ['an ATS_OPERATOR of another organisation', 'rogue-ats', false],
    ])('%s', async (_who, org, venue) => {
      const token = await userToken(org, `${org}-ats`, ['ATS_OPERATOR']);
      const d = await gqlOk<{ order: { id: string } | null; orders: unknown[]; orderAuditTrail: unknown[]; trades: { sellAccountId: string | null }[] }>(w.url, token, READS, { id: world.restingOrderId, t: world.tokenId });
      expect(d.order).toEqual(venue ? { id: world.restingOrderId } : null);
      expect(d.orders.length > 0).toBe(venue);
      expect(d.orderAuditTrail.length > 0).toBe(venue);
      expect(d.trades[0].sellAccountId).toBe(venue ? world.seller.accountId : null);
      const orders = await firstEvent(token, ORDER_EVENTS, { a: world.seller.accountId });
      const trades = await firstEvent(token, TRADE_EVENTS, { a: world.seller.accountId });
      if (venue) {
        expect(orders.data!.orderUpdated!.status).toBeDefined();
        expect(trades.data!.tradeExecuted!.trade.buyAccountId).toBe(world.buyer.accountId);
      } else {
        expect(JSON.stringify(orders.errors)).toContain('NOT_FOUND');
        expect(JSON.stringify(trades.errors)).toContain('NOT_FOUND');
      }
      if (venue) return; // the venue's own powers are exercised by the trading tests; here nothing may change
      for (const [q, v] of [
        ['mutation($id: ID!) { cancelOrder(orderId: $id) { status } }', { id: world.restingOrderId }],
        ['mutation($t: ID!) { haltTrading(tokenId: $t, reason: "rogue") { halted } }', { t: world.tokenId }],
        ['mutation($o: String!) { suspendSubscriber(org: $o, reason: "rogue") { status } }', { o: world.seller.org }],
      ] as const) {
        const r = await gql(w.url, token, q, v);
        expect([q, r.body.errors?.[0]?.extensions?.code]).toEqual([q, expect.stringMatching(/^(FORBIDDEN|NOT_FOUND)$/)]);
      }
      const after = await gqlOk<{ order: { status: string }; marketStatus: { halted: boolean }; subscribers: { org: string; status: string }[] }>(w.url, owners.operator, `query($id: ID!, $t: ID!) { order(id: $id) { status } marketStatus(tokenId: $t) { halted } subscribers { org status } }`,
        { id: world.restingOrderId, t: world.tokenId });
      expect(after.order.status).toBe('OPEN');
      expect(after.marketStatus.halted).toBe(false);
      expect(after.subscribers.find((s) => s.org === world.seller.org)!.status).toBe('ADMITTED');
    }, 60_000);
  });

  describe("the eligibility matrix: who may ask transferEligibility about whom (the answer shows each party's KYC, AML, country, accreditation)", () => {
    const ASK = 'query($t: ID!, $from: ID, $to: ID) { transferEligibility(tokenId: $t, from: $from, to: $to, amount: "1", kind: SECONDARY_TRADE) { allowed results { code } } }';
    type Asker = [string, () => Promise<string>];
    const askers: Record<string, Asker> = {
      issuer: ["the token's issuer organisation", async () => owners.issuer],
      settlementOperator: ['the settlement operator (settle-co)', () => userToken('settle-co', 'settle-agent', ['SETTLEMENT_AGENT'])],
      sellerCustodian: ["the seller's custodian and broker organisation (alpha-bd)", async () => owners.alpha],
      seller: ['the seller itself (INVESTOR)', () => userToken('alpha-bd', 'seller-self', ['INVESTOR'], world.seller.investorId)],
      otherInvestor: ['another investor of the same organisation', () => userToken('alpha-bd', 'someone-else', ['INVESTOR'], 'inv_someoneelse')],
      stranger: ['an organisation with every institutional role, party to nothing', () => userToken('intruder-co', 'intruder-all', ['ISSUER_AGENT', 'BROKER_DEALER', 'CUSTODIAN', 'SETTLEMENT_AGENT', 'COMPLIANCE_OFFICER', 'AUDITOR'])],
      rogueAts: ['an ATS_OPERATOR of another organisation', () => userToken('rogue-ats', 'rogue', ['ATS_OPERATOR'])],
    };
    // [asker, from, to, allowed]: from/to name the seller (alpha-bd's) and the buyer (beta-bd's).
    const table: [keyof typeof askers, 'seller' | 'buyer' | null, 'seller' | 'buyer' | null, boolean][] = [
      ['issuer', 'seller', 'buyer', true],
      ['settlementOperator', 'seller', 'buyer', true],
      ['sellerCustodian', 'seller', null, true],
      ['sellerCustodian', null, 'seller', true],
      ['sellerCustodian', 'seller', 'buyer', false],
      ['sellerCustodian', 'buyer', null, false],
      ['seller', 'seller', null, true],
      ['seller', 'seller', 'buyer', false],
      ['otherInvestor', 'seller', null, false],
      ['stranger', 'seller', 'buyer', false],
      ['stranger', null, 'buyer', false],
      ['rogueAts', 'seller', null, false],
    ];
    test.each(table)('%s asking about from=%s to=%s: allowed=%s', async (asker, from, to, allowed) => {
      const token = await askers[asker][1]();
      const r = await gql<{ transferEligibility: { results: unknown[] } }>(w.url, token, ASK, { t: world.tokenId, from: from && world[from].investorId, to: to && world[to].investorId });
      if (allowed) {
        expect(r.body.errors).toBeUndefined();
        expect(r.body.data!.transferEligibility.results.length).toBeGreaterThan(0);
      } else {
        expect(r.body.data).toBeNull();
        expect(r.body.errors?.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      }
    });
  });

  test('the public fields answer the owner\'s public facts to anyone', async () => {
    const stranger = await userToken('intruder-co', 'stranger', ['AUDITOR']);
    const d = await gqlOk<{ securityToken: unknown; orderBook: { asks: unknown[] }; trades: unknown[]; marketStatus: { halted: boolean } }>(w.url, stranger, `query($t: ID!) { securityToken(id: $t) { symbol status } orderBook(tokenId: $t) { asks { price quantity } }
      trades(tokenId: $t) { id price quantity buyAccountId sellAccountId } marketStatus(tokenId: $t) { halted } }`, { t: world.tokenId });
    expect(d.securityToken).toEqual({ symbol: 'OWNR', status: 'DEPLOYED' });
    expect(d.orderBook.asks).toEqual([{ price: '105', quantity: '10' }]);
    expect(d.trades).toEqual([{ id: world.tradeId, price: '100', quantity: '40', buyAccountId: null, sellAccountId: null }]);
    expect(d.marketStatus.halted).toBe(false);
  });
});

/** The first paths at which two JSON values differ. */
function diff(a: unknown, b: unknown, path = '', out: string[] = []): string {
  if (JSON.stringify(a) === JSON.stringify(b)) return out.join('; ');
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diff((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`, out);
  } else out.push(`${path}: ${JSON.stringify(a)?.slice(0, 200)} -> ${JSON.stringify(b)?.slice(0, 200)}`);
  return out.slice(0, 5).join('; ');
}

