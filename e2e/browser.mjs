// Debian's Chromium, headless, with the unpacked extension loaded, for the extension's
// end-to-end tests. launchExtension() starts it on a fresh profile directory and records
// every request the pages make (URL, Referer, form body), so tests can prove where the
// impersonation token went and where it did not. e2e/firefox.mjs gives Firefox the same
// driver shape; pages come wrapped in e2e/tab.mjs's Tab, so test bodies serve both.
//
// Enterprise policy: Debian's Chromium reads it only from /etc/chromium/policies
// (compiled in, no switch). With `policy`, Chromium runs through a wrapper that gives it,
// in a mount namespace of its own, a private copy of /etc/chromium holding that policy
// as policies/managed/actas.json; the machine's /etc/chromium is neither written nor
// seen changed by anything else. This needs unshare and mount, i.e. root.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test as nodeTest } from 'node:test';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

import { root } from './harness.mjs';
import { Tab, WAIT_MS } from './tab.mjs';

export const extensionDir = path.join(root, 'extension');

// A browser test that hangs (a page that never loads, an event that never comes) fails
// after this long instead of holding up the rest of the run. Generous: a loaded
// machine is slow, and most waits inside a test have shorter limits of their own.
const BROWSER_TEST_TIMEOUT_MS = 180_000;

/** node:test's test(name, fn), failing after BROWSER_TEST_TIMEOUT_MS, for the browser suites. */
export function test(name, fn) {
  return nodeTest(name, { timeout: BROWSER_TEST_TIMEOUT_MS }, fn);
}
/** The development id that the manifest's public `key` gives the extension. */
export const EXTENSION_ID = 'maocjchajlalcogpajlkfocplghlfopb';
export const EXTENSION_ORIGIN = `chrome-extension://${EXTENSION_ID}`;
export const artifactsDir = path.join(root, 'e2e', 'artifacts');

const CHROMIUM = process.env.ACTAS_CHROMIUM ?? '/usr/bin/chromium';
const ETC_CHROMIUM = '/etc/chromium';

/**
 * The id Chromium gives an extension with this manifest `key` (base64 DER public key):
 * the first 32 hex digits of its SHA-256, each digit 0-f written as a letter a-p.
 */
export function extensionIdFromKey(key) {
  const hex = createHash('sha256').update(Buffer.from(key, 'base64')).digest('hex').slice(0, 32);
  return [...hex].map((d) => String.fromCharCode(97 + parseInt(d, 16))).join('');
}

/**
 * Why Chromium cannot be given a policy here (unshare or mount refused), or null when it
 * can. Only for skipping when not root: as root the policy tests must run.
 */
