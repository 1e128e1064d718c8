// Lint: typescript-eslint's recommended rules plus the layering rule of
// DESIGN.md: a subgraph never imports another subgraph (shared code lives in
// subgraphs/kit/), and kit imports no subgraph.
import tseslint from 'typescript-eslint';

const SUBGRAPHS = ['issuance', 'trading', 'settlement', 'custody'];

const noImportOf = (others) => ({
  'no-restricted-imports': ['error', {
    patterns: others.map((o) => ({
      group: [`**/${o}/*`, `**/${o}`, `../${o}/**`, `../../${o}/**`],
      message: `a subgraph never imports another subgraph (${o}); share through subgraphs/kit/ or call it over the internal API`,
    })),
  }],
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.data/**', '.scratch/**', 'contracts/build/**', 'examples/client/generated/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...SUBGRAPHS.map((s) => ({ files: [`subgraphs/${s}/**/*.ts`], rules: noImportOf(SUBGRAPHS.filter((o) => o !== s)) })),
  { files: ['subgraphs/kit/**/*.ts'], rules: noImportOf(SUBGRAPHS) },
);
