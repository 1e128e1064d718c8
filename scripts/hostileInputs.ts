import {
  getNamedType, isEnumType, isInputObjectType, isInterfaceType, isListType, isNonNullType, isObjectType, isScalarType, isUnionType,
  type GraphQLArgument, type GraphQLField, type GraphQLInputType, type GraphQLNamedType, type GraphQLOutputType, type GraphQLSchema,
} from 'graphql';
import { ROLES, type Role } from '../subgraphs/kit/auth.js';
import type { SubgraphName } from '../subgraphs/kit/subgraph.js';
import { mulberry32 } from './random.js';

/**
 * Hostile requests from a fixed seed: the same seed gives the same requests.
 * Most are built from the schemas (every root field, with arguments of every
 * type filled with awkward values, as literals or variables), the rest abuse
 * the transport, the limits, authentication, persisted queries and the
 * subgraphs' federation fields. `scripts/hostile.ts` runs them against a
 * stack; test/gateway/hostile-random.test.ts runs a smaller count in CI.
 */

/** Fragments that each spread the next one twice: 2^k copies of the leaf in a document of a few hundred bytes. */
export function fragmentBomb(k: number, root = 'Query', leaf = '__typename', operation = ''): string {
  let q = `${operation}{ ...F0 }\n`;
  for (let i = 0; i < k; i++) q += `fragment F${i} on ${root} { ...F${i + 1} ...F${i + 1} }\n`;
  return q + `fragment F${k} on ${root} { ${leaf} }\n`;
}

export type Auth =
  | { kind: 'user'; org: string; roles: Role[]; investorId?: string; subject: string }
  | { kind: 'service' }
  | { kind: 'none' }
  | { kind: 'garbage'; header: string }
  | { kind: 'apiKey'; key: string };

export type HostileRequest =
  | { kind: 'http'; label: string; target: 'gateway' | SubgraphName; method: 'GET' | 'POST'; auth: Auth; contentType?: string; body?: string; search?: string; headers?: Record<string, string> }
  | { kind: 'ws'; label: string; auth: Auth; payload: { query: string; variables?: unknown; operationName?: unknown } };

export interface Schemas {
  api: GraphQLSchema;
  subgraphs: Partial<Record<SubgraphName, GraphQLSchema>>;
}

const ORGS = ['acme', 'globex', 'initech'];
const STRINGS = [
  '', 'a', 'tok_0', 'inv_1', 'acc_x', 'ord_', 'stl_00000000000000000000000000', 'x'.repeat(2000), 'a\u0000b', '\u0000', '💥🚀', '\ud800', 'ᴀᴄᴍᴇ',
  "'; DROP TABLE orders; --", '" OR 1=1 --', '%s%s%s%n', '../../etc/passwd', '<script>alert(1)</script>', '0x' + 'f'.repeat(40), '0x12',
  '-1', '0', '1e309', 'NaN', 'null', 'true', ' 1 ', '\n\r\t', '\\', '{"a":1}', 'US', 'XX', '2024-01-01T00:00:00Z', '9999-99-99T99:99:99Z',
];
const NUMBERS = [0, -1, 1, 2, 100, 1000, 2147483647, 2147483648, -2147483649, 1.5, 1e20, Number.MAX_SAFE_INTEGER];

export class HostileGenerator {
  private readonly r: () => number;

  constructor(seed: number, private readonly schemas: Schemas) {
    this.r = mulberry32(seed);
  }

  private int(n: number): number {
    return Math.floor(this.r() * n);
  }
  private pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  private chance(p: number): boolean {
    return this.r() < p;
  }

  private user(): Auth {
    const roles = ROLES.filter(() => this.chance(0.25));
    return { kind: 'user', org: this.pick(ORGS), roles: roles.length ? roles : [this.pick(ROLES)], subject: `fuzz-${this.int(5)}`, ...(this.chance(0.2) ? { investorId: this.pick(STRINGS) } : {}) };
  }

