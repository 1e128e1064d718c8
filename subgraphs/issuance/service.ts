import type { Caller } from '../kit/auth.js';
import { requireRole } from '../kit/auth.js';
import type { Db } from '../kit/db/types.js';
import { badInput } from '../kit/errors.js';
import { requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { appendEvent } from '../kit/outbox.js';
import { insertInvestor, insertToken } from './store.js';

export interface CreateTokenInput {
  idempotencyKey: string; name: string; symbol: string; decimals: number; exemption: string;
}

export interface RegisterInvestorInput {
  idempotencyKey: string; legalName: string; type: string; jurisdiction: string; usPerson: boolean;
}

function checkKey(key: string): void {
  if (!/^[\x21-\x7e]{1,128}$/.test(key)) throw badInput('INVALID_IDEMPOTENCY_KEY', 'idempotencyKey must be 1 to 128 printable characters');
}

export async function createSecurityToken(db: Db, caller: Caller, input: CreateTokenInput) {
  requireRole(caller, 'ISSUER_AGENT');
  checkKey(input.idempotencyKey);
  const name = input.name.trim();
  if (!name || name.length > 200) throw badInput('INVALID_NAME', 'name must be 1 to 200 characters');
  if (!/^[A-Z0-9.]{1,11}$/.test(input.symbol)) throw badInput('INVALID_SYMBOL', 'symbol must be 1 to 11 characters of A-Z, 0-9 and "."');
  if (!Number.isInteger(input.decimals) || input.decimals < 0 || input.decimals > 18) throw badInput('INVALID_DECIMALS', 'decimals must be an integer from 0 to 18');
  const hash = requestHash(input);
  return db.tx(async (q) => {
    const { row, created } = await insertToken(q, {
      id: newId('tok'), issuer_org: caller.org, name, symbol: input.symbol, decimals: input.decimals,
      exemption: input.exemption, idempotency_key: input.idempotencyKey, request_hash: hash,
    });
    if (created) await appendEvent(q, 'token.created', row.id, { tokenId: row.id, symbol: row.symbol, exemption: row.exemption, issuerOrg: row.issuer_org });
    return row;
  });
}

export async function registerInvestor(db: Db, caller: Caller, input: RegisterInvestorInput) {
  requireRole(caller, 'ISSUER_AGENT', 'COMPLIANCE_OFFICER', 'BROKER_DEALER');
  checkKey(input.idempotencyKey);
  const legalName = input.legalName.trim();
  if (!legalName || legalName.length > 300) throw badInput('INVALID_LEGAL_NAME', 'legalName must be 1 to 300 characters');
  const hash = requestHash(input);
  return db.tx(async (q) => {
    const { row, created } = await insertInvestor(q, {
      id: newId('inv'), org: caller.org, legal_name: legalName, type: input.type, jurisdiction: input.jurisdiction,
      us_person: input.usPerson, idempotency_key: input.idempotencyKey, request_hash: hash,
    });
    if (created) await appendEvent(q, 'investor.registered', row.id, { investorId: row.id, org: row.org, jurisdiction: row.jurisdiction });
    return row;
  });
}
