import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type JWTPayload } from 'jose';

type Alg = 'RS256' | 'ES256';
interface SigningKey { kid: string; alg: Alg; privateKey: CryptoKey; publicJwk: Record<string, unknown>; publicPem: string }

/**
 * An identity provider's key set on loopback: serves its current public keys
 * at /jwks.json, signs tokens with the newest, and rotates on demand (the old
 * key leaves the set). Counts fetches, so a test can see the verifier's cache.
 */
export class LocalJwks {
  fetches = 0;
  keys: SigningKey[] = [];
  private server!: Server;
  url = '';
  private generation = 0;

  async start(alg: Alg = 'RS256'): Promise<this> {
    await this.rotate(alg);
    this.server = createServer((req, res) => {
      if (req.url !== '/jwks.json') return void res.writeHead(404).end();
      this.fetches++;
      const body = JSON.stringify({ keys: this.keys.map((k) => ({ ...k.publicJwk, kid: k.kid, alg: k.alg, use: 'sig' })) });
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`;
    return this;
  }

  /** A new key replaces the current one in the set. */
  async rotate(alg: Alg = 'RS256'): Promise<SigningKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    const key: SigningKey = { kid: `key-${++this.generation}`, alg, privateKey, publicJwk: await exportJWK(publicKey) as Record<string, unknown>, publicPem: await exportSPKI(publicKey) };
    this.keys = [key];
    return key;
  }

  get current(): SigningKey {
    return this.keys[0];
  }

  /** Signs claims with a key (the current one by default); iat and exp are taken from the claims when given. */
  async sign(claims: JWTPayload, o: { key?: SigningKey; issuer?: string; audience?: string; lifetimeSeconds?: number } = {}): Promise<string> {
    const key = o.key ?? this.current;
    const now = Math.floor(Date.now() / 1000);
    const iat = claims.iat ?? now;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
      .setIssuer(o.issuer ?? 'tokenstack')
      .setAudience(o.audience ?? 'tokenstack-api')
      .setIssuedAt(iat)
      .setExpirationTime(claims.exp ?? iat + (o.lifetimeSeconds ?? 600))
      .sign(key.privateKey);
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.server.close(r));
  }
}
