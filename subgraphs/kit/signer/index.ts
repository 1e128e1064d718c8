/**
 * Where chain keys live and sign. Every place that signs (custody wallets, issuance's agent and
 * claim signer, settlement's operator and attestation key) takes an ethers signer from here:
 *
 * - software (the default, nothing to install): a service key is a private key in a setting,
 *   custody's wallet keys are sealed in its database under CUSTODY_KEK;
 * - pkcs11: keys are generated in (or once imported into) an HSM and sign there; a service key
 *   setting names the key by label (pkcs11:object=<label>) and only the PIN is configuration.
 */
import { readFileSync } from 'node:fs';
import { AbstractSigner, Wallet, type Provider } from 'ethers';
import { ConfigError, int, loadConfig, oneOf, optionalStr, type Setting } from '../config.js';
import { DigestSigner } from './digest-signer.js';
import { Pkcs11Token, type TokenKey } from './pkcs11.js';

export { DigestSigner, signDigestWith } from './digest-signer.js';
export { typedDataHasher } from './typed-data.js';
export { Pkcs11Token, type TokenKey } from './pkcs11.js';

export type SignerKind = 'software' | 'pkcs11';
/** What every signing place gets: an ethers signer with its address at hand (a Wallet has the same shape). */
export type KitSigner = AbstractSigner & { readonly address: string };

const optionalInt = (doc: string, min: number, max: number): Setting<number | undefined> => ({ ...int(doc, undefined, min, max), default: undefined });

/** The signer settings of every subgraph that signs (README, "Keys and HSM"). */
export const signerSettings = {
  SIGNER: oneOf('where chain keys live and sign: software (private keys in settings, custody wallet keys sealed under CUSTODY_KEK) or pkcs11 (an HSM)', ['software', 'pkcs11'] as const, 'software'),
  PKCS11_MODULE: optionalStr('SIGNER=pkcs11: path of the HSM vendor\'s PKCS#11 library (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)'),
  PKCS11_TOKEN_LABEL: optionalStr('SIGNER=pkcs11: label of the token holding the keys (or PKCS11_SLOT)'),
  PKCS11_SLOT: optionalInt('SIGNER=pkcs11: index of the token among the slots with a token, when no PKCS11_TOKEN_LABEL is given', 0, 1_000),
  PKCS11_PIN: optionalStr('SIGNER=pkcs11: the token\'s user PIN (or PKCS11_PIN_FILE)'),
  PKCS11_PIN_FILE: optionalStr('SIGNER=pkcs11: file holding the token\'s user PIN (trailing newline ignored)'),
};

export interface SignerConfig {
  SIGNER: SignerKind;
  PKCS11_MODULE?: string;
  PKCS11_TOKEN_LABEL?: string;
  PKCS11_SLOT?: number;
  PKCS11_PIN?: string;
  PKCS11_PIN_FILE?: string;
}

const PKCS11_REF = /^pkcs11:object=([\x21-\x7e]{1,128})$/;

/** A service key setting: a private key (0x and 64 hex digits) with SIGNER=software, pkcs11:object=<label> with SIGNER=pkcs11. */
export const optionalKeyRef = (doc: string): Setting<string | undefined> => ({
  doc: `${doc} (0x-hex private key; with SIGNER=pkcs11: pkcs11:object=<label> of a key in the token)`,
  default: undefined,
  parse(raw, name) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(raw) && !PKCS11_REF.test(raw)) throw new ConfigError(name, 'must be 32 bytes as 0x-prefixed hex or pkcs11:object=<label>');
    return raw;
  },
});

export const pkcs11Ref = (label: string): string => `pkcs11:object=${label}`;

export interface KeyStore {
  readonly kind: SignerKind;
  /** The token with SIGNER=pkcs11. */
  readonly token?: Pkcs11Token;
  /** The signer a service key setting names; a value of the other kind, or a label the token lacks, is a ConfigError naming the setting. */
  signer(setting: string, ref: string, provider?: Provider | null): KitSigner;
}

/** A signer of a key inside the token. */
export const tokenSigner = (token: Pkcs11Token, key: TokenKey, provider: Provider | null = null): KitSigner =>
  new DigestSigner(key.address, (digest) => token.sign(key, digest), provider);

function pinOf(c: SignerConfig): string {
  if (c.PKCS11_PIN) return c.PKCS11_PIN;
  if (!c.PKCS11_PIN_FILE) throw new ConfigError('PKCS11_PIN', 'or PKCS11_PIN_FILE must be set when SIGNER=pkcs11');
  try {
    return readFileSync(c.PKCS11_PIN_FILE, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new ConfigError('PKCS11_PIN_FILE', `cannot be read: ${(e as Error).message}`);
  }
}

/** Opens the configured key store; a missing or wrong setting throws ConfigError naming it (the process stops at start). */
export function openKeyStore(c: SignerConfig): KeyStore {
  if (c.SIGNER === 'software') {
    return {
      kind: 'software',
      signer(setting, ref, provider = null) {
        if (!ref.startsWith('0x')) throw new ConfigError(setting, 'names a key in an HSM but SIGNER is software');
        return new Wallet(ref, provider);
      },
    };
  }
  if (!c.PKCS11_MODULE) throw new ConfigError('PKCS11_MODULE', 'must be set when SIGNER=pkcs11 (the path of the HSM\'s PKCS#11 library)');
  const token = Pkcs11Token.open({ module: c.PKCS11_MODULE, tokenLabel: c.PKCS11_TOKEN_LABEL, slot: c.PKCS11_SLOT, pin: pinOf(c) });
  return {
    kind: 'pkcs11',
    token,
    signer(setting, ref, provider = null) {
      const label = PKCS11_REF.exec(ref)?.[1];
      if (!label) throw new ConfigError(setting, 'holds a private key, but with SIGNER=pkcs11 keys stay in the HSM: give pkcs11:object=<label> (npm run hsm -- import or generate)');
      const key = token.key(label);
      if (!key) throw new ConfigError(setting, `names no key labelled ${label} in token "${token.label}"`);
      return tokenSigner(token, key, provider);
    },
  };
}

/** The signer of an optional key setting of this process, undefined when it is unset; the key store is checked either way. */
export function settingSigner<C extends SignerConfig, K extends keyof C & string>(config: C & Record<K, string | undefined>, name: K): KitSigner | undefined {
  const store = openKeyStore(config);
  const ref = config[name];
  return ref ? store.signer(name, ref) : undefined;
}

/** This environment's signer settings (SIGNER, PKCS11_*), to hand on to subgraphs started in-process. */
export function signerEnvOf(env: Record<string, string | undefined> = process.env): Record<string, string | undefined> {
  return Object.fromEntries(Object.keys(signerSettings).map((k) => [k, env[k]]));
}

/**
 * Key settings of a stack whose keys are known beforehand (anvil's dev keys, test keys): passed
 * as they are with SIGNER=software; with SIGNER=pkcs11 each is imported once into the token
 * (label imported/<address>) and named by label, so the services sign inside it.
 */
export function knownKeyEnv(keys: Record<string, string | undefined>, env: Record<string, string | undefined> = process.env): Record<string, string | undefined> {
  const config = loadConfig(signerSettings, env);
  const out = signerEnvOf(env);
  const store = config.SIGNER === 'pkcs11' ? openKeyStore(config) : undefined;
  for (const [name, key] of Object.entries(keys)) {
    out[name] = store?.token && key?.startsWith('0x') ? pkcs11Ref(store.token.importKey(`imported/${new Wallet(key).address}`, key).label) : key;
  }
  return out;
}
