// Plans of the module with the real Cloudflare provider, offline (a plan of new
// resources needs no API call), and assertions on `tofu show -json`: the Worker's
// modules, its bindings against the names the Worker's code reads, secrets as
// sensitive secret_text, prevent_destroy on the audit database, a new version per
// build. ./build.sh test runs it when tools/terraform-tools.sh has cached OpenTofu and
// the provider (ACTAS_TOOLS_CACHE, default ~/.cache/actas-tools); it copies the module
// to a temp directory, so nothing is written into the repository.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const cache = process.env.ACTAS_TOOLS_CACHE || path.join(os.homedir(), '.cache', 'actas-tools');
const tofuBin = path.join(cache, 'bin', 'tofu');
const mirror = path.join(cache, 'providers');

// Settings the Worker reads that a deployment must not set: development and test only.
const NOT_DEPLOYED = new Set(['ACTAS_DEV_LOOPBACK', 'ACTAS_TEST_HOOKS']);
const SECRETS = ['BAREID_CLIENT_SECRET', 'ACTAS_API_KEYS'];
const SECRET_VALUE = 'plan-test-secret-' + randomBytes(8).toString('hex');
const API_KEY = `ci-bot:${'ab'.repeat(32)}`;
// The optional secrets, bound only when set (the full plan below sets them).
const NEXT_SECRET_VALUE = 'plan-test-next-secret-' + randomBytes(8).toString('hex');
const WEBHOOK_SECRET_VALUE = 'whsec_' + randomBytes(32).toString('base64');

/** Every BAREID_* / ACTAS_* name the Worker's Go code (not its tests) names as a string. */
function namesTheWorkerReads() {
  const names = new Set();
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.go') && !e.name.endsWith('_test.go')) {
        for (const m of readFileSync(p, 'utf8').matchAll(/"((?:BAREID|ACTAS)_[A-Z0-9_]+)"/g)) names.add(m[1]);
      }
    }
  };
  walk(path.join(root, 'worker'));
  walk(path.join(root, 'wasm'));
  return names;
}

let work;
let env;

async function tofu(dir, args, { vars = true } = {}) {
  // tofu test sets its own variables (tests/*.tftest.hcl); the plans' TF_VAR_ secrets
  // would override them.
  const useEnv = vars ? env : Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('TF_VAR_')));
  try {
    const { stdout } = await run(tofuBin, args, { cwd: dir, env: useEnv, maxBuffer: 64 << 20 });
    return stdout;
  } catch (err) {
    const out = `${err.stdout ?? ''}${err.stderr ?? ''}`.replaceAll(SECRET_VALUE, '<secret>');
    throw new Error(`tofu ${args.join(' ')} failed:\n${out}`);
  }
}

/** A bundle as `wrangler deploy --dry-run --outdir` writes it, with made-up content. */
function writeBundle(dir, tag) {
  rmSync(dir, { recursive: true, force: true });
  cpSync(path.join(here, 'bundle'), dir, { recursive: true });
  const wasm = readdirSync(dir).find((f) => f.endsWith('.wasm'));
  writeFileSync(path.join(dir, wasm), Buffer.concat([Buffer.from('\0asm\x01\0\0\0'), Buffer.from(tag)]));
  return wasm;
}

/** Plans dir with vars (written as a tfvars JSON file) and returns the plan's JSON. */
async function plan(dir, vars, extra = []) {
  writeFileSync(path.join(dir, 'test.auto.tfvars.json'), JSON.stringify(vars));
  await tofu(dir, ['plan', '-input=false', '-lock=false', '-out=plan.bin', ...extra]);
  return JSON.parse(await tofu(dir, ['show', '-json', 'plan.bin']));
}

const byAddress = (p) => Object.fromEntries(p.resource_changes.map((r) => [r.address, r]));

