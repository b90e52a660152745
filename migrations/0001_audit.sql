-- The audit trail: an append-only, hash-chained log of impersonation events. An
-- impersonation is one 'requested' event (written before Bare.ID is called), then one
-- outcome event ('issued', 'denied' or 'failed', written before any token is returned),
-- then possibly 'ended'. No token or secret is ever stored here.
--
-- Each event carries the SHA-256 of the previous event (prev_hash) and of itself (hash)
-- over a canonical encoding (worker/audit/chain.go), so a row edited or removed
-- directly in the database breaks the chain; GET /v1/impersonations/verify finds it.
CREATE TABLE audit_events (
  seq              INTEGER PRIMARY KEY,        -- 1, 2, 3, ... in chain order, no gaps
  impersonation_id TEXT NOT NULL,              -- random UUID, the API's id
  event            TEXT NOT NULL
                   CHECK (event IN ('requested', 'issued', 'denied', 'failed', 'ended')),
  at               TEXT NOT NULL,              -- RFC 3339, UTC, milliseconds
  actor            TEXT NOT NULL,              -- the real human, or the API key label
  actor_kind       TEXT NOT NULL,              -- how the actor was identified: api-key, oidc, access
  target_user      TEXT NOT NULL,              -- Bare.ID user UUID
  client_id        TEXT NOT NULL,              -- target application
  reason           TEXT NOT NULL,
  request_id       TEXT NOT NULL,
  client_ip        TEXT NOT NULL DEFAULT '',
  user_agent       TEXT NOT NULL DEFAULT '',
  detail           TEXT NOT NULL DEFAULT '',   -- the rule that denied, or the failure's problem type
  upstream_status  INTEGER,                    -- Bare.ID's HTTP status, when one arrived
  expires_at       TEXT,                       -- 'issued' only: when the token stops working
  prev_hash        TEXT NOT NULL,              -- hash of event seq-1 (64 zeros for the first)
  hash             TEXT NOT NULL
);

-- At most one event of each kind per impersonation, and one outcome.
CREATE UNIQUE INDEX audit_events_requested ON audit_events (impersonation_id) WHERE event = 'requested';
CREATE UNIQUE INDEX audit_events_outcome ON audit_events (impersonation_id) WHERE event IN ('issued', 'denied', 'failed');
CREATE UNIQUE INDEX audit_events_ended ON audit_events (impersonation_id) WHERE event = 'ended';
-- Listing newest first, by actor, by user, by time.
CREATE INDEX audit_events_actor ON audit_events (actor, seq) WHERE event = 'requested';
CREATE INDEX audit_events_user ON audit_events (target_user, seq) WHERE event = 'requested';
CREATE INDEX audit_events_at ON audit_events (at) WHERE event = 'requested';

-- Append-only: the Worker never updates or deletes, and neither may anyone else
-- through the normal path. (Someone who drops these triggers is caught by the chain.)
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
  SELECT RAISE(ABORT, 'audit events are append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
  SELECT RAISE(ABORT, 'audit events are append-only');
END;

-- Events follow their impersonation's life: an outcome needs the request, an end needs
-- an issued token, and all of them name the same actor, user and application.
CREATE TRIGGER audit_events_in_order BEFORE INSERT ON audit_events
WHEN NEW.event <> 'requested' AND NOT EXISTS (
  SELECT 1 FROM audit_events r
  WHERE r.impersonation_id = NEW.impersonation_id
    AND r.event = CASE NEW.event WHEN 'ended' THEN 'issued' ELSE 'requested' END
    AND r.actor = NEW.actor AND r.actor_kind = NEW.actor_kind
    AND r.target_user = NEW.target_user AND r.client_id = NEW.client_id)
BEGIN
  SELECT RAISE(ABORT, 'audit event out of order');
END;
