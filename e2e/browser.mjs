// Debian's Chromium, headless, with the unpacked extension loaded, for the extension's
// end-to-end tests. launchExtension() starts it on a fresh profile directory and records
// every request the pages make (URL, Referer, form body), so tests can prove where the
// impersonation token went and where it did not.

import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

import { root } from './harness.mjs';

export const extensionDir = path.join(root, 'extension');
/** The development id that the manifest's public `key` gives the extension. */
export const EXTENSION_ID = 'maocjchajlalcogpajlkfocplghlfopb';
export const EXTENSION_ORIGIN = `chrome-extension://${EXTENSION_ID}`;
export const artifactsDir = path.join(root, 'e2e', 'artifacts');

const CHROMIUM = process.env.ACTAS_CHROMIUM ?? '/usr/bin/chromium';

/** Starts Chromium with the extension; call close() from after(). */
export async function launchExtension() {
  const profile = await mkdtemp(path.join(tmpdir(), 'actas-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
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
  const requests = [];
  ctx.on('request', (req) => {
    requests.push({
      url: req.url(),
      method: req.method(),
      referer: req.headers().referer ?? '',
      postData: req.postData() ?? '',
      navigation: req.isNavigationRequest(),
    });
  });
  let sw = ctx.serviceWorkers().find((w) => w.url().startsWith(EXTENSION_ORIGIN));
  sw ??= await ctx.waitForEvent('serviceworker', { predicate: (w) => w.url().startsWith(EXTENSION_ORIGIN) });
  return {
    ctx,
    sw,
    profile,
    requests,
    /** A new tab on one of the extension's pages. */
    async extensionPage(p) {
      const page = await ctx.newPage();
      await page.goto(`${EXTENSION_ORIGIN}/${p}`);
      return page;
    },
    /** The next page (tab or window) whose URL satisfies pred. */
    waitForPage(pred, timeout = 15_000) {
      const existing = ctx.pages().find((p) => pred(p.url()));
      if (existing) return Promise.resolve(existing);
      return ctx.waitForEvent('page', { predicate: (p) => pred(p.url()), timeout });
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
      await rm(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
    },
  };
}

async function dirContains(dir, needle) {
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
