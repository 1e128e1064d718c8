import { GraphQLError, Kind, getNamedType, isListType, isNonNullType, type ASTVisitor, type GraphQLInputType, type FieldNode, type FragmentDefinitionNode, type GraphQLOutputType, type SelectionSetNode, type ValidationContext, type ValidationRule } from 'graphql';

/**
 * Operation limits enforced at the gateway before any subgraph is asked:
 * depth, aliases and a static cost (every field 1, a list field multiplies its
 * selection by `first`/`depth`/`limit` when given, else by listFactor).
 * Apollo relabels validation errors GRAPHQL_VALIDATION_FAILED; the limit's own
 * code travels in extensions.limitCode and formatError puts it back.
 */
export interface OperationLimits {
  maxDepth: number;
  maxAliases: number;
  maxCost: number;
  listFactor: number;
}

const limitError = (code: string, message: string, details: Record<string, unknown>) =>
  new GraphQLError(message, { extensions: { code, limitCode: code, ...details } });

function fragmentsOf(ctx: ValidationContext): Map<string, FragmentDefinitionNode> {
  return new Map(ctx.getDocument().definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));
}

/** Walks a selection set through fragments, visiting each field with its depth (guards against fragment cycles). */
function walk(set: SelectionSetNode, frags: Map<string, FragmentDefinitionNode>, visit: (f: FieldNode, depth: number) => boolean, depth = 1, seen = new Set<string>()): void {
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) {
      if (visit(s, depth) && s.selectionSet) walk(s.selectionSet, frags, visit, depth + 1, seen);
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      walk(s.selectionSet, frags, visit, depth, seen);
    } else {
      const f = frags.get(s.name.value);
      if (f && !seen.has(f.name.value)) walk(f.selectionSet, frags, visit, depth, new Set([...seen, f.name.value]));
    }
  }
}

export function depthLimit(max: number): ValidationRule {
  return (ctx) => ({
    OperationDefinition(op) {
      let deepest = 0;
      walk(op.selectionSet, fragmentsOf(ctx), (f, d) => { if (!f.name.value.startsWith('__')) deepest = Math.max(deepest, d); return true; });
      if (deepest > max) ctx.reportError(limitError('LIMIT.DEPTH_EXCEEDED', `the operation is ${deepest} levels deep; at most ${max} are allowed`, { depth: deepest, limit: max }));
    },
  }) as ASTVisitor;
}

export function aliasLimit(max: number): ValidationRule {
  return (ctx) => ({
    OperationDefinition(op) {
      let aliases = 0;
      walk(op.selectionSet, fragmentsOf(ctx), (f) => { if (f.alias) aliases++; return true; });
      if (aliases > max) ctx.reportError(limitError('LIMIT.ALIASES_EXCEEDED', `the operation uses ${aliases} aliases; at most ${max} are allowed`, { aliases, limit: max }));
    },
  }) as ASTVisitor;
}

function listSize(f: FieldNode, variables: Record<string, unknown> | undefined, fallback: number): number {
  for (const a of f.arguments ?? []) {
    if (!['first', 'last', 'depth', 'limit'].includes(a.name.value)) continue;
    if (a.value.kind === Kind.INT) return Math.max(1, Number(a.value.value));
    if (a.value.kind === Kind.VARIABLE && typeof variables?.[a.value.name.value] === 'number') return Math.max(1, variables[a.value.name.value] as number);
  }
  return fallback;
}

const isList = (t: GraphQLOutputType | GraphQLInputType): boolean => isListType(isNonNullType(t) ? t.ofType : t);

export function costLimit(max: number, listFactor: number): ValidationRule {
  return (ctx) => {
    const frags = fragmentsOf(ctx);
    return {
      OperationDefinition(op) {
        // Cost of a selection set: each field 1 plus its children, a list field multiplies its children.
        const root = op.operation === 'mutation' ? ctx.getSchema().getMutationType() : op.operation === 'subscription' ? ctx.getSchema().getSubscriptionType() : ctx.getSchema().getQueryType();
        const cost = (set: SelectionSetNode, parent: ReturnType<typeof getNamedType> | null | undefined, seen: Set<string>): number => {
          let total = 0;
          for (const s of set.selections) {
            if (s.kind === Kind.FIELD) {
              if (s.name.value.startsWith('__')) continue;
              const def = parent && 'getFields' in parent ? parent.getFields()[s.name.value] : undefined;
              const child = s.selectionSet && def ? cost(s.selectionSet, getNamedType(def.type), seen) : 0;
              total += 1 + (def && isList(def.type) ? listSize(s, undefined, listFactor) : 1) * child;
            } else if (s.kind === Kind.INLINE_FRAGMENT) {
              const t = s.typeCondition ? ctx.getSchema().getType(s.typeCondition.name.value) : parent;
              total += cost(s.selectionSet, t as typeof parent, seen);
            } else {
              const f = frags.get(s.name.value);
              if (f && !seen.has(f.name.value)) total += cost(f.selectionSet, ctx.getSchema().getType(f.typeCondition.name.value) as typeof parent, new Set([...seen, f.name.value]));
            }
          }
          return total;
        };
        const c = cost(op.selectionSet, root, new Set());
        if (c > max) ctx.reportError(limitError('LIMIT.COST_EXCEEDED', `the operation's estimated cost is ${c}; at most ${max} is allowed`, { cost: c, limit: max }));
      },
    } as ASTVisitor;
  };
}

export const limitRules = (l: OperationLimits): ValidationRule[] => [depthLimit(l.maxDepth), aliasLimit(l.maxAliases), costLimit(l.maxCost, l.listFactor)];
