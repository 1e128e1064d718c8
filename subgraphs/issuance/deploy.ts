import type { Caller } from '../kit/auth.js';
import type { Db } from '../kit/db/types.js';
import { appError } from '../kit/errors.js';
import { appendEvent } from '../kit/outbox.js';
import { ClaimTopic, deployTokenSuite } from './chain/trex.js';
import { tokenOfIssuer } from './access.js';
import { chainFailure, type IssuanceChain } from './chain/runtime.js';
import { audit } from './store/records.js';
import { setDeployed, tokenRow, type ChainJson, type TokenRow } from './store/tokens.js';
import { configureRulesModule } from './chain/rules.js';
import type { ComplianceConfig } from './domain/compliance/index.js';

const inFlight = new Map<string, Promise<TokenRow>>();

/**
 * Claim topics every holder's identity must carry. Accreditation is not one of
 * them even for 506(c): that rule governs the offering (mints, which the
 * service checks first), and a resale to a non-accredited buyer after the
 * holding period is lawful, so the chain must not refuse it.
 */
export function claimTopicsFor(_exemption: string): bigint[] {
  return [ClaimTopic.KYC, ClaimTopic.COUNTRY];
}

/**
 * Deploys the token's ERC-3643 suite, then records it in one transaction:
 * a chain failure leaves the token DRAFT with nothing recorded (retry it),
 * and a second call on a deployed token returns it unchanged.
 */
export function deploySecurityToken(db: Db, chain: IssuanceChain, config: ComplianceConfig, caller: Caller, tokenId: string): Promise<TokenRow> {
  const running = inFlight.get(tokenId);
  if (running) return running;
  const p = deploy(db, chain, config, caller, tokenId).finally(() => inFlight.delete(tokenId));
  inFlight.set(tokenId, p);
  return p;
}

async function deploy(db: Db, chain: IssuanceChain, config: ComplianceConfig, caller: Caller, tokenId: string): Promise<TokenRow> {
  const token = await tokenOfIssuer(db, caller, tokenId, ['ISSUER_AGENT']);
  if (token.chain) return token;
  let record: ChainJson;
  let block: number;
  try {
    const setup = await chain.setup();
    const client = await chain.client();
    const suite = await deployTokenSuite(client, {
      name: token.name, symbol: token.symbol, decimals: token.decimals, claimIssuer: setup.claimIssuer,
      claimTopics: claimTopicsFor(token.exemption), identityRegistryStorage: setup.identityStorage,
    });
    const rulesModule = await configureRulesModule(chain, suite, token, config);
    block = await client.provider.getBlockNumber();
    record = { chainId: client.chainId, ...suite.addresses, rulesModule };
  } catch (e) {
    throw chainFailure(e, `deploying ${token.symbol} failed; nothing was recorded, retry when the chain is available`);
  }
  return db.tx(async (q) => {
    const current = (await tokenRow(q, tokenId, true))!;
    if (current.chain) return current; // a racing replica recorded first; its suite is the token's
    const row = await setDeployed(q, tokenId, record, block);
    await audit(q, caller, 'token.deployed', tokenId, null, { ...record });
    await appendEvent(q, 'token.deployed', tokenId, { tokenId, chainId: record.chainId, token: record.token, identityRegistry: record.identityRegistry });
    return row;
  });
}

export function requireDeployed(t: TokenRow): ChainJson {
  if (!t.chain) throw appError('ISSUANCE.TOKEN_NOT_DEPLOYED', `token ${t.symbol} is not deployed on chain yet (deploySecurityToken)`);
  // A redeemed token is retired: no issuance, pause lifted, freeze or forced transfer any more.
  if (t.status === 'REDEEMED') throw appError('ISSUANCE.TOKEN_REDEEMED', `token ${t.symbol} has been redeemed: it is retired`);
  return t.chain;
}
