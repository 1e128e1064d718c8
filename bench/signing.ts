/**
 * Chain signatures per second with the key in a PKCS#11 token, as a ratio to the same signatures
 * with the key in software (ethers Wallet), measured in the same run.
 *
 *   software: an ethers Wallet signs (what SIGNER=software does)
 *   pkcs11:   the key is generated in the token; the digest is computed here, the token signs it
 *             (CKM_ECDSA), then s is normalised and the recovery id found by recovering against
 *             the public key (what SIGNER=pkcs11 does)
 *
 * Two workloads, the two that custody and settlement sign: an EIP-1559 ERC-20 transfer (a
 * withdrawal) and an EIP-712 DvP consent. One signer, sequential (a PKCS#11 session signs one
 * digest at a time). Runs alternate A B A B; medians are printed.
 *
 * The token: the one SIGNER=pkcs11 and PKCS11_* name in the environment (point it at a real HSM),
 * else a throwaway SoftHSM2 token (apt-get install softhsm2).
 *
 *   npx tsx bench/signing.ts [--seconds 3] [--runs 3]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { Interface, SigningKey, Wallet, keccak256, type Signature } from 'ethers';
import { loadConfig } from '../subgraphs/kit/config.js';
import { DigestSigner, openKeyStore, signerSettings, tokenSigner, type KitSigner, type SignerConfig } from '../subgraphs/kit/signer/index.js';
import { DVP_CONSENT_TYPES, dvpDomain } from '../subgraphs/custody/dvp-signing.js';
import { createSoftHsmToken } from '../test/support/hsm-setup.js';

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, runs: { type: 'string', default: '3' } } });
const SECONDS = Number(args.seconds);
const RUNS = Number(args.runs);
const say = (s: string) => process.stdout.write(s);

const ERC20 = new Interface(['function transfer(address to, uint256 value) returns (bool)']);
const to = Wallet.createRandom().address;
const token = Wallet.createRandom().address;
const dvp = Wallet.createRandom().address;

const transfer = (s: KitSigner, i: number) => s.signTransaction({
  type: 2, chainId: 31337, nonce: i, to: token, value: 0n, gasLimit: 150_000n, maxFeePerGas: 2_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n,
  data: ERC20.encodeFunctionData('transfer', [to, BigInt(i + 1)]),
});
const consent = (s: KitSigner, i: number) => s.signTypedData(dvpDomain(31337, dvp), DVP_CONSENT_TYPES, {
  batchId: '0x' + i.toString(16).padStart(64, '0'),
  legs: [{ token, from: s.address, to, amount: BigInt(i + 1) }, { token: dvp, from: to, to: s.address, amount: 10n * BigInt(i + 1) }],
  nonces: ['0x' + (i + 7).toString(16).padStart(64, '0')], deadline: 1_900_000_000,
});

async function rate(signer: KitSigner, work: (s: KitSigner, i: number) => Promise<string>): Promise<number> {
  const end = performance.now() + SECONDS * 1000;
  const start = performance.now();
  let n = 0;
  while (performance.now() < end) await work(signer, n++);
  return n / ((performance.now() - start) / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const env = process.env.SIGNER === 'pkcs11' ? loadConfig(signerSettings) : createSoftHsmToken('tokenstack-bench');
  if (!env) {
    say('skipped: no PKCS#11 token (set SIGNER=pkcs11 and PKCS11_* for an HSM, or apt-get install softhsm2)\n');
    return;
  }
  const store = openKeyStore(env as SignerConfig);
  const key = store.token!.generate(`bench/${Date.now()}`);
  let tokenMs = 0;
  const timed = (digest: string): Signature => {
    const t = performance.now();
    const sig = store.token!.sign(key, digest);
    tokenMs += performance.now() - t;
    return sig;
  };
  const hsm = tokenSigner(store.token!, key);
  const software = Wallet.createRandom() as unknown as KitSigner;
  say(`${os.cpus().length} cpus, load ${os.loadavg()[0].toFixed(1)}; token "${store.token!.label}" (${env.PKCS11_MODULE}); ${RUNS} runs of ${SECONDS} s each, alternating\n`);
  for (const [name, work] of [['ERC-20 transfer (withdrawal)', transfer], ['EIP-712 DvP consent', consent]] as const) {
    const sw: number[] = [];
    const hw: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      sw.push(await rate(software, work));
      hw.push(await rate(hsm, work));
    }
    say(`${name}: software ${median(sw).toFixed(0)}/s, pkcs11 ${median(hw).toFixed(0)}/s, ratio pkcs11/software ${(median(hw) / median(sw)).toFixed(3)}\n`);
  }
  // Where one pkcs11 signature's time goes.
  const n = 200;
  const probe = new DigestSigner(key.address, timed);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await transfer(probe, i);
  const total = (performance.now() - t0) / n;
  const sig = store.token!.sign(key, keccak256('0x01'));
  const t1 = performance.now();
  for (let i = 0; i < n; i++) SigningKey.recoverPublicKey(keccak256('0x01'), sig);
  const recover = (performance.now() - t1) / n;
  say(`one pkcs11 transfer signature: ${total.toFixed(2)} ms = token C_SignInit+C_Sign ${(tokenMs / n - recover).toFixed(2)} ms + recovery id ${recover.toFixed(2)} ms + encoding and hashing ${(total - tokenMs / n).toFixed(2)} ms\n`);
}

await main();
