// Turning Worker answers and failures into sentences an admin can act on.

const PREFIX = 'urn:actas:problem:';

/** An Error carrying what the notification needs: a title, a message and a kind. */
export class ActasError extends Error {
  constructor(kind, title, message, extra = {}) {
    super(message);
    this.kind = kind;
    this.title = title;
    Object.assign(this, extra);
  }
}

const TITLES = {
  unauthenticated: 'Sign in again',
  forbidden: 'Not allowed',
  'user-not-allowed': 'This user cannot be impersonated',
  'client-not-allowed': 'Application not allowed',
  'reason-required': 'A reason is needed',
  'reason-invalid': 'Reason not accepted',
  'rate-limited': 'Too many impersonations',
  'origin-not-allowed': 'The Worker does not accept this extension',
  'upstream-failed': 'Bare.ID answered wrongly',
  'upstream-unavailable': 'Bare.ID is unreachable',
  'upstream-timeout': 'Bare.ID did not answer in time',
  'audit-unavailable': 'Audit trail unavailable',
  'configuration-invalid': 'The Worker is misconfigured',
};

/**
 * An ActasError for a Worker answer that was not ok: problem JSON when it is one
 * (its `detail`, and the request id for support), else the status.
 */
export function problemError(status, body, retryAfter) {
  const slug = typeof body?.type === 'string' && body.type.startsWith(PREFIX) ? body.type.slice(PREFIX.length) : '';
  const title = TITLES[slug] ?? (status >= 500 ? 'The Worker failed' : 'The Worker refused');
  let message = typeof body?.detail === 'string' && body.detail ? body.detail : `The Worker answered ${status}.`;
  if (slug === 'rate-limited' && retryAfter) message += ` Try again in ${retryAfter} s.`;
  if (slug === 'origin-not-allowed') {
    message += ' Add this extension\'s origin to ACTAS_ALLOWED_ORIGINS (the options page shows it).';
  }
  if (typeof body?.requestId === 'string') message += ` (request ${body.requestId})`;
  return new ActasError(slug || `http-${status}`, title, message, { status });
}

/** An ActasError for a Worker that could not be reached at all. */
export function unreachableError(workerUrl) {
  return new ActasError(
    'worker-unreachable',
    'actas Worker unreachable',
    `Could not reach the actas Worker at ${workerUrl}. Check the Worker URL in the options, and your connection.`,
  );
}
