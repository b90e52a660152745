// The Worker's API (worker/server/openapi.json), with the admin's access token.

import { problemError, unreachableError, ActasError } from './lib/problem.js';
import { checkBaseUrl } from './lib/urlcheck.js';
import { accessToken } from './sw-auth.js';
import { settings } from './sw-settings.js';

const TIMEOUT_MS = 15_000;

async function send(method, path, body, token) {
  const s = await settings();
  const base = checkBaseUrl(s.workerUrl, 'The Worker URL');
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch {
    throw unreachableError(base);
  }
  const json = await res.json().catch(() => undefined);
  if (!res.ok) throw problemError(res.status, json, res.headers.get('retry-after'));
  if (json === undefined) throw new ActasError('bad-answer', 'The Worker answered wrongly', `${path} did not answer JSON.`);
  return json;
}

/** Calls the Worker; on 401 refreshes the sign-in once and retries. */
export async function api(method, path, body) {
  try {
    return await send(method, path, body, await accessToken());
  } catch (err) {
    if (err.status !== 401) throw err;
    return send(method, path, body, await accessToken({ force: true }));
  }
}

export const getMe = () => api('GET', '/v1/me');
export const getClients = () => api('GET', '/v1/clients');
export const listImpersonations = (limit = 10) => api('GET', `/v1/impersonations?limit=${limit}`);
export const mint = (req) => api('POST', '/v1/impersonations', req);
export const endImpersonation = (id) => api('POST', `/v1/impersonations/${encodeURIComponent(id)}/end`);
