-- The audit trail of impersonations: one row per attempt, written before Bare.ID is
-- called ('pending') and completed once with the outcome before any token is returned.
-- No token or secret is ever stored here.
CREATE TABLE impersonations (
  id              TEXT PRIMARY KEY,            -- random UUID, also the API id
  requested_at    TEXT NOT NULL,               -- RFC 3339, UTC, milliseconds
  actor           TEXT NOT NULL,               -- the real human, or the API key label
  actor_kind      TEXT NOT NULL,               -- how the actor was identified (api-key, oidc, access)
  target_user     TEXT NOT NULL,               -- Bare.ID user UUID
  client_id       TEXT NOT NULL,               -- target application
  reason          TEXT NOT NULL,
  request_id      TEXT NOT NULL,
  client_ip       TEXT NOT NULL DEFAULT '',
  user_agent      TEXT NOT NULL DEFAULT '',
  outcome         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (outcome IN ('pending', 'issued', 'denied', 'failed')),
  outcome_detail  TEXT NOT NULL DEFAULT '',    -- the rule that denied, or the failure's problem type
  upstream_status INTEGER,                     -- Bare.ID's HTTP status, when one arrived
  completed_at    TEXT,
  expires_at      TEXT                         -- when the issued token stops working
);

CREATE INDEX impersonations_requested_at ON impersonations (requested_at);
CREATE INDEX impersonations_actor ON impersonations (actor, requested_at);
CREATE INDEX impersonations_target_user ON impersonations (target_user, requested_at);

-- Append-only: rows are never deleted, and the only update is completing a pending
-- row's outcome; what was requested, by whom, stays as written.
CREATE TRIGGER impersonations_no_delete BEFORE DELETE ON impersonations
BEGIN
  SELECT RAISE(ABORT, 'audit rows are append-only');
END;

CREATE TRIGGER impersonations_complete_once BEFORE UPDATE ON impersonations
WHEN OLD.outcome <> 'pending'
  OR NEW.outcome = 'pending'
  OR NEW.id IS NOT OLD.id
  OR NEW.requested_at IS NOT OLD.requested_at
  OR NEW.actor IS NOT OLD.actor
  OR NEW.actor_kind IS NOT OLD.actor_kind
  OR NEW.target_user IS NOT OLD.target_user
  OR NEW.client_id IS NOT OLD.client_id
  OR NEW.reason IS NOT OLD.reason
  OR NEW.request_id IS NOT OLD.request_id
  OR NEW.client_ip IS NOT OLD.client_ip
  OR NEW.user_agent IS NOT OLD.user_agent
BEGIN
  SELECT RAISE(ABORT, 'audit rows are append-only');
END;
