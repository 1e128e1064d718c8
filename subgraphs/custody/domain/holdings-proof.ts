import { AbiCoder, ZeroHash, concat, keccak256 } from 'ethers';

/**
 * Proof of holdings: a Merkle tree over (accountId, balance) of one asset.
 * Depends on ethers alone so that a client can copy this file and verify
 * offline (see docs/proof-of-holdings.md).
 *
 * - leaf  = keccak256(abi.encode(string accountId, uint256 balance)); the
 *   encoding is at least 128 bytes, so no leaf can pass for an inner node
 *   (whose preimage is 64 bytes) and single hashing is safe.
 * - node  = keccak256(min(a, b) ++ max(a, b)), the sorted-pair hashing of
 *   OpenZeppelin's MerkleProof, so a proof needs no left/right flags and
 *   `MerkleProof.verify(proof, root, leaf)` accepts it on chain too.
 * - leaves are ordered by accountId; an odd node at the end of a level is
 *   carried up unchanged.
 */
export interface Holding {
  accountId: string;
  balance: bigint;
}

export interface HoldingWithProof extends Holding {
  leaf: string;
  proof: string[];
}

export interface HoldingsTree {
  /** ZeroHash when there are no holdings. */
  root: string;
  total: bigint;
  holdings: HoldingWithProof[];
}

const coder = AbiCoder.defaultAbiCoder();

export function holdingLeaf(accountId: string, balance: bigint): string {
  return keccak256(coder.encode(['string', 'uint256'], [accountId, balance]));
}

export function hashPair(a: string, b: string): string {
  return BigInt(a) <= BigInt(b) ? keccak256(concat([a, b])) : keccak256(concat([b, a]));
}

export function buildHoldingsTree(input: readonly Holding[]): HoldingsTree {
  const sorted = [...input].sort((x, y) => (x.accountId < y.accountId ? -1 : x.accountId > y.accountId ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].accountId === sorted[i - 1].accountId) throw new Error(`account ${sorted[i].accountId} appears twice`);
  }
  for (const h of sorted) if (h.balance < 0n) throw new Error(`account ${h.accountId} has a negative balance`);
  const leaves = sorted.map((h) => holdingLeaf(h.accountId, h.balance));
  const proofs: string[][] = leaves.map(() => []);
  // positions[i]: index in the current level of the node that contains leaf i.
  let positions = leaves.map((_, i) => i);
  let level = leaves;
  while (level.length > 1) {
    const next: string[] = [];
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? hashPair(level[i], level[i + 1]) : level[i]);
    positions.forEach((p, leafIndex) => {
      const sibling = p ^ 1;
      if (sibling < level.length) proofs[leafIndex].push(level[sibling]);
    });
    positions = positions.map((p) => p >> 1);
    level = next;
  }
  return {
    root: level[0] ?? ZeroHash,
    total: sorted.reduce((s, h) => s + h.balance, 0n),
    holdings: sorted.map((h, i) => ({ ...h, leaf: leaves[i], proof: proofs[i] })),
  };
}

/**
 * True when `leaf` (a leaf hash, or the holding it hashes) is in the tree with
 * this root. Works offline: no database, no network.
 */
export function verifyHoldingProof(root: string, leaf: string | { accountId: string; balance: bigint | string }, proof: readonly string[]): boolean {
  try {
    let node = typeof leaf === 'string' ? leaf : holdingLeaf(leaf.accountId, BigInt(leaf.balance));
    for (const p of proof) node = hashPair(node, p);
    return BigInt(node) === BigInt(root) && /^0x[0-9a-fA-F]{64}$/.test(root);
  } catch {
    return false; // malformed hex anywhere is simply not a valid proof
  }
}