  /** A JSON value for an input type: right most of the time, wrong often enough. */
  private value(t: GraphQLInputType, depth = 0): unknown {
    if (this.chance(0.05)) return this.wrongValue();
    if (isNonNullType(t)) return this.value(t.ofType, depth);
    if (this.chance(0.05)) return null;
    if (isListType(t)) return depth > 3 ? [] : Array.from({ length: this.int(4) }, () => this.value(t.ofType, depth + 1));
    const named = getNamedType(t);
    if (isEnumType(named)) return this.chance(0.9) ? this.pick(named.getValues()).name : 'NOT_A_VALUE';
    if (isInputObjectType(named)) {
      const out: Record<string, unknown> = {};
      for (const f of Object.values(named.getFields())) {
        if (isNonNullType(f.type) ? this.chance(0.97) : this.chance(0.5)) out[f.name] = depth > 3 ? null : this.value(f.type, depth + 1);
      }
      if (this.chance(0.05)) out.notAField = 1;
      return out;
    }
    return this.scalar(named.name);
  }

  private scalar(name: string): unknown {
    switch (name) {
      case 'Int': case 'Float': return this.chance(0.85) ? this.pick(NUMBERS) : this.pick(STRINGS);
      case 'Boolean': return this.chance(0.9) ? this.chance(0.5) : this.pick(['true', 0, 'yes']);
      case '_Any': return { __typename: this.pick([...Object.keys(this.schemas.api.getTypeMap()).filter((n) => !n.startsWith('__')), 'Nope', '']), id: this.pick(STRINGS), ...(this.chance(0.2) ? { address: this.pick(STRINGS) } : {}) };
      case 'BigInt': case 'Decimal': return this.pick(['1', '0', '-1', '1'.repeat(90), '1.5', 'abc', ' 1', '1e3', '0x10', ...STRINGS.slice(0, 5), 1, 1.5]);
      default: return this.chance(0.9) ? this.pick(STRINGS) : this.pick(NUMBERS);
    }
  }

  private wrongValue(): unknown {
    return this.pick<unknown>([{}, [], [[[]]], 'x', 1, -1, true, { a: { b: { c: 1 } } }, 'a\u0000b', 'x'.repeat(5000)]);
  }

  /** A GraphQL literal of a JSON value (strings escaped as JSON, which GraphQL reads the same; enum names bare). */
  private literal(v: unknown, t: GraphQLInputType): string {
    const named = getNamedType(t);
    if (v === null || v === undefined) return 'null';
    if (Array.isArray(v)) return `[${v.map((x) => this.literal(x, isListType(isNonNullType(t) ? t.ofType : t) ? ((isNonNullType(t) ? t.ofType : t) as { ofType: GraphQLInputType }).ofType : t)).join(', ')}]`;
    if (typeof v === 'object') {
      const fields = isInputObjectType(named) ? named.getFields() : {};
      return `{ ${Object.entries(v).map(([k, x]) => `${k}: ${this.literal(x, fields[k]?.type ?? t)}`).join(', ')} }`;
    }
    if (typeof v === 'string') return isEnumType(named) && /^[A-Z_][A-Z0-9_]*$/.test(v) ? v : JSON.stringify(v);
    return String(v);
  }

  private selection(t: GraphQLOutputType, depth: number): string {
    const named = getNamedType(t) as GraphQLNamedType;
    if (isScalarType(named) || isEnumType(named)) return '';
    if (isUnionType(named)) {
      const m = this.pick(named.getTypes());
      return `{ __typename ... on ${m.name} ${this.selection(m, depth + 1) || '{ __typename }'} }`;
    }
    if (!isObjectType(named) && !isInterfaceType(named)) return '{ __typename }';
    const fields = Object.values(named.getFields());
    const leaves = fields.filter((f) => { const n = getNamedType(f.type); return (isScalarType(n) || isEnumType(n)) && !f.args.some((a) => isNonNullType(a.type)); });
    const parts = new Set<string>(leaves.length ? Array.from({ length: 1 + this.int(4) }, () => this.pick(leaves).name) : ['__typename']);
    if (depth < 3 && this.chance(0.4)) {
      const nested = fields.filter((f) => !leaves.includes(f));
      if (nested.length) {
        const f = this.pick(nested);
        parts.add(`${f.name}${this.argsLiteral(f.args)} ${this.selection(f.type, depth + 1)}`);
      }
    }
    return `{ ${[...parts].join(' ')} }`;
  }

  private argsLiteral(args: readonly GraphQLArgument[]): string {
    const given = args.filter((a) => isNonNullType(a.type) || this.chance(0.4));
    return given.length ? `(${given.map((a) => `${a.name}: ${this.literal(this.value(a.type), a.type)}`).join(', ')})` : '';
  }

