import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { ROLES, type Role } from '../../subgraphs/kit/auth.js';
import type { Manifest } from './manifest.js';

/**
 * What a client may run. ALLOW_ALL: anything (persisted ids, APQ, free text);
 * LOG_UNKNOWN: the same, and what is not in its list is logged; SAFELIST: only
 * operations of its list, by id or by their text; IDS_ONLY: only ids of its list.
 */
export const MODES = ['ALLOW_ALL', 'LOG_UNKNOWN', 'SAFELIST', 'IDS_ONLY'] as const;
export type Mode = (typeof MODES)[number];

/** A partner as stored in the partners file (GATEWAY_PARTNERS_PATH). Keys are kept only as sha256 hashes. */
export interface PartnerEntry {
  name: string;
  org: string;
  roles: Role[];
  mode: Mode;
  /** Operation names or ids of the manifest; "*" for all of them. */
  operations: string[];
  /** sha256 hex of each valid API key (more than one while a key is being rotated). */
  keys: string[];
}

export interface PartnersFile {
  partners: PartnerEntry[];
}

/** A partner ready for requests: its list resolved to manifest ids. */
export interface Partner {
  name: string;
  org: string;
  roles: Role[];
  mode: Mode;
  allowed: ReadonlySet<string>;
}

export const hashApiKey = (key: string): string => createHash('sha256').update(key, 'utf8').digest('hex');

/** 32 random bytes; the prefix lets secret scanners and people recognise a partner key. */
export const newApiKey = (): string => `tsp_${randomBytes(32).toString('base64url')}`;

/** Checks a parsed partners file; throws naming the partner and the field. */
export function checkPartnersFile(v: unknown): PartnersFile {
  const partners = (v as PartnersFile | null)?.partners;
  if (!Array.isArray(partners)) throw new Error('expected {"partners": [...]}');
  const names = new Set<string>();
  const keys = new Set<string>();
  for (const p of partners) {
    const who = `partner ${JSON.stringify(p?.name)}`;
    if (typeof p?.name !== 'string' || !p.name) throw new Error('every partner needs a name');
    if (names.has(p.name)) throw new Error(`${who} is listed twice`);
    names.add(p.name);
    if (typeof p.org !== 'string' || !p.org) throw new Error(`${who} needs an org`);
    if (!Array.isArray(p.roles) || p.roles.length === 0 || !p.roles.every((r) => ROLES.includes(r))) throw new Error(`${who}: roles must be some of ${ROLES.join(', ')}`);
    if (!MODES.includes(p.mode)) throw new Error(`${who}: mode must be one of ${MODES.join(', ')}`);
    if (!Array.isArray(p.operations) || !p.operations.every((o) => typeof o === 'string')) throw new Error(`${who}: operations must be a list of names or ids`);
    if (!Array.isArray(p.keys) || p.keys.length === 0) throw new Error(`${who} needs at least one key hash`);
    for (const k of p.keys) {
      if (typeof k !== 'string' || !/^[0-9a-f]{64}$/.test(k)) throw new Error(`${who}: keys are sha256 hex hashes, never the keys themselves`);
      if (keys.has(k)) throw new Error(`${who}: a key hash is used twice`);
      keys.add(k);
    }
  }
  return { partners };
}

/** The list's names and ids as manifest ids; an entry the manifest does not hold is an error (a typo would lock a partner out). */
export function resolveList(operations: string[], manifest: Manifest, who: string): Set<string> {
  const ids = new Set<string>();
  for (const ref of operations) {
    if (ref === '*') {
      for (const op of manifest.operations) ids.add(op.id);
      continue;
    }
    const op = manifest.operations.find((o) => o.id === ref || o.name === ref);
    if (!op) throw new Error(`${who}: operation ${JSON.stringify(ref)} is not in the persisted operation manifest`);
    ids.add(op.id);
  }
  return ids;
}

/** key hash -> partner. */
export function partnersByKeyHash(file: PartnersFile, manifest: Manifest): Map<string, Partner> {
  const out = new Map<string, Partner>();
  for (const p of file.partners) {
    const partner: Partner = { name: p.name, org: p.org, roles: p.roles, mode: p.mode, allowed: resolveList(p.operations, manifest, `partner ${p.name}`) };
    for (const k of p.keys) out.set(k, partner);
  }
  return out;
}

export const readPartnersFile = (path: string): PartnersFile =>
  existsSync(path) ? checkPartnersFile(JSON.parse(readFileSync(path, 'utf8'))) : { partners: [] };

const writePartnersFile = (path: string, f: PartnersFile): void => writeFileSync(path, JSON.stringify(f, null, 2) + '\n', { mode: 0o600 });

/**
 * Adds a partner with a new key, or (rotation) a new key to a partner that
 * exists. Returns the key: it is shown once and never stored.
 */
export function addPartnerKey(path: string, manifest: Manifest, p: Omit<PartnerEntry, 'keys'> | { name: string }): { key: string; created: boolean } {
  const file = readPartnersFile(path);
  const key = newApiKey();
  const existing = file.partners.find((x) => x.name === p.name);
  if (existing) existing.keys.push(hashApiKey(key));
  else if ('org' in p) file.partners.push({ ...p, keys: [hashApiKey(key)] });
  else throw new Error(`partner ${p.name} does not exist: give --org, --roles, --mode and --operations to add it`);
  const checked = checkPartnersFile(file);
  for (const x of checked.partners) resolveList(x.operations, manifest, `partner ${x.name}`);
  writePartnersFile(path, checked);
  return { key, created: !existing };
}
