// The banner in the tab where an impersonation landed. It runs inside the target
// application's page, which it treats as hostile: it receives no token, only what it
// displays; it renders into a closed shadow root with textContent; and the page cannot
// talk to the extension (no externally_connectable), only this script can.
(() => {
  // The guard lives in this extension's isolated world, where the page cannot forge it
  // (an element id could be planted by the page to suppress the banner).
  if (globalThis.actasBanner) return;
  globalThis.actasBanner = { root: null };
  const TICK_MS = 1000;

  function fmt(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
  }

  chrome.runtime.sendMessage({ op: 'bannerState' }).then((res) => {
    const st = res?.ok ? res.value : null;
    if (!st) {
      globalThis.actasBanner = null;
      return;
    }
    const host = document.createElement('div');
    host.style.cssText = 'all: initial; position: fixed; z-index: 2147483647; left: 0; right: 0; bottom: 0;';
    const root = host.attachShadow({ mode: 'closed' });
    const style = document.createElement('style');
    style.textContent = `
      .bar { display: flex; gap: 12px; align-items: center; justify-content: center;
        font: 13px/1.3 system-ui, sans-serif; color: #1d1d1d; background: #ffd54f;
        border-top: 1px solid #c8a415; padding: 5px 10px; box-shadow: 0 -1px 4px #0003; }
      .who { font-weight: 600; }
      .reason { max-width: 40ch; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
      button { font: inherit; padding: 2px 10px; border-radius: 4px; border: 1px solid #7a1a14;
        background: #b3261e; color: #fff; cursor: pointer; }
      .hide { background: transparent; color: #1d1d1d; border-color: transparent; }`;
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.setAttribute('role', 'status');
    const who = document.createElement('span');
    who.className = 'who';
    // The name is the admin tool's (the page's word); the UUID beside it is what was
    // impersonated, in full, so a name cannot pass for someone else.
    who.textContent = st.userLabel
      ? `Acting as ${st.userLabel} (${st.userUuid}) in ${st.app}`
      : `Acting as ${st.userUuid} in ${st.app}`;
    who.title = st.userUuid;
    const reason = document.createElement('span');
    reason.className = 'reason';
    reason.textContent = st.reason ? `— ${st.reason}` : '';
    reason.title = st.reason;
    const left = document.createElement('span');
    left.className = 'left';
    const endBtn = document.createElement('button');
    endBtn.className = 'end';
    endBtn.textContent = 'End';
    endBtn.title = 'Sign this impersonated session out and record the end in the audit trail';
    const hide = document.createElement('button');
    hide.className = 'hide';
    hide.textContent = '×';
    hide.title = 'Hide this bar (the impersonation goes on)';
    bar.append(who, reason, left, endBtn, hide);
    root.append(style, bar);
    document.documentElement.append(host);
    globalThis.actasBanner.root = root;

    const tick = () => {
      left.textContent = `— ${fmt(st.endsAt - Date.now())} left`;
    };
    tick();
    const timer = setInterval(tick, TICK_MS);
    hide.addEventListener('click', () => host.remove());
    endBtn.addEventListener('click', () => {
      endBtn.disabled = true;
      endBtn.textContent = 'Ending…';
      clearInterval(timer);
      chrome.runtime.sendMessage({ op: 'bannerEnd' });
    });
  });
})();
