import base from '/work/h3/eslint.config.js';
export default [...base, { files: ['test/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'error' } }];
