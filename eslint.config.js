import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const boundary = (forbidden) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: [
        {
          group: forbidden,
          message:
            'control-plane and region-agent share only shared/: they talk over NATS, never by import.',
        },
      ],
    },
  ],
});

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      '.local/**',
      'artifacts/**',
      'coverage/**',
      'charts/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { arguments: false } },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'max-depth': ['error', 5],
      // Tests, fakes and benches: long describe blocks and scenario scripts read best whole.
      complexity: ['error', 16],
      'max-lines-per-function': ['error', { max: 300, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // Product source: small functions, small files.
    files: [
      'control-plane/src/**/*.ts',
      'region-agent/src/**/*.ts',
      'shared/src/**/*.ts',
      'deploy/local/**/*.ts',
    ],
    ignores: ['**/*.test.ts'],
    rules: {
      complexity: ['error', 12],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
      'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }],
    },
  },
  { files: ['control-plane/**/*.ts'], rules: boundary(['**/region-agent/**']) },
  { files: ['region-agent/**/*.ts'], rules: boundary(['**/control-plane/**']) },
  {
    files: ['shared/**/*.ts'],
    rules: boundary([
      '**/region-agent/**',
      '**/control-plane/**',
      'pg',
      'koa',
      '@kubernetes/client-node',
    ]),
  },
  { files: ['**/*.js'], languageOptions: { globals: { ...globals.node } } },
);
