import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { AbiCoder, Contract, concat, keccak256, ZeroHash } from 'ethers';
import solc from 'solc';
import { readFileSync } from 'node:fs';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { newId } from '../../subgraphs/kit/ids.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { startAnvil, type AnvilNode } from '../../scripts/chain/anvil.js';
import { createChainClient, type ChainClient } from '../../subgraphs/kit/chain/client.js';
import { buildHoldingsTree, holdingLeaf, verifyHoldingProof, type Holding } from '../../subgraphs/custody/domain/holdings-proof.js';
import { proofOfHoldings } from '../../subgraphs/custody/holdings.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { dbLabel } from '../support/db.js';
import { openAccount, openCustodyDb, user } from './support.js';

const holdings = (n: number): Holding[] =>
  Array.from({ length: n }, (_, i) => ({ accountId: newId('acc'), balance: BigInt(i * 1_000_003 + 1) * 10n ** 18n }));

/** The snippet of docs/proof-of-holdings.md, verbatim: what a client runs with ethers alone. */
function verifyHolding(root: string, accountId: string, balance: string, proof: string[]): boolean {
  let node = keccak256(AbiCoder.defaultAbiCoder().encode(['string', 'uint256'], [accountId, BigInt(balance)]));
  for (const sibling of proof) {
    node = BigInt(node) <= BigInt(sibling) ? keccak256(concat([node, sibling])) : keccak256(concat([sibling, node]));
  }
  return BigInt(node) === BigInt(root);
}

