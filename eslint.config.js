// ESLint for the project's JavaScript: the browser extension (plain ES modules run by
// the browser as they sit), the Worker's JS entry, the end-to-end tests and tools.
// `./build.sh test` runs it; `npx eslint .` by hand.
import js from '@eslint/js';
import globals from 'globals';

const strict = {
  eqeqeq: ['error', 'always'],
  'no-eval': 'error',
  'no-implied-eval': 'error',
  'no-new-func': 'error',
  'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
  'prefer-const': 'error',
  'no-var': 'error',
};

export default [
  { ignores: ['node_modules/', 'build/', '**/.wrangler/', 'e2e/artifacts/'] },
  js.configs.recommended,
  {
    files: ['extension/**/*.js'],
    languageOptions: { sourceType: 'module', globals: { ...globals.browser, ...globals.webextensions } },
    rules: {
      ...strict,
      // Pages and the banner build DOM with createElement and textContent only.
      'no-restricted-properties': [
        'error',
        { property: 'innerHTML', message: 'Build DOM with createElement and textContent.' },
        { property: 'outerHTML', message: 'Build DOM with createElement and textContent.' },
        { property: 'insertAdjacentHTML', message: 'Build DOM with createElement and textContent.' },
      ],
      'no-restricted-syntax': ['error', { selector: "CallExpression[callee.property.name='write'][callee.object.name='document']", message: 'No document.write.' }],
    },
  },
  {
    files: ['extension/content/**/*.js'],
    languageOptions: { sourceType: 'script' },
  },
  {
    files: ['wasm/**/*.mjs', 'bench/reference/**/*.mjs'],
    // workerd's globals; Go comes from wasm_exec.js, loaded before the entry runs.
    languageOptions: { sourceType: 'module', globals: { ...globals.serviceworker, AbortSignal: 'readonly', Go: 'readonly' } },
    rules: strict,
  },
  {
    files: ['e2e/**/*.mjs', 'examples/**/*.mjs', 'tools/**/*.mjs', 'bench/**/*.mjs', 'deploy/**/*.mjs', 'eslint.config.js'],
    ignores: ['bench/reference/**'],
    languageOptions: { sourceType: 'module', globals: { ...globals.node } },
    rules: strict,
  },
  {
    // Functions the tests hand to page.evaluate / worker.evaluate run in the browser.
    files: ['e2e/**/*.mjs'],
    languageOptions: { globals: { ...globals.browser, chrome: 'readonly' } },
  },
];
