// Debian's Firefox ESR, headless, driven by puppeteer-core over WebDriver BiDi, with the
// extension installed as a temporary add-on (the unpacked extension/ folder, or a
// package zip), for the extension's end-to-end tests. launchFirefox() gives the same
// driver shape as launchExtension() in browser.mjs.
//
// What differs from Chromium, and how it is bridged here:
// - WebDriver BiDi does not open moz-extension:// pages unless the remote agent is
//   started with --remote-allow-system-access; with it, a tab on an extension page
//   (the "bridge") reaches the background page through runtime.getBackgroundPage(),
//   where Chromium's tests evaluate in the service worker.
// - BiDi does not give request bodies, so every request the browser makes goes through
//   a recording proxy on loopback (the only place it may go), which keeps method, URL,
//   Referer and form body, like browser.mjs's request log.
// - Enterprise policy (policies.json) is read from the distribution/ folder beside the
//   Firefox binary: with `policies`, Firefox runs from a private folder of links to
//   /usr/lib/firefox-esr whose distribution/ holds that file.

import { copyFile, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

import { dirContains, extensionDir } from './browser.mjs';
import { Tab, WAIT_MS } from './tab.mjs';

const FIREFOX = process.env.ACTAS_FIREFOX ?? '/usr/bin/firefox-esr';
const FIREFOX_DIR = process.env.ACTAS_FIREFOX_DIR ?? '/usr/lib/firefox-esr';
/** The add-on id (manifest's browser_specific_settings.gecko.id). */
export const ADDON_ID = 'actas@actas.dev';
/** The moz-extension:// UUID the tests fix through extensions.webextensions.uuids. */
export const FIREFOX_UUID = '6b8e1c59-6a0c-4e45-9d3f-0f5c2e2a7a11';
export const FIREFOX_ORIGIN = `moz-extension://${FIREFOX_UUID}`;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Starts Firefox with the extension; call close() from after().
 * - extension: a folder or a zip (default: extension/, unpacked);
 * - policies: the `policies` object of a policies.json (enterprise policy), or null;
 * - prefs: extra preferences.
 */
export async function launchFirefox({ extension = extensionDir, policies = null, prefs = {} } = {}) {
  const profile = await mkdtemp(path.join(tmpdir(), 'actas-firefox-'));
  const userDataDir = path.join(profile, 'profile');
  const requests = [];
  let proxy;
  let browser;
  // Stops what started and removes the profile: close(), or a launch that failed.
  const teardown = async () => {
    await browser?.close().catch(() => {});
    if (proxy) {
      proxy.server.closeAllConnections?.();
      proxy.server.close();
    }
    await rm(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
  };
  try {
    proxy = await recordingProxy(requests);
    const executablePath = policies ? await firefoxWithPolicies(path.join(profile, 'app'), policies) : FIREFOX;
    await mkdir(userDataDir);
    browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath,
      userDataDir,
      headless: true,
      args: ['--remote-allow-system-access'],
      defaultViewport: { width: 1100, height: 720 },
      extraPrefsFirefox: {
        'extensions.webextensions.uuids': JSON.stringify({ [ADDON_ID]: FIREFOX_UUID }),
        // Every request through the recording proxy, loopback ones too.
        'network.proxy.type': 1,
        'network.proxy.http': '127.0.0.1',
        'network.proxy.http_port': proxy.port,
        'network.proxy.no_proxies_on': '',
        'network.proxy.allow_hijacking_localhost': true,
        'privacy.userContext.enabled': true,
        'browser.shell.checkDefaultBrowser': false,
        ...prefs,
      },
    });
    const id = await browser.installExtension(extension);
    if (id !== ADDON_ID) throw new Error(`installed ${id}, not ${ADDON_ID}`);
  } catch (err) {
    await teardown();
    throw err;
  }

  const tabs = new WeakMap(); // puppeteer page -> Tab, so a page keeps one identity
  const wrap = (page) => {
    let t = tabs.get(page);
    if (!t) {
      t = new Tab(page, (width, height) => page.setViewport({ width, height }));
      tabs.set(page, t);
    }
    return t;
  };

  /** A new tab on url; BiDi loses moz-extension pages' load events, so it polls. */
  async function open(url) {
    const page = await browser.newPage();
    const tab = wrap(page);
    if (url.startsWith('moz-extension:')) {
      page.goto(url, { timeout: 0 }).catch(() => {}); // "frame detached" once the extension process takes over
      await tab.waitForURL(url);
    } else {
      await page.goto(url);
    }
    return tab;
  }

  let bridge;
  try {
    bridge = await open(`${FIREFOX_ORIGIN}/pages/open.html`);
  } catch (err) {
    await teardown();
    throw err;
  }

  const driver = {
    name: 'firefox',
    origin: FIREFOX_ORIGIN,
    browser,
    profile,
    requests,
    /**
     * Runs fn(arg) with the extension's privileges: in the bridge page, with
     * globalThis.actas taken from the background page (as the listeners call it).
     */
    bg(fn, arg) {
      const src = `(async () => {
        globalThis.actas = (await browser.runtime.getBackgroundPage()).actas;
        return (${fn})(${arg === undefined ? '' : JSON.stringify(arg)});
      })()`;
      return bridge.page.evaluate(src);
    },
    /** A new tab on one of the extension's pages. */
    extensionPage: (p) => open(`${FIREFOX_ORIGIN}/${p}`),
    newTab: (url) => open(url),
    /** See browser.mjs. */
    async waitForPage(pred, timeout = WAIT_MS, which = () => true) {
      const deadline = Date.now() + timeout;
      for (;;) {
        for (const page of await browser.pages()) {
          const tab = wrap(page);
          if (tab === bridge || !which(tab)) continue;
          const u = await page.evaluate(() => location.href).catch(() => '');
          if (u && pred(u)) return tab;
        }
        if (Date.now() > deadline) throw new Error(`no page matched within ${timeout} ms`);
        await sleep(50);
      }
    },
    /** The cookies of the default cookie store (not private windows', not containers') for url's host. */
    async cookies(url) {
      const { hostname } = new URL(url);
      return (await browser.cookies()).filter((c) => c.domain === hostname || c.domain === `.${hostname}`);
    },
    /** Firefox keeps session history out of WebDriver's reach: the profile's files hold Places. */
    historyUrls: async () => null,
    async storageDump() {
      return driver.bg(async () =>
        JSON.stringify({
          local: await chrome.storage.local.get(null),
          sync: await chrome.storage.sync.get(null),
          session: await chrome.storage.session.get(null),
        }),
      );
    },
    profileContains: (needle) => dirContains(userDataDir, Buffer.from(needle)),
    close: teardown,
  };
  return driver;
}