before(async () => {
  assert.ok(existsSync(tofuBin), `no OpenTofu at ${tofuBin}: run tools/terraform-tools.sh`);
  work = mkdtempSync(path.join(os.tmpdir(), 'actas-tofu-'));
  // The module reads ../../wrangler.toml; keep that layout.
  cpSync(path.join(root, 'deploy'), path.join(work, 'deploy'), {
    recursive: true,
    filter: (src) => !/[/\\](\.terraform|terraform\.tfstate[^/\\]*|\.terraform\.lock\.hcl)$/.test(src),
  });
  cpSync(path.join(root, 'wrangler.toml'), path.join(work, 'wrangler.toml'));
  const cli = path.join(work, 'tofu.rc');
  writeFileSync(
    cli,
    `provider_installation {
  filesystem_mirror {
    path    = ${JSON.stringify(mirror)}
    include = ["registry.opentofu.org/cloudflare/cloudflare"]
  }
  direct {
    exclude = ["*/*/*"]
  }
}
`,
  );
  env = {
    PATH: process.env.PATH,
    HOME: work,
    TF_CLI_CONFIG_FILE: cli,
    TF_IN_AUTOMATION: '1',
    CHECKPOINT_DISABLE: '1',
    // The provider wants a credential to configure itself; a plan of new resources
    // never uses it.
    CLOUDFLARE_API_TOKEN: 'x'.repeat(40),
    TF_VAR_bareid_client_secret: SECRET_VALUE,
    TF_VAR_api_keys: JSON.stringify([API_KEY]),
    TF_VAR_bareid_client_secret_next: NEXT_SECRET_VALUE,
    TF_VAR_webhook_secret: WEBHOOK_SECRET_VALUE,
  };
});