export async function policyUnsupported() {
  const dir = await mkdtemp(path.join(tmpdir(), 'actas-ns-probe-'));
  try {
    await promisify(execFile)('unshare', ['--mount', '--propagation', 'private', 'mount', '--bind', dir, dir]);
    return null;
  } catch (err) {
    return `unshare --mount and mount --bind are not permitted here (${String(err.stderr || err.message).trim()})`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const shellQuote = (s) => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * Writes, under dir, a copy of /etc/chromium with `policy` as
 * policies/managed/actas.json (an empty managed/ folder when policy is {}), and a
 * wrapper that starts Chromium with that copy bound over /etc/chromium in a private
 * mount namespace. The wrapper execs all the way down, so Chromium keeps the process id
 * playwright started, its signals and its debugging pipe. Returns the wrapper's path.
 */
async function chromiumWithPolicy(dir, policy) {
  const etc = path.join(dir, 'etc-chromium');
  await cp(ETC_CHROMIUM, etc, { recursive: true, filter: (src) => src !== path.join(ETC_CHROMIUM, 'policies') });
  await mkdir(path.join(etc, 'policies', 'managed'), { recursive: true });
  if (Object.keys(policy).length) await writeFile(path.join(etc, 'policies', 'managed', 'actas.json'), JSON.stringify(policy));
  const wrapper = path.join(dir, 'chromium');
  await writeFile(
    wrapper,
    [
      '#!/bin/sh',
      `# Chromium with ${etc} as its ${ETC_CHROMIUM}, in a mount namespace of its own.`,
      `exec unshare --mount --propagation private -- sh -c 'mount --bind "$1" ${ETC_CHROMIUM} && shift && exec "$0" "$@"' ${shellQuote(CHROMIUM)} ${shellQuote(etc)} "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(wrapper, 0o755);
  return wrapper;
}

/**
 * Starts Chromium with the extension; call close() from after(). With incognito, the
 * extension is allowed in incognito windows first, as the admin does on the browser's
 * extensions page (which reloads it). With policy (a Chromium policy object, e.g.
 * {"3rdparty": {extensions: {ID: settings}}}), Chromium reads it as machine policy.
 */
export async function launchExtension({ incognito = false, policy = null } = {}) {
  const profile = await mkdtemp(path.join(tmpdir(), 'actas-chromium-'));
  const launcher = policy ? await mkdtemp(path.join(tmpdir(), 'actas-chromium-policy-')) : null;
  const removeDirs = async () => {
    await rm(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    if (launcher) await rm(launcher, { recursive: true, force: true });
  };
  const requests = [];
  let ctx;
  let sw;
  try {
    ({ ctx, sw } = await startChromium(profile, launcher, policy, incognito, requests));
  } catch (err) {
    await removeDirs(); // a launch that failed leaves no profile behind
    throw err;
  }
  const tabs = new WeakMap(); // playwright page -> Tab, so a page keeps one identity
  const wrap = (page) => {
    let t = tabs.get(page);
    if (!t) {
      t = new Tab(page, (width, height) => page.setViewportSize({ width, height }));
      tabs.set(page, t);
    }
    return t;
  };
  const driver = {
    name: 'chromium',
    origin: EXTENSION_ORIGIN,
    ctx,
    sw,
    profile,
    requests,
    /** Runs fn(arg) in the extension's service worker (where globalThis.actas lives). */
    bg: (fn, arg) => sw.evaluate(fn, arg),
    /** A new tab on one of the extension's pages. */
    extensionPage: (p) => driver.newTab(`${EXTENSION_ORIGIN}/${p}`),
    async newTab(url) {
      const page = await ctx.newPage();
      await page.goto(url);
      return wrap(page);
    },
    /**
     * The first page (tab or window, incognito ones too) whose URL satisfies pred and
     * which `which` accepts, now or once it navigates there.
     */
    async waitForPage(pred, timeout = WAIT_MS, which = () => true) {
      const deadline = Date.now() + timeout;
      for (;;) {
        const found = ctx.pages().find((p) => which(wrap(p)) && pred(p.url()));
        if (found) return wrap(found);
        if (Date.now() > deadline) throw new Error(`no page matched within ${timeout} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    /** The cookies of this profile (not of incognito windows) for url. */
    cookies: (url) => ctx.cookies(url),
    /** The URLs of the tab's session history. */
    async historyUrls(tab) {
      const cdp = await ctx.newCDPSession(tab.page);
      const { entries } = await cdp.send('Page.getNavigationHistory');
      await cdp.detach().catch(() => {});
      return entries.map((e) => e.url);
    },
    /** Every storage area's content as one JSON string (to search for secrets). */
    async storageDump() {
      return sw.evaluate(async () =>
        JSON.stringify({
          local: await chrome.storage.local.get(null),
          sync: await chrome.storage.sync.get(null),
          session: await chrome.storage.session.get(null),
        }),
      );
    },
    /** Whether any file under the profile directory contains needle. */
    async profileContains(needle) {
      return dirContains(profile, Buffer.from(needle));
    },
    async close() {
      await ctx.close().catch(() => {});
      await removeDirs();
    },
  };
  return driver;
}

/**
 * Launches Chromium with the extension on profile, recording every request into
 * requests from the start; resolves with the context and the extension's service worker.
 */
async function startChromium(profile, launcher, policy, incognito, requests) {
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: launcher ? await chromiumWithPolicy(launcher, policy) : CHROMIUM,
    headless: false, // --headless=new below: the old headless mode loads no extensions
    viewport: { width: 1100, height: 720 },
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--disable-extensions-except=${extensionDir}`,
      `--load-extension=${extensionDir}`,
    ],
  });
  ctx.on('request', (req) => {
    requests.push({
      url: req.url(),
      method: req.method(),
      referer: req.headers().referer ?? '',
      postData: req.postData() ?? '',
      navigation: req.isNavigationRequest(),
    });
  });
  try {
    let sw = ctx.serviceWorkers().find((w) => w.url().startsWith(EXTENSION_ORIGIN));
    sw ??= await ctx.waitForEvent('serviceworker', { predicate: (w) => w.url().startsWith(EXTENSION_ORIGIN) });
    if (incognito) sw = await allowInIncognito(ctx, sw);
    return { ctx, sw };
  } catch (err) {
    await ctx.close().catch(() => {});
    throw err;
  }
}

// Flips "Allow in Incognito" through the API behind chrome://extensions, then waits
// for the reloaded extension's new service worker.
async function allowInIncognito(ctx, oldWorker) {
  const page = await ctx.newPage();
  try {
    await page.goto('chrome://extensions/');
    const next = ctx.waitForEvent('serviceworker', { predicate: (w) => w.url().startsWith(EXTENSION_ORIGIN) && w !== oldWorker });
    await page.evaluate((extensionId) => chrome.developerPrivate.updateExtensionConfiguration({ extensionId, incognitoAccess: true }), EXTENSION_ID);
    const sw = await next;
    if (!(await sw.evaluate(() => chrome.extension.isAllowedIncognitoAccess()))) throw new Error('incognito access did not stick');
    return sw;
  } finally {
    await page.close();
  }
}

/** Whether any file under dir contains needle (a Buffer). */
export async function dirContains(dir, needle) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (await dirContains(p, needle)) return true;
    } else if (entry.isFile()) {
      const data = await readFile(p).catch(() => Buffer.alloc(0));
      if (data.includes(needle)) return true;
    }
  }
  return false;
}