  /** One operation on a random root field of a schema, its arguments as literals or as variables. */
  private schemaOperation(schema: GraphQLSchema, kind: 'query' | 'mutation' | 'subscription'): { query: string; variables?: Record<string, unknown> } | undefined {
    const root = kind === 'query' ? schema.getQueryType() : kind === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
    if (!root) return undefined;
    const field: GraphQLField<unknown, unknown> = this.pick(Object.values(root.getFields()));
    const sel = this.selection(field.type, 1);
    if (this.chance(0.5)) return { query: `${kind === 'query' ? '' : kind} { ${field.name}${this.argsLiteral(field.args)} ${sel} }` };
    const given = field.args.filter((a) => isNonNullType(a.type) || this.chance(0.5));
    const defs = given.map((a) => `$${a.name}: ${String(a.type)}`).join(', ');
    const variables: Record<string, unknown> = {};
    for (const a of given) if (this.chance(0.95)) variables[a.name] = this.value(a.type);
    return {
      query: `${kind}${defs ? `(${defs})` : ''} { ${field.name}${given.length ? `(${given.map((a) => `${a.name}: $${a.name}`).join(', ')})` : ''} ${sel} }`,
      variables,
    };
  }

  private post(label: string, body: unknown, auth: Auth = this.user(), target: HostileRequest & { kind: 'http' } extends { target: infer T } ? T : never = 'gateway'): HostileRequest {
    return { kind: 'http', label, target, method: 'POST', auth, contentType: 'application/json', body: typeof body === 'string' ? body : JSON.stringify(body) };
  }

  next(): HostileRequest {
    const roll = this.r();
    if (roll < 0.4) return this.fromSchema();
    if (roll < 0.5) return this.limits();
    if (roll < 0.65) return this.protocol();
    if (roll < 0.7) return this.authentication();
    if (roll < 0.8) return this.persisted();
    if (roll < 0.9) return this.direct();
    return this.ws();
  }

  private fromSchema(): HostileRequest {
    const op = this.schemaOperation(this.schemas.api, this.chance(0.6) ? 'query' : 'mutation')!;
    if (this.chance(0.15)) {
      const search = new URLSearchParams({ query: op.query, ...(op.variables ? { variables: JSON.stringify(op.variables) } : {}) }).toString();
      return { kind: 'http', label: 'schema GET', target: 'gateway', method: 'GET', auth: this.user(), search, headers: this.chance(0.8) ? { 'apollo-require-preflight': '1' } : {} };
    }
    return this.post('schema', op);
  }

  private limits(): HostileRequest {
    const k = 1 + this.int(40);
    const docs = [
      () => fragmentBomb(k),
      () => fragmentBomb(k, 'Query', 'securityTokens { id holders: capTable { holders { lots { remaining } } } }'),
      () => `{ ${'securityTokens { token: __typename '.repeat(k)}${'}'.repeat(k)} }`,
      () => `{ ${Array.from({ length: k * 3 }, (_, i) => `a${i}: __typename`).join(' ')} }`,
      () => `{ ${'{'.repeat(k * 10)} }`,
      () => `query($n: Int) { trades(tokenId: "t", limit: $n) { id token { capTable { holders { lots { remaining } } } } } }`,
      () => `{ ${'__typename '.repeat(k * 200)} }`,
      () => `fragment A on Query { ...B } fragment B on Query { ...A } { ...A }`,
    ];
    const query = this.pick(docs)();
    return this.post('limits', { query, ...(this.chance(0.5) ? { variables: { n: this.pick<unknown>([1, 1000, 1e9, '5', null]) } } : {}) });
  }

