import { GraphQLScalarType, Kind, type ValueNode } from 'graphql';
import { getAddress } from 'ethers';
import { badInput } from './errors.js';
import { isCountryCode } from './countries.js';

/**
 * Shared scalars. Amounts never become JS numbers: BigInt is a decimal
 * string on the wire and a bigint inside; Decimal stays a string.
 */
function stringScalar<T>(name: string, description: string, parse: (s: string) => T, serialize: (v: T) => string) {
  const parseAny = (v: unknown): T => {
    if (typeof v !== 'string') throw badInput(`INVALID_${snake(name)}`, `${name} must be a string, got ${typeof v}`);
    return parse(v);
  };
  return new GraphQLScalarType<T, string>({
    name,
    description,
    serialize: (v) => serialize(v as T),
    parseValue: parseAny,
    parseLiteral(ast: ValueNode) {
      if (ast.kind !== Kind.STRING) throw badInput(`INVALID_${snake(name)}`, `${name} must be a string literal`);
      return parse(ast.value);
    },
  });
}

const snake = (s: string) => s.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase();

export function parseBigInt(s: string): bigint {
  if (!/^-?\d{1,78}$/.test(s)) throw badInput('INVALID_BIG_INT', `BigInt must be an integer as a decimal string, got "${s.slice(0, 80)}"`);
  return BigInt(s);
}

export const BigIntScalar = new GraphQLScalarType<bigint, string>({
  name: 'BigInt',
  description: 'An integer of up to 78 digits (token base units) as a decimal string.',
  serialize(v) {
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'string') return parseBigInt(v).toString();
    throw new TypeError(`BigInt cannot serialize ${typeof v}`);
  },
  parseValue(v) {
    if (typeof v !== 'string') throw badInput('INVALID_BIG_INT', 'BigInt must be a decimal string (never a JSON number, which loses precision)');
    return parseBigInt(v);
  },
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING && ast.kind !== Kind.INT) throw badInput('INVALID_BIG_INT', 'BigInt must be a decimal string');
    return parseBigInt(ast.value);
  },
});

export function parseDecimal(s: string): string {
  if (!/^-?\d{1,40}(\.\d{1,18})?$/.test(s)) throw badInput('INVALID_DECIMAL', `Decimal must look like "123.45", got "${s.slice(0, 80)}"`);
  return s;
}

export const DecimalScalar = stringScalar('Decimal', 'An exact decimal number as a string, e.g. "101.25".', parseDecimal, (v: string) => v);

export function parseDateTime(s: string): Date {
  // Offset required: an instant without a zone is ambiguous for a dated rule.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/.test(s)) {
    throw badInput('INVALID_DATE_TIME', `DateTime must be ISO 8601 with a zone, e.g. 2026-01-31T12:00:00Z, got "${s.slice(0, 80)}"`);
  }
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw badInput('INVALID_DATE_TIME', `DateTime "${s}" is not a real instant`);
  return d;
}

export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An instant, ISO 8601 with a zone offset.',
  serialize(v) {
    if (v instanceof Date) return v.toISOString();
    if (typeof v === 'string') return new Date(v).toISOString();
    throw new TypeError('DateTime cannot serialize ' + typeof v);
  },
  parseValue(v) {
    if (typeof v !== 'string') throw badInput('INVALID_DATE_TIME', 'DateTime must be a string');
    return parseDateTime(v);
  },
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw badInput('INVALID_DATE_TIME', 'DateTime must be a string');
    return parseDateTime(ast.value);
  },
});

/** EVM address; mixed case must carry a valid EIP-55 checksum. Returned checksummed. */
export function parseAddress(s: string): string {
  if (!/^0x[0-9a-fA-F]{40}$/.test(s)) throw badInput('INVALID_ADDRESS', `Address must be 0x followed by 40 hex digits, got "${s.slice(0, 80)}"`);
  try {
    return getAddress(s);
  } catch {
    throw badInput('INVALID_ADDRESS', `Address ${s} has an invalid EIP-55 checksum`);
  }
}

export const AddressScalar = stringScalar('Address', 'An EVM address, EIP-55 checksummed.', parseAddress, (v: string) => parseAddress(v));

export function parseCountry(s: string): string {
  if (!isCountryCode(s)) throw badInput('INVALID_COUNTRY_CODE', `CountryCode must be an ISO 3166-1 alpha-2 code such as "US", got "${s.slice(0, 10)}"`);
  return s;
}

export const CountryCodeScalar = stringScalar('CountryCode', 'ISO 3166-1 alpha-2 country code, upper case.', parseCountry, (v: string) => v);

export const scalarResolvers = {
  BigInt: BigIntScalar,
  Decimal: DecimalScalar,
  DateTime: DateTimeScalar,
  Address: AddressScalar,
  CountryCode: CountryCodeScalar,
};

/** SDL for the scalars; every subgraph schema declares the ones it uses. */
export const scalarSdl = `
scalar BigInt
scalar Decimal
scalar DateTime
scalar Address
scalar CountryCode
`;

/** PostgreSQL numeric text without insignificant zeros: "100.500000" -> "100.5", "7.000" -> "7". */
export function trimDecimal(s: string): string {
  return s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s;
}