describe('the holdings Merkle tree', () => {
  test('every account\'s proof verifies, for trees of 1 to 33 leaves', () => {
    for (let n = 1; n <= 33; n++) {
      const tree = buildHoldingsTree(holdings(n));
      expect(tree.holdings).toHaveLength(n);
      for (const h of tree.holdings) {
        expect(verifyHoldingProof(tree.root, h, h.proof)).toBe(true);
        expect(verifyHoldingProof(tree.root, h.leaf, h.proof)).toBe(true);
        expect(verifyHolding(tree.root, h.accountId, h.balance.toString(), h.proof)).toBe(true);
        expect(h.proof.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
      }
    }
  });

  test('a tampered balance, a foreign account, a changed sibling or another root do not verify', () => {
    const tree = buildHoldingsTree(holdings(9));
    const h = tree.holdings[4];
    expect(verifyHoldingProof(tree.root, { ...h, balance: h.balance + 1n }, h.proof)).toBe(false);
    expect(verifyHoldingProof(tree.root, { accountId: newId('acc'), balance: h.balance }, h.proof)).toBe(false);
    const bent = [...h.proof];
    bent[1] = keccak256(bent[1]);
    expect(verifyHoldingProof(tree.root, h, bent)).toBe(false);
    expect(verifyHoldingProof(keccak256(tree.root), h, h.proof)).toBe(false);
    expect(verifyHoldingProof(tree.root, h, ['0xnothex'])).toBe(false);
  });

  test('the root depends on every balance but not on the order the rows came in', () => {
    const hs = holdings(7);
    const root = buildHoldingsTree(hs).root;
    expect(buildHoldingsTree([...hs].reverse()).root).toBe(root);
    expect(buildHoldingsTree(hs.map((h, i) => (i === 3 ? { ...h, balance: h.balance - 1n } : h))).root).not.toBe(root);
    expect(buildHoldingsTree([]).root).toBe(ZeroHash);
    expect(buildHoldingsTree(hs.slice(0, 1)).root).toBe(holdingLeaf(hs[0].accountId, hs[0].balance));
  });
});

describe(`proofOfHoldings over custody's books (${dbLabel()})`, () => {
  let db: Db;
  let cleanup: () => Promise<void>;
  const tok = newId('tok');
  const acme: string[] = [];
  const others: string[] = [];
  let investorAccount: string;
  const inv = newId('inv');

  beforeAll(async () => {
    ({ db, cleanup } = await openCustodyDb());
    await ledger.registerAsset(db, tok, null);
    investorAccount = await openAccount(db, 'acme', inv);
    acme.push(investorAccount);
    for (let i = 0; i < 4; i++) acme.push(await openAccount(db, 'acme'));
    for (let i = 0; i < 3; i++) others.push(await openAccount(db, 'globex'));
    for (const [i, a] of [...acme, ...others].entries()) {
      await ledger.credit(db, 'issuance', { accountId: a, asset: tok, amount: BigInt(100 * (i + 1)), idempotencyKey: `i-${a}`, reason: 'issued' });
    }
    // Reserved funds are still the holder's: they stay in the leaf.
    await ledger.reserve(db, 'trading', { accountId: acme[1], asset: tok, amount: 50n, idempotencyKey: 'r', reason: 'order' });
  }, 60_000);
  afterAll(async () => cleanup?.());

  test('the root covers every account; a custodian gets a verifying proof for each of its own accounts only', async () => {
    const p = await proofOfHoldings(db, user('acme', 'alice', ['CUSTODIAN']), tok);
    expect(p.leafCount).toBe(8);
    expect(p.total).toBe(BigInt(100 * (1 + 2 + 3 + 4 + 5 + 6 + 7 + 8)));
    expect(p.proofs.map((h) => h.accountId).sort()).toEqual([...acme].sort());
    for (const h of p.proofs) expect(verifyHolding(p.root, h.accountId, h.balance.toString(), h.proof)).toBe(true);
    // Another organisation sees the same root, and only its own leaves.
    const g = await proofOfHoldings(db, user('globex', 'gus', ['AUDITOR']), tok);
    expect(g.root).toBe(p.root);
    expect(g.proofs.map((h) => h.accountId).sort()).toEqual([...others].sort());
  });

  test('an investor gets the proof of its own account; a tampered balance fails', async () => {
    const p = await proofOfHoldings(db, user('acme', 'ivan', ['INVESTOR'], inv), tok);
    expect(p.proofs.map((h) => h.accountId)).toEqual([investorAccount]);
    const [h] = p.proofs;
    expect(h.balance).toBe(100n);
    expect(verifyHoldingProof(p.root, h, h.proof)).toBe(true);
    expect(verifyHoldingProof(p.root, { ...h, balance: 101n }, h.proof)).toBe(false);
  });

  test('the root follows the books', async () => {
    const before = (await proofOfHoldings(db, user('acme', 'alice', ['CUSTODIAN']), tok)).root;
    await ledger.credit(db, 'issuance', { accountId: acme[2], asset: tok, amount: 1n, idempotencyKey: 'one-more', reason: 'issued' });
    expect((await proofOfHoldings(db, user('acme', 'alice', ['CUSTODIAN']), tok)).root).not.toBe(before);
  });

  test('a malformed or unknown asset is a typed error', async () => {
    const c = user('acme', 'alice', ['CUSTODIAN']);
    await expect(proofOfHoldings(db, c, 'nope')).rejects.toMatchObject({ extensions: { code: 'INPUT.INVALID_ASSET' } });
    await expect(proofOfHoldings(db, c, newId('tok'))).rejects.toMatchObject({ extensions: { code: 'CUSTODY.UNKNOWN_ASSET' } });
  });
});

describe('OpenZeppelin\'s MerkleProof accepts the proofs on chain (anvil)', () => {
  let node: AnvilNode;
  let client: ChainClient;
  let verifier: Contract;

  beforeAll(async () => {
    const source = `// SPDX-License-Identifier: MIT
      pragma solidity ^0.8.0;
      import "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
      contract HoldingsVerifier {
        function verify(bytes32[] calldata proof, bytes32 root, string calldata accountId, uint256 balance) external pure returns (bool) {
          return MerkleProof.verify(proof, root, keccak256(abi.encode(accountId, balance)));
        }
      }`;
    const input = { language: 'Solidity', sources: { 'V.sol': { content: source } }, settings: { evmVersion: 'paris', outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } } } };
    const out = JSON.parse(solc.compile(JSON.stringify(input), {
      import: (p: string) => ({ contents: readFileSync(fromRoot('node_modules', p), 'utf8') }),
    }));
    const c = out.contracts['V.sol'].HoldingsVerifier;
    node = await startAnvil({ port: 0 });
    client = await createChainClient({ rpcUrl: node.url, privateKey: node.privateKeys[0] });
    verifier = await client.deploy({ contractName: 'HoldingsVerifier', abi: c.abi, bytecode: '0x' + c.evm.bytecode.object } as never);
  }, 120_000);
  afterAll(async () => {
    await client?.close();
    await node?.stop();
  });

  test('every proof of an 11-leaf tree verifies on chain; a tampered balance does not', async () => {
    const tree = buildHoldingsTree(holdings(11));
    for (const h of tree.holdings) expect(await verifier.verify(h.proof, tree.root, h.accountId, h.balance)).toBe(true);
    const h = tree.holdings[5];
    expect(await verifier.verify(h.proof, tree.root, h.accountId, h.balance + 1n)).toBe(false);
  });
});
