// Lint: typescript-eslint's recommended rules, the layering rule of
// DESIGN.md (a subgraph never imports another subgraph: shared code lives in
// subgraphs/kit/, and kit imports no subgraph) and the house plan of
// ARCHITECTURE.md ("House plan"): domain/ is pure, SQL runs only in store/.
import tseslint from 'typescript-eslint';

const SUBGRAPHS = ['issuance', 'trading', 'settlement', 'custody'];

/**
 * Where the house plan holds today. Moving a subgraph into its rooms only
 * edits these lists (test/kit/house-rules.test.ts checks the rules bite).
 */
export const HOUSE_PLAN = {
  // domain/ imports neither the database nor GraphQL nor kit/errors.
  pureDomain: ['issuance', 'settlement', 'trading', 'custody'],
  pureDomainToDo: [],
  // Every query of the subgraph runs in its store/ (and migrations/). A subgraph still to do would
  // have its SQL outside store/ (ARCHITECTURE.md would list where).
  storeOnly: ['settlement', 'trading', 'custody', 'issuance'],
  storeOnlyToDo: [],
};

const crossSubgraphPatterns = (others) => others.map((o) => ({
  group: [`**/${o}/*`, `**/${o}`, `../${o}/**`, `../../${o}/**`],
  message: `a subgraph never imports another subgraph (${o}); share through subgraphs/kit/ or call it over the internal API`,
}));

const DOMAIN_PATTERNS = [
  { group: ['**/kit/db', '**/kit/db/**', 'pg', 'pg/**', '@electric-sql/pglite', '@electric-sql/pglite/**'], message: 'domain/ is pure: no database (queries belong in store/)' },
  { group: ['graphql', 'graphql/**', '@apollo/**', '**/kit/errors', '**/kit/errors.js'], message: 'domain/ is pure: no GraphQL and no kit/errors (return a result or throw a plain Error; the resolver maps it)' },
];

// Calls of kit/db's Queryable.query: SQL (its exec runs migrations only; RegExp#exec is not SQL).
const QUERY_CALL = "CallExpression[callee.type='MemberExpression'][callee.property.name='query']";
const noQueries = (where) => ({
  'no-restricted-syntax': ['error', { selector: QUERY_CALL, message: `SQL runs only in store/ (${where})` }],
});

const importsOf = (patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

/** The house rules as flat-config entries, for these lists (the config below uses HOUSE_PLAN). */
export function houseRules(plan = HOUSE_PLAN) {
  const others = (s) => SUBGRAPHS.filter((o) => o !== s);
  return [
    ...SUBGRAPHS.map((s) => ({ files: [`subgraphs/${s}/**/*.ts`], rules: importsOf(crossSubgraphPatterns(others(s))) })),
    { files: ['subgraphs/kit/**/*.ts'], rules: importsOf(crossSubgraphPatterns(SUBGRAPHS)) },
    // A later entry replaces a rule's options: the domain entry repeats the cross-subgraph patterns.
    ...plan.pureDomain.map((s) => ({ files: [`subgraphs/${s}/domain/**/*.ts`], rules: importsOf([...crossSubgraphPatterns(others(s)), ...DOMAIN_PATTERNS]) })),
    ...plan.storeOnly.map((s) => ({
      files: [`subgraphs/${s}/**/*.ts`],
      ignores: [`subgraphs/${s}/store/**`, `subgraphs/${s}/**/*.test.ts`],
      rules: noQueries(`subgraphs/${s}/store/`),
    })),
    // No domain/ queries, whatever else its subgraph still does; the gateway has no database at all.
    { files: ['subgraphs/*/domain/**/*.ts'], rules: noQueries('domain/ is pure') },
    { files: ['gateway/**/*.ts'], ignores: ['gateway/**/*.test.ts'], rules: noQueries('the gateway has no database') },
  ];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.data/**', '.scratch/**', 'contracts/build/**', 'examples/client/generated/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },

  ...houseRules(),
);
