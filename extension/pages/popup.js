// The toolbar popup: signed-in state, the open impersonations with End, the last ones
// from the audit trail, and the last notice while it is fresh. It renders again whenever
// storage.session changes (an End from a banner, an alarm, a sign-out elsewhere), so it
// never shows an impersonation that has ended.
import { originPattern } from '../lib/urlcheck.js';
import { call, duration, el, shortUuid } from './common.js';

const $ = (id) => document.getElementById(id);

function account(status) {
  const box = $('account');
  box.replaceChildren();
  if (!status.signedIn || !status.me) {
    box.append(
      el('p', {}, 'Not signed in.'),
      el('button', { class: 'primary', id: 'sign-in', onclick: () => act('signIn') }, 'Sign in with Bare.ID'),
    );
    return;
  }
  box.append(
    el('p', {}, 'Signed in as ', el('strong', { id: 'actor' }, status.me.actor)),
    el('p', { class: 'muted' }, `Applications: ${status.me.clients.map((c) => c.name).join(', ') || 'none'}`),
    el('button', { id: 'sign-out', onclick: () => act('signOut') }, 'Sign out'),
  );
}

let noticeTimer;

function notice(status) {
  const n = status.lastNotice;
  $('notice').replaceChildren(n ? el('div', { class: 'card', id: 'last-notice' }, el('strong', {}, n.title), el('div', { class: 'muted' }, n.message)) : '');
  clearTimeout(noticeTimer);
  if (n?.expiresAt) noticeTimer = setTimeout(scheduleRender, Math.max(0, n.expiresAt - Date.now()) + 50);
}

const MODES = { tab: 'tab', incognito: 'private window', container: 'container' };

async function grantBanner(imp) {
  // Host access for the application's origin, asked for with a click (a user gesture).
  if (await chrome.permissions.request({ origins: [originPattern(imp.origin)] })) await act('showBanner', { id: imp.id });
}

/** Marks the impersonations whose application the banner cannot reach yet. */
async function withAccess(active) {
  return Promise.all(
    active.map(async (imp) => ({
      ...imp,
      bannerBlocked: Boolean(imp.origin) && !(await chrome.permissions.contains({ origins: [originPattern(imp.origin)] })),
    })),
  );
}

function active(status) {
  if (!status.active.length) {
    $('active').replaceChildren(el('p', { class: 'muted' }, 'No impersonation open.'));
    return;
  }
  $('active').replaceChildren(
    ...status.active.map((imp) =>
      el(
        'div',
        { class: 'card' },
        el('div', {}, el('strong', {}, imp.app), ' as ', imp.userLabel ? `${imp.userLabel} ` : '', el('span', { class: 'mono', title: imp.userUuid }, shortUuid(imp.userUuid))),
        el('div', { class: 'muted' }, `${imp.reason || 'no reason'} — ${duration(imp.endsAt - Date.now())} left — ${MODES[imp.mode] ?? imp.mode}`),
        el('div', { class: 'row' },
          el('button', { class: 'danger', onclick: () => act('end', { id: imp.id }) }, 'End'),
          imp.bannerBlocked ? el('button', { onclick: () => grantBanner(imp) }, 'Show the banner there') : ''),
      ),
    ),
  );
}

async function recent(current) {
  try {
    const { items } = await call('recent');
    if (!current()) return;
    if (!items.length) return;
    $('recent').replaceChildren(
      el('table', {}, ...items.map((r) =>
        el('tr', {},
          el('td', {}, new Date(r.requestedAt).toLocaleString([], { dateStyle: 'short', timeStyle: 'short' })),
          el('td', { class: 'mono', title: r.userUuid }, shortUuid(r.userUuid)),
          el('td', {}, r.clientId),
          el('td', {}, r.endedAt ? 'ended' : r.outcome)))),
    );
  } catch (err) {
    if (current()) $('recent').replaceChildren(el('p', { class: 'muted' }, err.message));
  }
}

// While an operation of the popup's own runs (a sign-out ends every impersonation, then
// drops the tokens), the storage changes it makes are no state to show: a snapshot taken
// halfway would say "signed out" beside an impersonation that is being ended. Renders
// wait for it, and it renders once it is done.
let acting = 0;

async function act(op, args) {
  $('error').textContent = '';
  acting++;
  generation++; // a render already on its way would show the state before the operation
  try {
    await call(op, args);
  } catch (err) {
    $('error').textContent = err.message;
  } finally {
    acting--;
  }
  await render().catch(showError);
}

// Renders overlap (a change arrives while one waits for the service worker): only the
// newest may write, or an older answer would bring back what has just ended.
let generation = 0;

async function render() {
  if (acting) return; // act renders when its operation is done
  const mine = ++generation;
  const current = () => mine === generation;
  const status = await call('status');
  status.active = await withAccess(status.active);
  if (!current()) return;
  account(status);
  notice(status);
  active(status);
  if (status.signedIn) await recent(current);
  else $('recent').replaceChildren(el('p', { class: 'muted' }, '—'));
}

const showError = (err) => ($('error').textContent = err.message);

// Changes come in bursts (End writes several keys): one render for each burst.
let pending = null;
function scheduleRender() {
  pending ??= new Promise((resolve) => setTimeout(resolve, 50))
    .then(() => {
      pending = null;
      return render();
    })
    .catch(showError);
}

const WATCHED = ['active', 'me', 'lastNotice']; // not auth: a silent token refresh changes nothing shown
const sessionChanged = chrome.storage.session.onChanged ?? null;
const onChanged = (changes) => {
  if (WATCHED.some((k) => k in changes)) scheduleRender();
};
if (sessionChanged) sessionChanged.addListener(onChanged);
else chrome.storage.onChanged.addListener((changes, area) => area === 'session' && onChanged(changes));

render().catch(showError);
