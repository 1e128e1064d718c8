import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import {
  GraphQLError, Kind, getNamedType, isInterfaceType, isListType, isNonNullType, isObjectType,
  type ASTVisitor, type DocumentNode, type FieldNode, type FragmentDefinitionNode, type GraphQLNamedType, type GraphQLOutputType,
  type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode, type ValidationRule, type ValueNode,
} from 'graphql';
import { appError } from '../subgraphs/kit/errors.js';
import { noNulInStrings } from '../subgraphs/kit/nul.js';
import type { GatewayConfig } from './settings.js';

/**
 * Operation limits enforced at the gateway before any subgraph is asked:
 * depth, aliases, selections once fragments are expanded, and a cost (every
 * field 1, a list field multiplies its selection by its page argument
 * `first`/`last`/`limit`/`depth`, read with the request's variables).
 *
 * Every figure is computed in time linear in the document: a fragment's
 * figures are computed once and reused at each of its spreads, so a document
 * whose fragments spread each other twice (2^k selections in a few hundred
 * bytes) is measured, and refused, in microseconds.
 *
 * Depth, aliases and selections do not depend on variables: they are
 * validation rules (Apollo caches a validated document). The cost does: it
 * is checked for each request once its operation is known, before planning.
 * Apollo relabels validation errors GRAPHQL_VALIDATION_FAILED; the limit's own
 * code travels in extensions.limitCode and formatError puts it back.
 */
export interface OperationLimits {
  maxDepth: number;
  maxAliases: number;
  /** Field selections of the operation with every fragment spread replaced by its fragment. */
  maxSelections: number;
  maxCost: number;
  /** List length assumed for a list field without a page argument. */
  listFactor: number;
  /** List length counted for a page argument given by a variable the request leaves out (or sends as a non-integer). */
  listMax: number;
}

export interface Figures {
  depth: number;
  aliases: number;
  selections: number;
  cost: number;
}

const limitError = (code: string, message: string, details: Record<string, unknown>) =>
  new GraphQLError(message, { extensions: { code, limitCode: code, ...details } });

const PAGE_ARGUMENTS = new Set(['first', 'last', 'limit', 'depth']);
const isList = (t: GraphQLOutputType): boolean => isListType(isNonNullType(t) ? t.ofType : t);
const intOf = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) ? v : undefined);

/**
 * Figures of one operation. `variables` undefined: the structural figures
 * only matter (cost is then counted with every variable missing).
 */
export function measureOperation(schema: GraphQLSchema, document: DocumentNode, op: OperationDefinitionNode, variables: Record<string, unknown> | undefined, l: Pick<OperationLimits, 'listFactor' | 'listMax'>): Figures {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const defaults = new Map<string, ValueNode>();
  for (const v of op.variableDefinitions ?? []) if (v.defaultValue) defaults.set(v.variable.name.value, v.defaultValue);
  const vars = variables ?? {};

  /** A page size from an argument's value: a literal, a variable (its value, else the operation's default, else listMax). */
  const sizeOf = (v: ValueNode): number | undefined => {
    if (v.kind === Kind.INT) return Number(v.value);
    if (v.kind !== Kind.VARIABLE) return undefined;
    const name = v.name.value;
    const given = name in vars ? vars[name] : undefined;
    if (given !== undefined && given !== null) return intOf(given) ?? l.listMax;
    const d = defaults.get(name);
    return d?.kind === Kind.INT ? Number(d.value) : l.listMax;
  };
  /** The page argument of a field: top level (`limit: 5`) or one level into an input object (`filter: { limit: $n }`, `filter: $f`). */
  const pageOf = (f: FieldNode): number | undefined => {
    for (const a of f.arguments ?? []) {
      if (PAGE_ARGUMENTS.has(a.name.value)) return sizeOf(a.value);
      if (a.value.kind === Kind.OBJECT) {
        const inner = a.value.fields.find((x) => PAGE_ARGUMENTS.has(x.name.value));
        if (inner) return sizeOf(inner.value);
      } else if (a.value.kind === Kind.VARIABLE) {
        const obj = vars[a.value.name.value];
        if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
          for (const [k, x] of Object.entries(obj)) if (PAGE_ARGUMENTS.has(k) && x !== null && x !== undefined) return intOf(x) ?? l.listMax;
        }
      }
    }
    return undefined;
  };

  const memo = new Map<string, Figures>();
  const zero = (): Figures => ({ depth: 0, aliases: 0, selections: 0, cost: 0 });

  /** Figures of a selection set whose own fields are at depth 1. */
  const ofSet = (set: SelectionSetNode, parent: GraphQLNamedType | null | undefined): Figures => {
    const out = zero();
    const add = (f: Figures, below: number) => {
      out.depth = Math.max(out.depth, f.depth === 0 ? 0 : f.depth + below);
      out.aliases += f.aliases;
      out.selections += f.selections;
      out.cost += f.cost;
    };
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) {
        out.selections += 1;
        if (s.alias) out.aliases += 1;
        const meta = s.name.value.startsWith('__');
        const def = !meta && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[s.name.value] : undefined;
        const child = s.selectionSet ? ofSet(s.selectionSet, def ? getNamedType(def.type) : undefined) : zero();
        if (!meta) out.depth = Math.max(out.depth, 1);
        const times = def && isList(def.type) ? Math.max(1, pageOf(s) ?? l.listFactor) : 1;
        add({ ...child, cost: meta ? 0 : 1 + times * child.cost }, 1);
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        add(ofSet(s.selectionSet, s.typeCondition ? schema.getType(s.typeCondition.name.value) : parent), 0);
      } else {
        add(ofFragment(s.name.value), 0);
      }
    }
    return out;
  };
  const ofFragment = (name: string): Figures => {
    const hit = memo.get(name);
    if (hit) return hit;
    const f = fragments.get(name);
    memo.set(name, zero()); // a cycle (refused by NoFragmentCyclesRule) counts nothing the second time round
    if (!f) return zero();
    const figures = ofSet(f.selectionSet, schema.getType(f.typeCondition.name.value));
    memo.set(name, figures);
    return figures;
  };

  const root = op.operation === 'mutation' ? schema.getMutationType() : op.operation === 'subscription' ? schema.getSubscriptionType() : schema.getQueryType();
  return ofSet(op.selectionSet, root);
}

