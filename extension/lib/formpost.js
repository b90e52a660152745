// Sends the impersonation token to Bare.ID from the current page: a form POST
// (application/x-www-form-urlencoded, no Referer), so the token appears in no URL,
// history entry or Referer; GET with a query parameter only when the Worker says Bare.ID
// demands it. Used by pages/open.js, and injected by the service worker into the
// Worker's /open page in a private window, so it must stay self-contained: no imports,
// no closures.

/**
 * h: {url, method, field, token, page?}. With `page`, nothing is sent unless the
 * document is still exactly that page; the answer says whether it was sent.
 */
export function submitImpersonation(h) {
  if (h.page && location.href !== h.page) return false;
  if (h.method === 'GET') {
    const u = new URL(h.url);
    u.searchParams.set(h.field, h.token);
    location.replace(u.href);
    return true;
  }
  const form = document.createElement('form');
  form.method = 'POST';
  form.action = h.url;
  form.enctype = 'application/x-www-form-urlencoded';
  form.referrerPolicy = 'no-referrer';
  form.rel = 'noreferrer';
  const input = document.createElement('input');
  input.type = 'hidden';
  input.name = h.field;
  input.value = h.token;
  form.append(input);
  document.body.append(form);
  form.submit();
  return true;
}
