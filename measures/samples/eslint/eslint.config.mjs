// ESLint configuration of the sample (flat config, no plugins, so that
// generate.sh needs nothing but eslint itself). Errors: rules whose
// violations are bugs or risks; warnings: style and hygiene.
export default [
  {
    files: ['**/*.js'],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { console: 'readonly', setTimeout: 'readonly' },
    },
    linterOptions: {
      reportUnusedDisableDirectives: 'warn',
    },
    rules: {
      'no-unused-vars': 'error',
      'no-undef': 'error',
      eqeqeq: 'error',
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-var': 'warn',
      'prefer-const': 'warn',
      curly: 'warn',
      'no-console': 'warn',
      'no-extra-boolean-cast': 'warn',
    },
  },
];
