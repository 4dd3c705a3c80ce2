// ESLint for the TypeScript of this repository (typescript-eslint's recommended rules with type information), with
// Prettier owning the layout (eslint-config-prettier turns off the rules that would fight it). `npm run lint` runs
// tsc, this and `prettier --check`; CI (.ci/run) fails on any warning.
const js = require('@eslint/js');
const tseslint = require('typescript-eslint');
const prettier = require('eslint-config-prettier');

/** Packages lib/ loads lazily, when a URI needs them: optional peer dependencies, and what only some paths use. */
const LAZY = [
  '^@aws-sdk/',
  '^@azure/',
  '^@google-cloud/',
  '^google-auth-library$',
  '^@nats-io/',
  '^@opentelemetry/',
  '^ioredis$',
  '^mqtt$',
  '^pino-pretty$',
  '^prom-client$',
  '^wabt$',
  '^node:wasi$',
  '^\\./(natsKv|redis)$',
  'package\\.json$',
];

module.exports = tseslint.config(
  {
    ignores: [
      'dist/**',
      'dist.next-*/**',
      'dist.old-*/**',
      '.cache/**',
      // AssemblyScript and the module author's templates, compiled by asc (i32, usize, @external), not by tsc
      'sdk/**',
      'examples/*',
      '!examples/typescript/',
      'bench/modules/**',
      'test/wasm/fixtures/**',
      'test/sdk/fixtures/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: __dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // every import of a type says so: isolatedModules, and no runtime import of a module used for its types only
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      // a floating promise loses its rejection: await it, return it, or mark it `void` on purpose
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      // lib/ requires lazily only the packages a URI may need (optional peer dependencies): everything else is imported
      '@typescript-eslint/no-require-imports': ['error', { allow: LAZY }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // lazily required modules are typed by their `import type`; what comes out of JSON.parse is checked where used
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // an async function that does not await implements a Promise-returning interface: its throw becomes a rejection
      '@typescript-eslint/require-await': 'off',
      // a variable a closure reads is declared before the closure and assigned once later
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // what a catch or an event hands over is rethrown as it came
      '@typescript-eslint/only-throw-error': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
    },
  },
  {
    // tests, benchmarks and scripts load fixtures, compiled builds and scripts by computed paths on purpose
    files: ['test/**', 'bench/**', 'scripts/**', 'jest.config.js', 'eslint.config.js'],
    rules: { '@typescript-eslint/no-require-imports': 'off', '@typescript-eslint/unbound-method': 'off' },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: {
      globals: {
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        URL: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  { files: ['**/*.js'], languageOptions: { sourceType: 'commonjs' } },
  prettier,
);
