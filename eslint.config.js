// Lint rules that keep the code what Temporal needs it to be. Workflows run in
// Temporal's deterministic sandbox: no Node built-ins, nothing from activities/
// but types (activities are called through proxyActivities), and no promise
// left floating anywhere (a floating promise in a workflow is a command the
// workflow never waits for; elsewhere, an error nobody sees).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['node_modules/**', 'build/**', 'test-artifacts/**', 'dist/**', 'eslint.config.js', 'bin/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-empty': ['error', { allowEmptyCatch: true }],
    },
  },
  {
    // product code a newcomer reads: modules by responsibility, lines one can read without scrolling (Prettier
    // leaves long strings and templates as they are, so the length is checked here)
    files: ['{activities,bench,client,common,scripts,worker,workflows}/**/*.ts'],
    rules: {
      'max-len': ['error', { code: 120, ignoreUrls: false }],
      'max-lines': ['error', { max: 500 }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'workflows run in the deterministic sandbox: no Node built-ins',
          })),
          patterns: [
            {
              group: ['../activities/*', '../activities/**'],
              allowTypeImports: true,
              message: 'workflows call activities through proxyActivities: import their types only',
            },
            { group: ['../worker/*', '../client/*'], message: 'workflows depend on workflows/ and common/ only' },
          ],
        },
      ],
    },
  },
);