  private protocol(): HostileRequest {
    const q = '{ __typename }';
    const bodies: (() => HostileRequest)[] = [
      () => this.post('bad json', '{"query": "{ __typename }"'),
      () => this.post('json array (batch)', [{ query: q }, { query: q }]),
      () => this.post('json scalar', this.pick(['1', '"x"', 'null', 'true', '[]'])),
      () => this.post('query not a string', { query: this.pick<unknown>([1, [q], { q }, null, true]) }),
      () => this.post('variables not an object', { query: q, variables: this.pick<unknown>(['x', [1], 1, true]) }),
      () => this.post('operationName not a string', { query: q, operationName: this.pick<unknown>([1, ['x'], { a: 1 }, true]) }),
      () => this.post('unknown operationName', { query: this.pick([q, 'query A { __typename } query B { __typename }']), operationName: this.pick(['X', '', 'a\u0000']) }),
      () => this.post('several operations without a name', { query: 'query A { __typename } query B { __typename }' }),
      () => this.post('subscription over HTTP', { query: this.schemaOperation(this.schemas.api, 'subscription')!.query }),
      () => this.post('extensions not an object', { query: q, extensions: this.pick<unknown>(['x', [1], 1]) }),
      () => this.post('empty body', ''),
      () => this.post('garbage document', { query: this.pick(['{', '}', 'query {', '{ a(b: ) }', '"unterminated', '{ __typename } }', '\u0000', 'mutation', '{ ... }', 'fragment F on Q { a }']) }),
      () => ({ kind: 'http', label: 'text/plain post', target: 'gateway', method: 'POST', auth: this.user(), contentType: this.pick(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/graphql', '']), body: JSON.stringify({ query: q }) }),
      () => ({ kind: 'http', label: 'GET mutation', target: 'gateway', method: 'GET', auth: this.user(), search: new URLSearchParams({ query: 'mutation { __typename }' }).toString(), headers: { 'apollo-require-preflight': '1' } }),
      () => ({ kind: 'http', label: 'GET garbage params', target: 'gateway', method: 'GET', auth: this.user(), search: this.pick(['query=%7B', 'variables=%7B', 'extensions=x&query=%7B__typename%7D', 'query=' + '%00', '']), headers: { 'apollo-require-preflight': '1' } }),
      () => this.post('huge body', { query: `{ __typename } # ${'x'.repeat(1_100_000)}` }),
    ];
    return this.pick(bodies)();
  }

  private authentication(): HostileRequest {
    const auth = this.pick<Auth>([
      { kind: 'none' },
      { kind: 'garbage', header: this.pick(['Bearer', 'Bearer ', 'Bearer x.y.z', 'Basic YTpi', 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.', 'bearer ' + 'a'.repeat(5000)]) },
      { kind: 'apiKey', key: this.pick(['', 'tsp_nope', 'x'.repeat(3000), 'a\u0000b']) },
      { kind: 'service' },
    ]);
    return this.post('authentication', { query: '{ securityTokens { id } }' }, auth);
  }

  private persisted(): HostileRequest {
    const hash = 'ab'.repeat(32);
    const pq = this.pick<unknown>([
      { version: 1, sha256Hash: [hash] }, { version: 1, sha256Hash: hash }, { version: 2, sha256Hash: hash }, { version: 1 }, { sha256Hash: hash },
      { version: 1, sha256Hash: { a: hash } }, { version: 1, sha256Hash: 1 }, [hash], hash, null, { persistedQuery: { version: 1, sha256Hash: hash } },
    ]);
    return this.post('persisted query', { ...(this.chance(0.3) ? { query: '{ __typename }' } : {}), extensions: { persistedQuery: pq } }, this.chance(0.3) ? { kind: 'apiKey', key: 'tsp_nope' } : this.user());
  }

  /** Straight to a subgraph, as a holder of a service credential (or a user token) could. */
  private direct(): HostileRequest {
    const names = Object.keys(this.schemas.subgraphs) as SubgraphName[];
    const target = this.pick(names);
    const schema = this.schemas.subgraphs[target]!;
    const auth: Auth = this.chance(0.5) ? { kind: 'service' } : this.user();
    if (this.chance(0.3)) {
      const reps = Array.from({ length: 1 + this.int(3) }, () => this.scalar('_Any'));
      return this.post('subgraph _entities', { query: 'query($r: [_Any!]!) { _entities(representations: $r) { __typename } }', variables: { r: reps } }, auth, target);
    }
    return this.post('subgraph', this.schemaOperation(schema, this.chance(0.6) ? 'query' : 'mutation') ?? { query: '{ _service { sdl } }' }, auth, target);
  }

  private ws(): HostileRequest {
    const op = this.chance(0.8) ? this.schemaOperation(this.schemas.api, 'subscription')! : { query: this.pick([fragmentBomb(20), '{ __typename }', 'subscription {', 'subscription { orderBookChanged(tokenId: "a\\u0000b") { cursor } }']) };
    const payload: { query: string; variables?: unknown; operationName?: unknown } = { ...op };
    if (this.chance(0.1)) payload.operationName = this.pick<unknown>(['X', 1]);
    return { kind: 'ws', label: 'ws subscribe', auth: this.chance(0.95) ? this.user() : { kind: 'garbage', header: 'Bearer x' }, payload };
  }
}
