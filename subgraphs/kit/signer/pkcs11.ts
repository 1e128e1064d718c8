/**
 * secp256k1 keys inside a PKCS#11 token (an HSM; SoftHSM2 in tests) through the pkcs11js binding.
 * Key pairs are generated in the token as sensitive and non-extractable; only the public key
 * (CKA_EC_POINT) is ever read. A digest goes in, an ECDSA (r, s) comes out (CKM_ECDSA); the
 * recovery id is found by recovering against the public key, and s is normalised to the lower
 * half of the curve order (EIP-2), which the token does not do.
 */
import { createRequire } from 'node:module';
import { Signature, SigningKey, computeAddress, getBytes, hexlify, toBeHex, type SignatureLike } from 'ethers';
import { ConfigError } from '../config.js';

/** The part of pkcs11js used here, declared locally: the package is optional and may be absent. */
type Handle = Buffer;
interface Attr { type: number; value?: number | boolean | string | Buffer }
interface Pkcs11Api {
  load(path: string): void;
  C_Initialize(): void;
  C_GetSlotList(tokenPresent?: boolean): Handle[];
  C_GetTokenInfo(slot: Handle): { label: string; serialNumber: string };
  C_OpenSession(slot: Handle, flags: number): Handle;
  C_CloseAllSessions(slot: Handle): void;
  C_Login(session: Handle, userType: number, pin?: string): void;
  C_FindObjectsInit(session: Handle, template: Attr[]): void;
  C_FindObjects(session: Handle, max: number): Handle[];
  C_FindObjectsFinal(session: Handle): void;
  C_GetAttributeValue(session: Handle, object: Handle, template: Attr[]): { type: number; value: Buffer }[];
  C_GenerateKeyPair(session: Handle, mechanism: { mechanism: number }, pub: Attr[], priv: Attr[]): { publicKey: Handle; privateKey: Handle };
  C_CreateObject(session: Handle, template: Attr[]): Handle;
  C_SignInit(session: Handle, mechanism: { mechanism: number }, key: Handle): void;
  C_Sign(session: Handle, data: Buffer, out: Buffer): Buffer;
}
type Pkcs11Module = { PKCS11: new () => Pkcs11Api } & Record<string, number>;

export interface Pkcs11Options {
  /** Path of the vendor's PKCS#11 library (.so). */
  module: string;
  /** The token, by label (preferred) or by slot index in C_GetSlotList(true). */
  tokenLabel?: string;
  slot?: number;
  pin: string;
}

/** DER of OID 1.3.132.0.10 (secp256k1), the CKA_EC_PARAMS of every key here. */
const SECP256K1_PARAMS = Buffer.from('06052b8104000a', 'hex');
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const HALF_N = N >> 1n;

export interface TokenKey {
  label: string;
  address: string;
  /** Uncompressed public key, 0x04‖x‖y. */
  publicKey: string;
  handle: Handle;
}

let binding: Pkcs11Module | undefined;
function loadBinding(): Pkcs11Module {
  if (binding) return binding;
  try {
    binding = createRequire(import.meta.url)('pkcs11js') as Pkcs11Module;
  } catch (e) {
    throw new ConfigError('SIGNER', `is pkcs11 but the optional package pkcs11js is not installed or did not build (${(e as Error).message.split('\n')[0]}); run npm install on a machine with a C++ compiler`);
  }
  return binding;
}

/** The uncompressed point inside CKA_EC_POINT (a DER OCTET STRING per the standard; some tokens give it raw). */
function pointOf(ecPoint: Buffer): string {
  if (ecPoint.length === 65 && ecPoint[0] === 4) return hexlify(ecPoint);
  if (ecPoint.length === 67 && ecPoint[0] === 4 && ecPoint[1] === 65 && ecPoint[2] === 4) return hexlify(ecPoint.subarray(2));
  throw new Error(`unexpected CKA_EC_POINT of ${ecPoint.length} bytes`);
}

const opened = new Map<string, Pkcs11Token>();

/** A session the token no longer knows (HSM restarted, network HSM reconnected, sessions closed): open another and log in again. */
const LOST_SESSION = /CKR_SESSION_HANDLE_INVALID|CKR_SESSION_CLOSED|CKR_USER_NOT_LOGGED_IN|CKR_OBJECT_HANDLE_INVALID|CKR_KEY_HANDLE_INVALID|CKR_DEVICE_REMOVED|CKR_TOKEN_NOT_PRESENT/;

/** One logged-in session per module and token in a process; calls are synchronous, so none interleave on it. */
export class Pkcs11Token {
  private readonly keys = new Map<string, TokenKey>();
  private session: Handle;

