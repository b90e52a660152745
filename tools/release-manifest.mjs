// The manifest of a released package, made from extension/manifest.json (which is what
// a developer loads unpacked): `node tools/release-manifest.mjs chrome|firefox FILE`
// rewrites FILE in place.
//
// - The development `key` goes: the stores assign the id.
// - Loopback access (the emulator and `wrangler dev`) becomes optional: a released
//   extension asks for it, like for any other Worker, when the options are saved. Its
//   pages keep the CSP's loopback form-action: without it a tab or container could not
//   open an impersonation from a loopback issuer, which is the one case the
//   impersonation URL check lets http through (development against `./build.sh dev`).
// - Firefox gets what its container mode needs and cannot be asked for at run time:
//   "contextualIdentities" (not grantable optionally) and "cookies" (tabs.create with a
//   cookieStoreId requires it). Chromium knows neither as it is used here.
import { readFileSync, writeFileSync } from 'node:fs';

export const LOOPBACK = ['http://127.0.0.1/*', 'http://localhost/*'];

export function releaseManifest(manifest, target) {
  if (target !== 'chrome' && target !== 'firefox') throw new Error(`unknown target ${target}: chrome or firefox`);
  const m = structuredClone(manifest);
  delete m.key;
  m.host_permissions = (m.host_permissions ?? []).filter((p) => !LOOPBACK.includes(p));
  if (m.host_permissions.length === 0) delete m.host_permissions;
  m.optional_host_permissions = [...new Set([...(m.optional_host_permissions ?? []), ...LOOPBACK])];
  if (target === 'firefox') m.permissions = [...new Set([...(m.permissions ?? []), 'contextualIdentities', 'cookies'])];
  return m;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [target, file] = process.argv.slice(2);
  if (!target || !file) {
    console.error('usage: node tools/release-manifest.mjs chrome|firefox MANIFEST');
    process.exit(2);
  }
  const out = releaseManifest(JSON.parse(readFileSync(file, 'utf8')), target);
  writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
}