// A folder that runs the installed Firefox (its binary copied, everything else linked)
// with a distribution/policies.json of its own: Firefox looks for enterprise policy
// beside the binary it was started from.
async function firefoxWithPolicies(dir, policies) {
  await mkdir(dir);
  for (const name of await readdir(FIREFOX_DIR)) {
    if (name === 'distribution' || name === path.basename(FIREFOX)) continue;
    await symlink(path.join(FIREFOX_DIR, name), path.join(dir, name));
  }
  const bin = path.join(dir, path.basename(FIREFOX));
  await copyFile(path.join(FIREFOX_DIR, path.basename(FIREFOX)), bin);
  await mkdir(path.join(dir, 'distribution'));
  await writeFile(path.join(dir, 'distribution', 'policies.json'), JSON.stringify({ policies }, null, 2));
  return bin;
}

const FORM = 'application/x-www-form-urlencoded';

// An HTTP proxy on loopback that forwards to loopback only and records each request
// {url, method, referer, postData}. Anything else (Firefox's own traffic to the
// internet) is answered 502 and goes nowhere.
function recordingProxy(requests) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let target;
      try {
        target = new URL(req.url);
      } catch {
        target = null;
      }
      requests.push({
        url: req.url,
        method: req.method,
        referer: req.headers.referer ?? '',
        postData: (req.headers['content-type'] ?? '').startsWith(FORM) ? body.toString('utf8') : '',
      });
      if (!target || target.protocol !== 'http:' || !['127.0.0.1', 'localhost'].includes(target.hostname)) {
        res.writeHead(502).end();
        return;
      }
      const headers = { ...req.headers };
      delete headers['proxy-connection'];
      const up = http.request(
        { host: target.hostname, port: target.port || 80, path: target.pathname + target.search, method: req.method, headers },
        (upRes) => {
          res.writeHead(upRes.statusCode, upRes.rawHeaders);
          upRes.pipe(res);
        },
      );
      // Nothing listening: drop the connection, so the browser sees a network error as it
      // would without the proxy.
      up.on('error', () => req.socket.destroy());
      up.end(body);
    });
  });
  // HTTPS (CONNECT) is not relayed: the tests reach only the loopback stack.
  server.on('connect', (_req, socket) => socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n'));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: server.address().port }));
  });
}
