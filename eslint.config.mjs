// Lint for the TypeScript sources, tests and benches (`npm run lint`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** The record layout (native/bpf/events.h) is read only inside src/events; everyone else asks EventBatch. */
const recordLayout = {
  group: ['**/events/record'],
  message: "record offsets are src/events' own: read fields through EventBatch",
};

/** A component may use the shared layers (events, pipeline, native, host), never another component. */
const componentBoundaries = (self, others) => ({
  files: [`src/${self}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...others.map((o) => ({
            group: [`**/${o}/*`, `**/${o}`],
            message: `src/${self} must not depend on src/${o}: share through src/events, src/pipeline or src/host`,
          })),
          recordLayout,
        ],
      },
    ],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'build/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module' },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  componentBoundaries('receivers', ['processors', 'exporters', 'cli', 'doctor']),
  componentBoundaries('processors', ['receivers', 'exporters', 'cli', 'doctor']),
  componentBoundaries('exporters', ['receivers', 'processors', 'cli', 'doctor']),
  componentBoundaries('doctor', ['cli']),
  componentBoundaries('cli', []),
  {
    files: ['src/events/**/*.ts', 'src/pipeline/**/*.ts', 'src/host/**/*.ts', 'src/native/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/receivers/*', '**/processors/*', '**/exporters/*', '**/cli/*', '**/doctor/*'],
              message: 'the shared layers must not depend on a component',
            },
            recordLayout,
          ],
        },
      ],
    },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly', console: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
