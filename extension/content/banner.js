// The banner in the tab where an impersonation landed. It runs inside the target
// application's page, which it treats as hostile: it receives no token, only what it
// displays; it renders into a closed shadow root with textContent; and the page cannot
// talk to the extension (no externally_connectable), only this script can. When the
// impersonation is replaced by a later one in the same browser profile, the service
// worker says so and the bar stops naming a user the page no longer belongs to.
(() => {
  // The guard lives in this extension's isolated world, where the page cannot forge it
  // (an element id could be planted by the page to suppress the banner). Injected again,
  // the script asks for the current state instead of adding a second bar.
  if (globalThis.actasBanner) {
    void globalThis.actasBanner.refresh();
    return;
  }
  globalThis.actasBanner = { root: null, refresh: () => refresh() };
  const TICK_MS = 1000;
  let host = null;
  let timer = null;

  function fmt(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }

  function span(className, text, title) {
    const e = document.createElement('span');
    e.className = className;
    e.textContent = text;
    if (title !== undefined) e.title = title;
    return e;
  }

  function button(className, text, title) {
    const b = document.createElement('button');
    b.className = className;
    b.textContent = text;
    b.title = title;
    return b;
  }

  function acting(bar, st) {
    // The name is the admin tool's (the page's word); the UUID beside it is what was
    // impersonated, in full, so a name cannot pass for someone else.
    const who = span(
      'who',
      st.userLabel ? `Acting as ${st.userLabel} (${st.userUuid}) in ${st.app}` : `Acting as ${st.userUuid} in ${st.app}`,
      st.userUuid,
    );
    const reason = span('reason', st.reason ? `— ${st.reason}` : '', st.reason);
    const left = span('left', '');
    const endBtn = button('end', 'End', 'Sign this impersonated session out and record the end in the audit trail');
    const hide = button('hide', '×', 'Hide this bar (the impersonation goes on)');
    bar.append(who, reason, left, endBtn, hide);
    const tick = () => {
      left.textContent = `— ${fmt(st.endsAt - Date.now())} left`;
    };
    tick();
    timer = setInterval(tick, TICK_MS);
    hide.addEventListener('click', () => host.remove());
    endBtn.addEventListener('click', () => {
      endBtn.disabled = true;
      endBtn.textContent = 'Ending…';
      clearInterval(timer);
      chrome.runtime.sendMessage({ op: 'bannerEnd' });
    });
  }

  function replaced(bar) {
    bar.classList.add('replaced');
    bar.append(
      span('who', 'Impersonation replaced'),
      span('what', '— a later impersonation in this browser profile took over this Bare.ID session and this one was ended. This page may now show another user: reload it to see who is signed in.'),
    );
    const hide = button('hide', '×', 'Hide this bar');
    hide.addEventListener('click', () => host.remove());
    bar.append(hide);
  }

  function render(st) {
    clearInterval(timer);
    if (!host) {
      host = document.createElement('div');
      host.style.cssText = 'all: initial; position: fixed; z-index: 2147483647; left: 0; right: 0; bottom: 0;';
      globalThis.actasBanner.root = host.attachShadow({ mode: 'closed' });
    }
    const style = document.createElement('style');
    style.textContent = `
      .bar { display: flex; gap: 12px; align-items: center; justify-content: center;
        font: 13px/1.3 system-ui, sans-serif; color: #1d1d1d; background: #ffd54f;
        border-top: 1px solid #c8a415; padding: 5px 10px; box-shadow: 0 -1px 4px #0003; }
      .bar.replaced { background: #e0e0e0; border-top-color: #9e9e9e; }
      .who { font-weight: 600; }
      .reason { max-width: 40ch; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
      button { font: inherit; padding: 2px 10px; border-radius: 4px; border: 1px solid #7a1a14;
        background: #b3261e; color: #fff; cursor: pointer; }
      .hide { background: transparent; color: #1d1d1d; border-color: transparent; }`;
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.setAttribute('role', 'status');
    if (st.replaced) replaced(bar);
    else acting(bar, st);
    globalThis.actasBanner.root.replaceChildren(style, bar);
    if (!host.isConnected) document.documentElement.append(host);
  }

  async function refresh() {
    const res = await chrome.runtime.sendMessage({ op: 'bannerState' });
    const st = res?.ok ? res.value : null;
    if (st) {
      render(st);
      return;
    }
    // Nothing to show (ended, or never here): no bar.
    clearInterval(timer);
    host?.remove();
  }

  // Only the extension can send to this listener (tabs.sendMessage), never the page.
  chrome.runtime.onMessage.addListener((msg, sender) => {
    if (sender.id === chrome.runtime.id && msg?.op === 'actasBannerChanged') void refresh();
  });
  void refresh();
})();
