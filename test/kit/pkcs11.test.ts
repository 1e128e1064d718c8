import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Signature, Transaction, Wallet, verifyMessage, verifyTypedData } from 'ethers';
import { ConfigError, loadConfig } from '../../subgraphs/kit/config.js';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { openKeyStore, optionalKeyRef, pkcs11Ref, signerSettings, tokenSigner, type KeyStore } from '../../subgraphs/kit/signer/index.js';
import { walletKeys } from '../../subgraphs/custody/keys.js';
import { openCustodyAccount } from '../../subgraphs/custody/accounts.js';
import { hsmEnv, testHsm } from '../support/hsm.js';
import { KEK, knowsEveryInvestor, openCustodyDb, user } from '../custody/support.js';

const HALF_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n >> 1n;
const hsm = testHsm();
if (!hsm) process.stderr.write('skipped: the PKCS#11 tests need SoftHSM2 (apt-get install softhsm2); CI installs it\n');
const withHsm = hsm ? describe : describe.skip;

const run = (entry: string, env: Record<string, string>) =>
  spawnSync(process.execPath, ['--import', 'tsx', entry], {
    cwd: fromRoot(), encoding: 'utf8', timeout: 60_000,
    env: { PATH: process.env.PATH!, SERVICE_SECRET: 's'.repeat(32), AUTH_JWT_SECRET: 'j'.repeat(32), PORT: '0', DATABASE_URL: 'memory://', ...env },
  });

const label = (what: string) => `test/${what}/${randomBytes(6).toString('hex')}`;
const TYPES = { Order: [{ name: 'who', type: 'address' }, { name: 'amount', type: 'uint256' }] };