  private constructor(private readonly p: Pkcs11Api, private readonly c: Pkcs11Module, private readonly slot: Handle, private readonly pin: string, readonly label: string) {
    this.session = this.login();
  }

  private login(): Handle {
    const session = this.p.C_OpenSession(this.slot, this.c.CKF_SERIAL_SESSION | this.c.CKF_RW_SESSION);
    try {
      this.p.C_Login(session, this.c.CKU_USER, this.pin);
    } catch (e) {
      if (/CKR_PIN_INCORRECT|CKR_PIN_LEN_RANGE|CKR_PIN_INVALID/.test(String(e))) throw new ConfigError('PKCS11_PIN', `was refused by token "${this.label}"`);
      if (!/CKR_USER_ALREADY_LOGGED_IN/.test(String(e))) throw e;
    }
    return session;
  }

  /** Runs fn; when the token lost the session, logs in on a new one (key handles looked up again) and runs it once more. */
  private live<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      if (!LOST_SESSION.test(String(e))) throw e;
      this.keys.clear();
      this.session = this.login();
      return fn();
    }
  }

  /** Ends every session of this application on the token (what an HSM restart does to them); for tests of recovery. */
  dropSessions(): void {
    this.p.C_CloseAllSessions(this.slot);
  }

  /** Opens (or reuses) the token; a wrong module, token or PIN throws ConfigError naming the setting. */
  static open(o: Pkcs11Options): Pkcs11Token {
    const id = `${o.module}\n${o.tokenLabel ?? ''}\n${o.slot ?? ''}`;
    const known = opened.get(id);
    if (known) return known;
    const c = loadBinding();
    const p = new c.PKCS11();
    try {
      p.load(o.module);
    } catch (e) {
      throw new ConfigError('PKCS11_MODULE', `could not be loaded from ${o.module}: ${(e as Error).message}`);
    }
    try {
      p.C_Initialize();
    } catch (e) {
      if (!/CKR_CRYPTOKI_ALREADY_INITIALIZED/.test(String(e))) throw e;
    }
    const slots = p.C_GetSlotList(true);
    const labels = slots.map((s) => p.C_GetTokenInfo(s).label.trim());
    let index: number;
    if (o.tokenLabel !== undefined) {
      index = labels.indexOf(o.tokenLabel);
      if (index < 0) throw new ConfigError('PKCS11_TOKEN_LABEL', `names no token in ${o.module} (tokens: ${labels.join(', ') || 'none'})`);
    } else {
      index = o.slot ?? 0;
      if (index >= slots.length) throw new ConfigError('PKCS11_SLOT', `is ${index} but ${o.module} has ${slots.length} slot(s) with a token`);
    }
    const token = new Pkcs11Token(p, c, slots[index], o.pin, labels[index]);
    opened.set(id, token);
    return token;
  }

  private find(template: Attr[]): Handle[] {
    this.p.C_FindObjectsInit(this.session, template);
    try {
      return this.p.C_FindObjects(this.session, 2);
    } finally {
      this.p.C_FindObjectsFinal(this.session);
    }
  }

  private publicKeyOf(label: string): string | undefined {
    const [pub] = this.find([{ type: this.c.CKA_CLASS, value: this.c.CKO_PUBLIC_KEY }, { type: this.c.CKA_LABEL, value: label }]);
    if (!pub) return undefined;
    const [point] = this.p.C_GetAttributeValue(this.session, pub, [{ type: this.c.CKA_EC_POINT }]);
    return pointOf(point.value);
  }

  /** The key pair labelled so, or undefined. */
  key(label: string): TokenKey | undefined {
    return this.live(() => this.lookUp(label));
  }

  private lookUp(label: string): TokenKey | undefined {
    const cached = this.keys.get(label);
    if (cached) return cached;
    const [handle] = this.find([{ type: this.c.CKA_CLASS, value: this.c.CKO_PRIVATE_KEY }, { type: this.c.CKA_LABEL, value: label }]);
    const publicKey = handle && this.publicKeyOf(label);
    if (!handle || !publicKey) return undefined;
    const k = { label, address: computeAddress(publicKey), publicKey, handle };
    this.keys.set(label, k);
    return k;
  }

  private templates(label: string, id: Buffer): { pub: Attr[]; priv: Attr[] } {
    const c = this.c;
    const common = [{ type: c.CKA_KEY_TYPE, value: c.CKK_EC }, { type: c.CKA_TOKEN, value: true }, { type: c.CKA_LABEL, value: label }, { type: c.CKA_ID, value: id }];
    return {
      pub: [{ type: c.CKA_CLASS, value: c.CKO_PUBLIC_KEY }, ...common, { type: c.CKA_EC_PARAMS, value: SECP256K1_PARAMS }, { type: c.CKA_VERIFY, value: true }],
      priv: [
        { type: c.CKA_CLASS, value: c.CKO_PRIVATE_KEY }, ...common, { type: c.CKA_PRIVATE, value: true }, { type: c.CKA_SIGN, value: true },
        { type: c.CKA_SENSITIVE, value: true }, { type: c.CKA_EXTRACTABLE, value: false },
      ],
    };
  }

  /** A new secp256k1 key pair generated inside the token, never extractable. */
  generate(label: string): TokenKey {
    return this.live(() => this.generateIn(label));
  }

  private generateIn(label: string): TokenKey {
    if (this.lookUp(label)) throw new Error(`the token already holds a key labelled ${label}`);
    const t = this.templates(label, Buffer.from(label));
    this.p.C_GenerateKeyPair(this.session, { mechanism: this.c.CKM_EC_KEY_PAIR_GEN }, t.pub, t.priv);
    return this.lookUp(label)!;
  }

  /**
   * Moves an existing private key into the token (a service key that predates the HSM, or a dev
   * key), non-extractable from then on. Idempotent per label and key; the caller erases its copy.
   */
  importKey(label: string, privateKey: string): TokenKey {
    const sk = new SigningKey(privateKey);
    const have = this.key(label);
    if (have) {
      if (have.publicKey !== sk.publicKey) throw new Error(`the token holds another key labelled ${label}`);
      return have;
    }
    const t = this.templates(label, Buffer.from(label));
    const point = Buffer.concat([Buffer.from([4, 65]), getBytes(sk.publicKey)]);
    this.p.C_CreateObject(this.session, [...t.pub, { type: this.c.CKA_EC_POINT, value: point }]);
    this.p.C_CreateObject(this.session, [...t.priv, { type: this.c.CKA_EC_PARAMS, value: SECP256K1_PARAMS }, { type: this.c.CKA_VALUE, value: Buffer.from(getBytes(sk.privateKey)) }]);
    return this.key(label)!;
  }

  /** Every secp256k1 key pair in the token (labels in the token's order). */
  list(): TokenKey[] {
    this.p.C_FindObjectsInit(this.session, [{ type: this.c.CKA_CLASS, value: this.c.CKO_PRIVATE_KEY }, { type: this.c.CKA_KEY_TYPE, value: this.c.CKK_EC }]);
    const handles: Handle[] = [];
    try {
      for (let batch = this.p.C_FindObjects(this.session, 100); batch.length; batch = this.p.C_FindObjects(this.session, 100)) handles.push(...batch);
    } finally {
      this.p.C_FindObjectsFinal(this.session);
    }
    const labels = handles.map((h) => this.p.C_GetAttributeValue(this.session, h, [{ type: this.c.CKA_LABEL }])[0].value.toString('utf8'));
    return labels.map((l) => this.key(l)).filter((k): k is TokenKey => !!k);
  }

  /** Asks the token for the private value (CKA_VALUE); a conforming token refuses (CKR_ATTRIBUTE_SENSITIVE). */
  readPrivateValue(label: string): Buffer {
    const k = this.key(label);
    if (!k) throw new Error(`no key labelled ${label}`);
    return this.p.C_GetAttributeValue(this.session, k.handle, [{ type: this.c.CKA_VALUE }])[0].value;
  }

  /** Signs a 32-byte digest inside the token: low-s, with the recovery id that gives back the key's address. */
  sign(key: TokenKey, digest: string): Signature {
    const rs = this.live(() => {
      const handle = this.lookUp(key.label)?.handle;
      if (!handle) throw new Error(`the token no longer holds the key ${key.label}`);
      this.p.C_SignInit(this.session, { mechanism: this.c.CKM_ECDSA }, handle);
      return this.p.C_Sign(this.session, Buffer.from(getBytes(digest)), Buffer.alloc(64));
    });
    if (rs.length !== 64) throw new Error(`CKM_ECDSA gave ${rs.length} bytes, expected r‖s of 64`);
    const r = hexlify(rs.subarray(0, 32));
    let s = BigInt(hexlify(rs.subarray(32)));
    if (s > HALF_N) s = N - s;
    for (const v of [27, 28] as const) {
      const sig = Signature.from({ r, s: toBeHex(s, 32), v } as SignatureLike);
      if (SigningKey.recoverPublicKey(digest, sig) === key.publicKey) return sig;
    }
    throw new Error(`the token's signature does not recover to ${key.address}`);
  }
}
