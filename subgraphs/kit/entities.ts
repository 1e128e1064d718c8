import { isUnionType, type GraphQLFieldResolver, type GraphQLSchema } from 'graphql';
import { badInput } from './errors.js';

/**
 * `_entities` (the gateway's entry to a subgraph, reachable by anyone holding a
 * credential) refuses a representation that does not name one of this
 * subgraph's entities with INPUT.INVALID_REPRESENTATION, where
 * @apollo/subgraph throws a plain Error (an INTERNAL_SERVER_ERROR).
 */
export function guardEntities(schema: GraphQLSchema): void {
  const field = schema.getQueryType()?.getFields()._entities;
  const union = schema.getType('_Entity');
  if (!field?.resolve || !isUnionType(union)) return;
  const entities = new Set(union.getTypes().map((t) => t.name));
  const resolve = field.resolve as GraphQLFieldResolver<unknown, unknown, { representations: unknown[] }>;
  field.resolve = (source, args: { representations: unknown[] }, context, info) => {
    for (const r of args.representations) {
      const typename = r && typeof r === 'object' && !Array.isArray(r) ? (r as { __typename?: unknown }).__typename : undefined;
      if (typeof typename !== 'string' || !entities.has(typename)) {
        throw badInput('INVALID_REPRESENTATION', 'a representation must be an object whose __typename is an entity of this subgraph');
      }
    }
    return resolve(source, args, context, info);
  };
}
