// One tab or window of either browser, behind the few operations the extension's
// end-to-end tests need, so that one test body drives Chromium (playwright-core) and
// Firefox (puppeteer-core over WebDriver BiDi) alike. Both libraries' pages have
// evaluate(fn, arg), click(selector), mouse.click, screenshot and close; everything else
// is done inside the page, polling where a test waits.

const POLL_MS = 50;
export const WAIT_MS = 15_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class Tab {
  /** page: a playwright or puppeteer page; setSize(w, h) resizes its viewport. */
  constructor(page, setSize) {
    this.page = page;
    this.setSize = setSize;
  }

  evaluate(fn, arg) {
    return this.page.evaluate(fn, arg);
  }

  /** The document's own address (puppeteer does not follow pages the extension opens). */
  async url() {
    return this.page.evaluate(() => location.href).catch(() => this.page.url());
  }

  isClosed() {
    return this.page.isClosed();
  }

  /** Polls fn(arg) in the page until it returns a truthy value; a navigation in between is retried. */
  async until(fn, arg, what, timeout = WAIT_MS) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const v = await this.page.evaluate(fn, arg).catch(() => undefined);
      if (v) return v;
      if (this.page.isClosed()) throw new Error(`the page closed while waiting for ${what}`);
      if (Date.now() > deadline) throw new Error(`waited ${timeout} ms for ${what} on ${await this.url()}`);
      await sleep(POLL_MS);
    }
  }

  /** Waits for a visible element matching selector (e.g. '#reason:enabled'). */
  waitFor(selector, timeout) {
    const visible = (sel) => {
      const e = document.querySelector(sel);
      return Boolean(e && e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden');
    };
    return this.until(visible, selector, selector, timeout);
  }

  /** Waits until the element's (or the body's) text contains text. */
  waitForText(text, selector = 'body', timeout = undefined) {
    const has = ({ text, selector }) => document.querySelector(selector)?.textContent.includes(text);
    return this.until(has, { text, selector }, `"${text}" in ${selector}`, timeout);
  }

  /** Waits until the address satisfies pred (a function of the URL string or a RegExp). */
  async waitForURL(pred, timeout = WAIT_MS) {
    const test = pred instanceof RegExp ? (u) => pred.test(u) : typeof pred === 'string' ? (u) => u === pred : pred;
    const deadline = Date.now() + timeout;
    for (;;) {
      const u = await this.page.evaluate(() => document.readyState === 'complete' && location.href).catch(() => '');
      if (u && test(u)) return u;
      if (Date.now() > deadline) throw new Error(`waited ${timeout} ms for the URL; it is ${await this.url()}`);
      await sleep(POLL_MS);
    }
  }

  async text(selector) {
    return this.page.evaluate((s) => document.querySelector(s)?.textContent ?? null, selector);
  }

  async value(selector) {
    return this.page.evaluate((s) => document.querySelector(s)?.value ?? null, selector);
  }

  async visible(selector) {
    return this.page.evaluate((s) => {
      const e = document.querySelector(s);
      return Boolean(e && !e.hidden && e.getClientRects().length);
    }, selector);
  }

  async count(selector) {
    return this.page.evaluate((s) => document.querySelectorAll(s).length, selector);
  }

  /** Sets an input's or select's value as typing or choosing would (input and change events). */
  async fill(selector, value) {
    await this.waitFor(selector);
    const ok = await this.page.evaluate(
      ({ selector, value }) => {
        const e = document.querySelector(selector);
        if (e instanceof HTMLSelectElement && ![...e.options].some((o) => o.value === value)) return false;
        e.focus();
        e.value = value;
        e.dispatchEvent(new Event('input', { bubbles: true }));
        e.dispatchEvent(new Event('change', { bubbles: true }));
        return true;
      },
      { selector, value },
    );
    if (!ok) throw new Error(`${selector} has no option ${value}`);
  }

  select(selector, value) {
    return this.fill(selector, value);
  }

  /** A real click (input events from the browser, so it counts as a user gesture). */
  async click(selector) {
    await this.waitFor(selector);
    await this.page.click(selector);
  }

  mouseClick(x, y) {
    return this.page.mouse.click(x, y);
  }

  async goto(url) {
    await this.page.goto(url);
  }

  async reload() {
    await this.page.evaluate(() => location.reload());
    await sleep(POLL_MS);
    await this.until(() => document.readyState === 'complete', undefined, 'the reload');
  }

  /**
   * Resolves once the page (a window the extension closes itself) is gone. Puppeteer
   * does not always mark such a page closed; it can no longer evaluate in it either.
   */
  async closed(timeout = WAIT_MS) {
    const deadline = Date.now() + timeout;
    const gone = async () => this.page.isClosed() || (await this.page.evaluate(() => true).then(() => false, () => true));
    while (!(await gone())) {
      if (Date.now() > deadline) throw new Error(`the page did not close within ${timeout} ms`);
      await sleep(POLL_MS);
    }
  }

  size(width, height) {
    return this.setSize(width, height);
  }

  screenshot(file) {
    return this.page.screenshot({ path: file });
  }

  async close() {
    if (!this.page.isClosed()) await this.page.close().catch(() => {});
  }
}