describe('signer settings', () => {
  test('a key setting takes a private key or pkcs11:object=<label>, nothing else', () => {
    const spec = { K: optionalKeyRef('a key') };
    expect(loadConfig(spec, { K: 'pkcs11:object=settlement-operator' }).K).toBe('pkcs11:object=settlement-operator');
    for (const bad of ['pkcs11:object=', 'pkcs11:object=a b', 'pkcs11:id=1', '0x12', 'x'.repeat(300)]) {
      expect(() => loadConfig(spec, { K: bad })).toThrow(/K must be 32 bytes as 0x-prefixed hex or pkcs11:object=<label>/);
    }
  });

  test('SIGNER=pkcs11 without a module, or software given a label, is refused naming the setting', () => {
    expect(() => openKeyStore({ SIGNER: 'pkcs11', PKCS11_PIN: '1' })).toThrow(new ConfigError('PKCS11_MODULE', 'must be set when SIGNER=pkcs11 (the path of the HSM\'s PKCS#11 library)'));
    expect(() => openKeyStore({ SIGNER: 'software' }).signer('SETTLEMENT_OPERATOR_KEY', pkcs11Ref('op'))).toThrow(/SETTLEMENT_OPERATOR_KEY names a key in an HSM but SIGNER is software/);
    expect(() => loadConfig({ SIGNER: signerSettings.SIGNER }, { SIGNER: 'hsm' })).toThrow(/SIGNER must be one of software, pkcs11/);
  });

  test('a custody process with SIGNER=pkcs11 and no module stops at start naming PKCS11_MODULE', () => {
    const r = run('subgraphs/custody/main.ts', { SIGNER: 'pkcs11', PKCS11_PIN: '1' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('PKCS11_MODULE must be set when SIGNER=pkcs11');
  });
});

withHsm('keys inside a PKCS#11 token (SoftHSM2)', () => {
  let store: KeyStore;
  beforeAll(() => {
    store = openKeyStore(hsm!);
  });

  test('a key pair generated in the token signs transactions, messages and EIP-712 data that ethers recovers to its address, always low-s', async () => {
    const key = store.token!.generate(label('signing'));
    const signer = tokenSigner(store.token!, key);
    expect(signer.address).toBe(key.address);
    for (let i = 0; i < 12; i++) {
      const raw = await signer.signTransaction({ type: 2, chainId: 31337, nonce: i, to: Wallet.createRandom().address, value: BigInt(i), gasLimit: 21_000n, maxFeePerGas: 2n, maxPriorityFeePerGas: 1n });
      const tx = Transaction.from(raw);
      expect(tx.from).toBe(key.address);
      expect(BigInt(tx.signature!.s) <= HALF_N).toBe(true);
      const message = `message ${i}`;
      const sig = await signer.signMessage(message);
      expect(verifyMessage(message, sig)).toBe(key.address);
      expect(BigInt(Signature.from(sig).s) <= HALF_N).toBe(true);
      const domain = { name: 'Test', version: '1', chainId: 31337 };
      const value = { who: key.address, amount: BigInt(i) };
      expect(verifyTypedData(domain, TYPES, value, await signer.signTypedData(domain, TYPES, value))).toBe(key.address);
    }
    await expect(signer.signTransaction({ from: Wallet.createRandom().address, to: key.address, chainId: 1, nonce: 0, gasLimit: 21_000n, gasPrice: 1n })).rejects.toThrow(/from address mismatch/);
  });

  test('the private key cannot be read out: C_GetAttributeValue of CKA_VALUE is refused, for generated and imported keys', () => {
    const generated = store.token!.generate(label('sealed'));
    expect(() => store.token!.readPrivateValue(generated.label)).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    const dev = Wallet.createRandom();
    const imported = store.token!.importKey(label('imported'), dev.privateKey);
    expect(imported.address).toBe(dev.address);
    expect(() => store.token!.readPrivateValue(imported.label)).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
    // A second key under a label in use is refused, not silently added.
    expect(() => store.token!.generate(generated.label)).toThrow(/already holds a key/);
    expect(() => store.token!.importKey(imported.label, Wallet.createRandom().privateKey)).toThrow(/holds another key/);
  });

  test('a session the HSM dropped (restart, reconnect) is opened again: the next signature comes out of the same key', async () => {
    const key = store.token!.generate(label('dropped'));
    const signer = tokenSigner(store.token!, key);
    store.token!.dropSessions();
    expect(verifyMessage('after the drop', await signer.signMessage('after the drop'))).toBe(key.address);
    store.token!.dropSessions();
    expect(store.token!.key(key.label)?.address).toBe(key.address);
    expect(store.token!.generate(label('after-drop')).address).toMatch(/^0x[0-9a-fA-F]{40}$/);
  });

  test('a service key setting names a key by label; a private key in the setting or an unknown label is refused naming the setting', () => {
    const key = store.token!.generate(label('service'));
    expect(store.signer('SETTLEMENT_ATTESTATION_KEY', pkcs11Ref(key.label)).address).toBe(key.address);
    expect(() => store.signer('SETTLEMENT_ATTESTATION_KEY', Wallet.createRandom().privateKey)).toThrow(/SETTLEMENT_ATTESTATION_KEY holds a private key, but with SIGNER=pkcs11 keys stay in the HSM/);
    expect(() => store.signer('ISSUANCE_AGENT_KEY', pkcs11Ref('no-such-key'))).toThrow(/ISSUANCE_AGENT_KEY names no key labelled no-such-key/);
  });

  describe('custody wallets', () => {
    let db: Db;
    let cleanup: () => Promise<void>;
    beforeAll(async () => ({ db, cleanup } = await openCustodyDb()));
    afterAll(() => cleanup());

    const open = (keys: ReturnType<typeof walletKeys>, org: string) => openCustodyAccount(db, keys, user(org, `${org}-opener`, ['CUSTODIAN']), {
      idempotencyKey: randomBytes(8).toString('hex'), investorId: `inv_${randomBytes(13).toString('hex')}`, kind: 'SEGREGATED',
    }, knowsEveryInvestor);
    const walletRow = async (accountId: string) => (await db.query<{ address: string; encrypted_key: Buffer | null; kek_id: string | null; key_label: string | null }>(
      'SELECT address, encrypted_key, kek_id, key_label FROM wallets WHERE account_id = $1', [accountId]))[0];

    test('an account opened with SIGNER=pkcs11 gets a key generated in the token: the row holds its label and address, no key material', async () => {
      const keys = walletKeys(undefined, store);
      const account = await open(keys, 'hsm-bank');
      const row = await walletRow(account.id);
      expect(row.encrypted_key).toBeNull();
      expect(row.kek_id).toBeNull();
      expect(row.key_label).toMatch(new RegExp(`^custody/${account.id}/wal_`));
      const key = store.token!.key(row.key_label!)!;
      expect(key.address).toBe(row.address);
      expect(() => store.token!.readPrivateValue(row.key_label!)).toThrow(/CKR_ATTRIBUTE_SENSITIVE/);
      const signer = await keys.signer(db, row.address);
      expect(verifyMessage('consent', await signer.signMessage('consent'))).toBe(row.address);
      // Nothing in the row can be both: the database refuses a wallet with a label and a sealed key.
      await expect(db.query('UPDATE wallets SET encrypted_key = $2, kek_id = $3 WHERE address = $1', [row.address, Buffer.alloc(44), 'k'])).rejects.toThrow(/wallets_one_key/);
    });

    test('wallets sealed in software before the move keep signing under SIGNER=pkcs11 while CUSTODY_KEK is set, and say why when it is not', async () => {
      const before = await open(walletKeys(KEK, openKeyStore({ SIGNER: 'software' })), 'moving-bank');
      const sealed = await walletRow(before.id);
      expect(sealed.encrypted_key).not.toBeNull();
      const during = walletKeys(KEK, store);
      const signer = await during.signer(db, sealed.address);
      expect(signer).toBeInstanceOf(Wallet);
      expect(verifyMessage('still mine', await signer.signMessage('still mine'))).toBe(sealed.address);
      await expect(walletKeys(undefined, store).signer(db, sealed.address)).rejects.toThrow(/sealed in software and CUSTODY_KEK is not set/);
      // The other way round: a software-only process cannot sign for an HSM wallet.
      const inHsm = await walletRow((await open(during, 'moving-bank')).id);
      await expect(walletKeys(KEK, openKeyStore({ SIGNER: 'software' })).signer(db, inHsm.address)).rejects.toThrow(/is not in this process: SIGNER is software/);
      expect(() => walletKeys(undefined, openKeyStore({ SIGNER: 'software' }))).toThrow(/CUSTODY_KEK is required when SIGNER=software/);
    });
  });

  test('a subgraph stops at start naming a wrong token label, a wrong PIN, a missing or unreadable PIN file, or a private key in a key setting', () => {
    const env = hsmEnv(hsm!);
    const cases: [string, Record<string, string>, string][] = [
      ['subgraphs/custody/main.ts', { ...env, PKCS11_TOKEN_LABEL: 'no-such-token' }, 'PKCS11_TOKEN_LABEL names no token'],
      ['subgraphs/issuance/main.ts', { ...env, PKCS11_PIN: '000000', PKCS11_PIN_FILE: '' }, 'PKCS11_PIN was refused'],
      ['subgraphs/settlement/main.ts', { ...env, SETTLEMENT_ATTESTATION_KEY: Wallet.createRandom().privateKey }, 'SETTLEMENT_ATTESTATION_KEY holds a private key'],
    ];
    for (const [entry, e, expected] of cases) {
      const r = run(entry, e);
      expect({ entry, status: r.status, named: r.stderr.includes(expected) }).toEqual({ entry, status: 1, named: true });
    }
    expect(() => openKeyStore({ ...hsm!, PKCS11_PIN: undefined, PKCS11_PIN_FILE: join(tmpdir(), 'no-such-pin-file') })).toThrow(/PKCS11_PIN_FILE cannot be read/);
    expect(() => openKeyStore({ ...hsm!, PKCS11_PIN: undefined, PKCS11_PIN_FILE: undefined })).toThrow(/PKCS11_PIN or PKCS11_PIN_FILE must be set/);
  });
});