/** Depth, aliases and expanded selections of every operation of a document. */
export function structureLimits(l: OperationLimits): ValidationRule {
  return (ctx) => ({
    OperationDefinition(op) {
      const f = measureOperation(ctx.getSchema(), ctx.getDocument(), op, undefined, l);
      if (f.selections > l.maxSelections) ctx.reportError(limitError('LIMIT.SELECTIONS_EXCEEDED', `the operation selects ${f.selections} fields once its fragments are expanded; at most ${l.maxSelections} are allowed`, { selections: f.selections, limit: l.maxSelections }));
      if (f.depth > l.maxDepth) ctx.reportError(limitError('LIMIT.DEPTH_EXCEEDED', `the operation is ${f.depth} levels deep; at most ${l.maxDepth} are allowed`, { depth: f.depth, limit: l.maxDepth }));
      if (f.aliases > l.maxAliases) ctx.reportError(limitError('LIMIT.ALIASES_EXCEEDED', `the operation uses ${f.aliases} aliases; at most ${l.maxAliases} are allowed`, { aliases: f.aliases, limit: l.maxAliases }));
    },
  }) as ASTVisitor;
}

/** Throws LIMIT.COST_EXCEEDED (HTTP 400) when the operation's cost with these variables is over the limit. */
export function checkCost(schema: GraphQLSchema, document: DocumentNode, op: OperationDefinitionNode, variables: Record<string, unknown> | null | undefined, l: OperationLimits): void {
  const { cost } = measureOperation(schema, document, op, variables ?? {}, l);
  if (cost > l.maxCost) throw appError('LIMIT.COST_EXCEEDED', `the operation's estimated cost is ${cost}; at most ${l.maxCost} is allowed`, { httpStatus: 400, details: { cost, limit: l.maxCost } });
}

/** The cost limit on HTTP: once Apollo knows the operation and before the gateway plans it. */
export function costLimitPlugin(l: OperationLimits): ApolloServerPlugin<BaseContext> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, operation, request, schema }) {
          if (operation) checkCost(schema, document, operation, request.variables, l);
        },
      };
    },
  };
}

/** The gateway's own validation rules: the structural limits, and no NUL in a string literal. */
export const limitRules = (l: OperationLimits): ValidationRule[] => [structureLimits(l), noNulInStrings];

export const operationLimitsOf = (c: GatewayConfig): OperationLimits => ({
  maxDepth: c.MAX_DEPTH, maxAliases: c.MAX_ALIASES, maxSelections: c.MAX_SELECTIONS, maxCost: c.MAX_COST, listFactor: c.COST_LIST_FACTOR, listMax: c.COST_LIST_MAX,
});
