import { Kind, getNamedType, isObjectType, parse, print, visit, type ArgumentNode, type FieldNode, type GraphQLSchema, type OperationDefinitionNode, type ValueNode } from 'graphql';

/** Variable the gateway binds to the subgraph field's `after` argument, and the alias under which it reads each event's cursor. */
export const AFTER_VARIABLE = '_gatewayAfter';
export const CURSOR_ALIAS = '_gatewayCursor';

/**
 * The subgraph operation of a subscription's primary fetch, rewritten so that
 * the gateway can resume it: `after` is always bound to a variable it owns,
 * and the event's `cursor` is always selected. A field without an `after`
 * argument or a `cursor` field is used as it is (it cannot resume).
 */
export interface UpstreamOperation {
  query: string;
  /** Response key of the subscription's root field. */
  rootKey: string;
  resumable: boolean;
  /** Where the client's own `after` came from: a variable of its operation, or a literal. */
  clientAfter: { variable: string } | { literal: string | null };
  /** Variables of the client's operation that the rewritten operation still uses. */
  variables: string[];
}

export function resumableOperation(operation: string, supergraphApi: GraphQLSchema): UpstreamOperation {
  const doc = parse(operation);
  const op = doc.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
  const root = op.selectionSet.selections.find((s): s is FieldNode => s.kind === Kind.FIELD && s.name.value !== '__typename')!;
  const rootKey = root.alias?.value ?? root.name.value;
  const def = supergraphApi.getSubscriptionType()?.getFields()[root.name.value];
  const returns = def && getNamedType(def.type);
  const resumable = !!def?.args.some((a) => a.name === 'after') && isObjectType(returns) && 'cursor' in returns.getFields();
  const own = root.arguments?.find((a) => a.name.value === 'after');
  const clientAfter = own ? afterOf(own.value) : { literal: null };
  if (!resumable) return { query: operation, rootKey, resumable, clientAfter, variables: usedVariables(op) };

  const after: ArgumentNode = { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: 'after' }, value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: AFTER_VARIABLE } } };
  const cursor: FieldNode = { kind: Kind.FIELD, alias: { kind: Kind.NAME, value: CURSOR_ALIAS }, name: { kind: Kind.NAME, value: 'cursor' } };
  const rewritten = visit(op, {
    Field(f) {
      if (f !== root) return undefined;
      return {
        ...f,
        arguments: [...(f.arguments ?? []).filter((a) => a.name.value !== 'after'), after],
        selectionSet: { ...f.selectionSet!, selections: [...(f.selectionSet?.selections ?? []), cursor] },
      };
    },
  });
  const used = new Set(usedVariables(rewritten));
  const final: OperationDefinitionNode = {
    ...rewritten,
    variableDefinitions: [
      ...(rewritten.variableDefinitions ?? []).filter((v) => used.has(v.variable.name.value)),
      { kind: Kind.VARIABLE_DEFINITION, variable: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: AFTER_VARIABLE } }, type: { kind: Kind.NAMED_TYPE, name: { kind: Kind.NAME, value: 'String' } } },
    ],
  };
  return { query: print({ ...doc, definitions: [final] }), rootKey, resumable, clientAfter, variables: [...used].filter((v) => v !== AFTER_VARIABLE) };
}

/** The upstream variables for one client: the client's own ones the operation uses, plus where to start. */
export function upstreamVariables(u: UpstreamOperation, clientVariables: Record<string, unknown> | undefined): { variables: Record<string, unknown>; after: string | null } {
  const variables: Record<string, unknown> = {};
  for (const v of u.variables) if (clientVariables && clientVariables[v] !== undefined) variables[v] = clientVariables[v];
  const raw = 'variable' in u.clientAfter ? clientVariables?.[u.clientAfter.variable] : u.clientAfter.literal;
  const after = typeof raw === 'string' ? raw : null;
  if (u.resumable) variables[AFTER_VARIABLE] = after;
  return { variables, after };
}

/** Cursors are the producer's outbox positions (digits); compared as integers, else as text. */
export function cursorAfter(a: string, b: string | null): boolean {
  if (b === null) return true;
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return BigInt(a) > BigInt(b);
  return a > b;
}

function afterOf(v: ValueNode): { variable: string } | { literal: string | null } {
  if (v.kind === Kind.VARIABLE) return { variable: v.name.value };
  return { literal: v.kind === Kind.STRING ? v.value : null };
}

function usedVariables(node: OperationDefinitionNode): string[] {
  const out = new Set<string>();
  visit(node.selectionSet, { Variable: (v) => { out.add(v.name.value); } });
  return [...out];
}
