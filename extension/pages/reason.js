// The reason window: shows who and where, asks why, remembers recent ticket ids (never
// anything else) in storage.local.
import { containers } from '../lib/platform.js';
import { call, el } from './common.js';

const RECENT_MAX = 8;
const TICKET_RE = /^[A-Z][A-Z0-9]*-\d+/; // what is worth remembering: the ticket id only
const $ = (id) => document.getElementById(id);
const requestId = location.hash.slice(1);

async function recentTickets() {
  return (await chrome.storage.local.get('recentTickets')).recentTickets ?? [];
}

async function rememberTicket(reason) {
  const m = TICKET_RE.exec(reason.trim());
  if (!m) return;
  const list = [m[0], ...(await recentTickets()).filter((t) => t !== m[0])].slice(0, RECENT_MAX);
  await chrome.storage.local.set({ recentTickets: list });
}

function check(reason, me) {
  if (!me.reasonRequired) return '';
  if (reason.trim().length < (me.reasonMinLength || 1)) return `The reason needs at least ${me.reasonMinLength} characters.`;
  if (me.reasonPattern && !new RegExp(me.reasonPattern).test(reason)) return `The reason must match ${me.reasonPattern}.`;
  return '';
}

/**
 * Several UUIDs and nothing to decide between them: one choice each, with what the page
 * says about that UUID beside it, and none chosen until the admin does.
 */
function showCandidates(candidates, namedBy) {
  $('choose').hidden = false;
  for (const c of candidates) {
    $('candidates').append(
      el('label', { class: 'choice' },
        el('input', { type: 'radio', name: 'user', value: c.uuid }),
        el('span', {},
          c.label ? el('strong', {}, c.label) : el('span', { class: 'muted' }, 'no name on the page'),
          ' ', el('span', { class: 'muted' }, c.label ? namedBy : ''),
          el('div', { class: 'mono' }, c.uuid))),
    );
  }
}

const chosenUser = () => document.querySelector('input[name=user]:checked')?.value ?? '';

async function main() {
  const [request, status] = await Promise.all([call('pendingRequest', { requestId }), call('status')]);
  if (!request || !status.me) {
    $('error').textContent = 'This request is no longer open: right-click the user again.';
    $('go').disabled = true;
    return;
  }
  const me = status.me;
  const namedBy = request.tabHost ? `as ${request.tabHost} names them` : 'as the page names them';
  if (request.candidates?.length) {
    showCandidates(request.candidates, namedBy);
  } else {
    $('user').textContent = request.userUuid;
    if (request.userLabel) {
      $('user-label').textContent = request.userLabel;
      $('user-label-source').textContent = namedBy;
    }
  }
  $('actor').textContent = me.actor;
  for (const c of me.clients) $('client').append(new Option(`${c.name} (${c.clientId})`, c.clientId, false, c.clientId === request.clientId));
  if (!containers()) $('mode').querySelector('[value=container]').remove();
  if (!(await chrome.extension.isAllowedIncognitoAccess())) {
    $('mode').querySelector('[value=incognito]').textContent += ' (allow actas in private windows first)';
  }
  $('mode').value = request.openMode;
  // Warned once: until a tab has been opened from this window, a tab says what it costs.
  const warned = (await chrome.storage.local.get('tabModeWarned')).tabModeWarned === true;
  const showWarning = () => ($('tab-warning').hidden = warned || $('mode').value !== 'tab');
  $('mode').addEventListener('change', showWarning);
  showWarning();
  if (me.reasonRequired) {
    $('reason').required = true;
    $('rule').textContent = `(required, at least ${me.reasonMinLength} characters${me.reasonPattern ? `, matching ${me.reasonPattern}` : ''})`;
  } else {
    $('rule').textContent = '(optional)';
  }
  for (const t of await recentTickets()) $('recent').append(new Option(t));
  $('reason').focus();

  $('cancel').addEventListener('click', async () => {
    await call('cancelRequest', { requestId });
    window.close();
  });
  $('form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const reason = $('reason').value;
    const problem = request.candidates?.length && !chosenUser() ? 'Choose which user to act as.' : check(reason, me);
    $('error').textContent = problem;
    if (problem) return;
    $('go').disabled = true;
    try {
      await rememberTicket(reason);
      await call('submitReason', { requestId, clientId: $('client').value, reason, openMode: $('mode').value, userUuid: chosenUser() });
      window.close();
    } catch (err) {
      $('error').textContent = err.message;
      $('go').disabled = false;
    }
  });
}

main().catch((err) => {
  $('error').textContent = err.message;
});