after(() => {
  // ACTAS_TF_KEEP=1 keeps the temp copy (its plans included) for a look after a failure.
  if (process.env.ACTAS_TF_KEEP) return;
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('examples/basic', () => {
  let dir;
  let planJSON;
  let wasm;
  const vars = {
    account_id: '0123456789abcdef0123456789abcdef',
    zone_id: 'fedcba9876543210fedcba9876543210',
    hostname: 'actas.example.com',
    bareid_instance: '6c0f7d8e-2b1a-4c3d-9e8f-7a6b5c4d3e2f',
    bareid_realm_url: 'https://example.bare.id/realms/support',
    bareid_client_id: 'actas-impersonator',
    clients: { crm: 'Customer CRM', wiki: 'Team Wiki' },
    protected_users: ['8e39d0de-ec89-43c0-9651-3307aa6a77af'],
    allowed_origins: ['chrome-extension://maocjchajlalcogpajlkfocplghlfopb'],
  };

  before(async () => {
    dir = path.join(work, 'deploy', 'terraform', 'examples', 'basic');
    wasm = writeBundle(path.join(work, 'bundle'), 'build one');
    vars.bundle_dir = path.join(work, 'bundle');
    await tofu(dir, ['init', '-input=false', '-no-color']);
    planJSON = await plan(dir, vars);
  });

  test('tofu validate', async () => {
    await tofu(dir, ['validate', '-no-color']);
  });

  test('plans exactly the database, the Worker, its version, deployment, Cron Triggers and domain', () => {
    const actions = Object.fromEntries(planJSON.resource_changes.map((r) => [r.address, r.change.actions.join(',')]));
    console.log('plan:', Object.keys(actions).sort().join(' '));
    assert.deepEqual(actions, {
      'module.actas.cloudflare_d1_database.audit': 'create',
      'module.actas.cloudflare_worker.actas': 'create',
      'module.actas.cloudflare_worker_version.actas': 'create',
      'module.actas.cloudflare_workers_deployment.actas': 'create',
      'module.actas.cloudflare_workers_cron_trigger.actas': 'create',
      'module.actas.cloudflare_workers_custom_domain.actas[0]': 'create',
    });
  });

  test('the Worker is worker.js plus the wasm as application/wasm', () => {
    const v = byAddress(planJSON)['module.actas.cloudflare_worker_version.actas'].change.after;
    assert.equal(v.main_module, 'worker.js');
    const modules = Object.fromEntries(v.modules.map((m) => [m.name, m.content_type]));
    assert.deepEqual(modules, { 'worker.js': 'application/javascript+module', [wasm]: 'application/wasm' });
    const date = /^compatibility_date\s*=\s*"([0-9-]+)"/m.exec(readFileSync(path.join(root, 'wrangler.toml'), 'utf8'))[1];
    assert.equal(v.compatibility_date, date);
  });

  test('secrets are sensitive secret_text bindings, and nowhere else', () => {
    const rc = byAddress(planJSON)['module.actas.cloudflare_worker_version.actas'].change;
    const bindings = rc.after.bindings;
    for (const name of SECRETS) {
      const i = bindings.findIndex((b) => b.name === name);
      assert.ok(i >= 0, `${name} is bound`);
      assert.equal(bindings[i].type, 'secret_text', `${name} is a secret_text binding`);
      assert.equal(rc.after_sensitive.bindings?.[i]?.text, true, `${name}'s text is marked sensitive in the plan`);
    }
    assert.equal(bindings.find((b) => b.name === 'BAREID_CLIENT_SECRET').text, SECRET_VALUE);
    for (const b of bindings.filter((x) => x.type !== 'secret_text')) {
      assert.ok(!String(b.text ?? '').includes(SECRET_VALUE), `${b.name} carries no secret`);
    }
    const vars = planJSON.configuration.root_module.variables;
    const moduleVars = planJSON.configuration.root_module.module_calls.actas.module.variables;
    for (const v of ['bareid_client_secret', 'api_keys']) {
      assert.equal(vars[v].sensitive, true, `the example's ${v} is sensitive`);
      assert.equal(moduleVars[v].sensitive, true, `the module's ${v} is sensitive`);
    }
  });

  test('the audit database has prevent_destroy', async () => {
    // A destroy plan against a state that holds the database must be refused.
    const state = {
      version: 4,
      terraform_version: '1.12.6',
      serial: 1,
      lineage: 'actas-plan-test',
      outputs: {},
      resources: [
        {
          module: 'module.actas',
          mode: 'managed',
          type: 'cloudflare_d1_database',
          name: 'audit',
          provider: 'provider["registry.opentofu.org/cloudflare/cloudflare"]',
          instances: [
            {
              schema_version: 0,
              attributes: {
                id: '3f9e2b1c-0d4a-4e5f-8a6b-7c8d9e0f1a2b',
                uuid: '3f9e2b1c-0d4a-4e5f-8a6b-7c8d9e0f1a2b',
                account_id: vars.account_id,
                name: 'actas-audit',
              },
            },
          ],
        },
      ],
    };
    writeFileSync(path.join(dir, 'destroy.tfstate'), JSON.stringify(state));
    await assert.rejects(
      tofu(dir, ['plan', '-destroy', '-refresh=false', '-input=false', '-lock=false', '-state=destroy.tfstate', '-no-color']),
      /prevent_destroy/,
    );
  });

  test('a rebuilt wasm is a new version; the same build plans the same version', async () => {
    const first = byAddress(planJSON)['module.actas.cloudflare_worker_version.actas'].change.after.annotations;
    const same = byAddress(await plan(dir, vars))['module.actas.cloudflare_worker_version.actas'].change.after.annotations;
    assert.deepEqual(same, first, 'the same bundle gives the same version inputs');
    writeBundle(path.join(work, 'bundle'), 'build two');
    const next = byAddress(await plan(dir, vars))['module.actas.cloudflare_worker_version.actas'].change.after.annotations;
    assert.notEqual(next.workers_tag, first.workers_tag, 'a changed wasm changes the version');
    writeBundle(path.join(work, 'bundle'), 'build one');
  });

  test('the extension policy outputs carry the Worker URL and issuer', () => {
    const chrome = JSON.parse(planJSON.planned_values.outputs.extension_policy_chrome.value);
    assert.deepEqual(chrome['3rdparty'].extensions.maocjchajlalcogpajlkfocplghlfopb, {
      workerUrl: 'https://actas.example.com',
      issuer: vars.bareid_realm_url,
      clientId: 'actas-extension',
      openMode: 'tab',
      impersonationHosts: 'example.bare.id',
    });
    const firefox = JSON.parse(planJSON.planned_values.outputs.extension_policy_firefox.value);
    assert.equal(firefox.policies['3rdparty'].Extensions['actas@actas.dev'].workerUrl, 'https://actas.example.com');
  });
});

describe('the module with every setting', () => {
  const dir = () => path.join(work, 'deploy', 'terraform');
  before(async () => {
    await tofu(dir(), ['init', '-input=false', '-no-color']);
  });

  test('tofu validate', async () => {
    await tofu(dir(), ['validate', '-no-color']);
  });

  test('tofu test: tests/module.tftest.hcl (mocked provider; mistakes fail at plan time)', async () => {
    const out = await tofu(dir(), ['test', '-no-color'], { vars: false });
    assert.match(out, /Success! \d+ passed, 0 failed/);
  });

  test("binds exactly the settings the Worker's code reads", async () => {
    writeBundle(path.join(work, 'bundle-full'), 'full');
    const p = await plan(dir(), {
      account_id: '0123456789abcdef0123456789abcdef',
      bundle_dir: path.join(work, 'bundle-full'),
      bareid: {
        api_url: 'https://api.bare.id',
        instance: '6c0f7d8e-2b1a-4c3d-9e8f-7a6b5c4d3e2f',
        token_url: 'https://example.bare.id/realms/support/protocol/openid-connect/token',
        client_id: 'actas-impersonator',
        impersonation_hosts: ['example.bare.id'],
        response_token_path: 'token',
        response_url_path: 'url',
        timeout: '10s',
        impersonation_method: 'POST',
      },
      oidc: { issuer: 'https://example.bare.id/realms/support', audience: 'actas-extension', roles_path: 'realm_access.roles', actor_claim: 'email' },
      access: {
        team_domain: 'myteam.cloudflareaccess.com',
        hostname: 'actas-audit.example.com',
        zone_id: 'fedcba9876543210fedcba9876543210',
        auditors: ['grace@example.com'],
        impersonators: ['*@support.example.com'],
      },
      roles: { impersonator: 'actas-impersonator', auditor: 'actas-auditor' },
      jwks_refetch_interval: '30s',
      clients: { crm: 'Customer CRM' },
      client_roles: { crm: ['support'] },
      protected_users: ['8e39d0de-ec89-43c0-9651-3307aa6a77af'],
      reason: { required: true, min_length: 8, pattern: '^[A-Z]+-[0-9]+' },
      rate_limit: '20/1h',
      allowed_origins: ['chrome-extension://maocjchajlalcogpajlkfocplghlfopb'],
      webhook: { url: 'https://siem.example.com/actas', retry: '30s' },
      audit: { retention: '400d', caller: 'network' },
      log_format: 'object',
      custom_domain: { hostname: 'actas.example.com', zone_id: 'fedcba9876543210fedcba9876543210' },
    });
    const rc = p.resource_changes.find((r) => r.address === 'cloudflare_worker_version.actas');
    // ACTAS_ACCESS_AUD is the Access application's tag, unknown until it exists: the
    // binding is there, its text is not known yet.
    const names = new Set(rc.change.after.bindings.map((b) => b.name));
    names.delete('AUDIT_DB');
    const code = namesTheWorkerReads();
    for (const n of NOT_DEPLOYED) code.delete(n);
    assert.ok(code.size >= 20, `found ${code.size} names in the Go code: the scan is broken`);
    assert.deepEqual([...names].sort(), [...code].sort(), 'bindings = the names worker/ and wasm/ read');
    assert.ok(!rc.change.after.bindings.some((b) => NOT_DEPLOYED.has(b.name)));
    for (const name of ['BAREID_CLIENT_SECRET_NEXT', 'ACTAS_WEBHOOK_SECRET']) {
      const i = rc.change.after.bindings.findIndex((b) => b.name === name);
      assert.equal(rc.change.after.bindings[i].type, 'secret_text', `${name} is a secret_text binding`);
      assert.equal(rc.change.after_sensitive.bindings?.[i]?.text, true, `${name}'s text is marked sensitive in the plan`);
    }
    const cron = p.resource_changes.find((r) => r.type === 'cloudflare_workers_cron_trigger');
    assert.deepEqual(cron?.change.after.schedules.map((x) => x.cron), ['*/5 * * * *', '0 3 * * *'], 'the Cron Triggers of wrangler.toml');
    const access = p.resource_changes.filter((r) => r.type.startsWith('cloudflare_zero_trust_access'));
    assert.equal(access.length, 2, 'an Access application and policy');
  });
});
