-- Push and retention for the audit trail (README, "Audit trail").
--
-- webhook_outbox: every audit event, as the webhook message that delivers it, written
-- by a trigger in the same statement as the event itself, so no event can be stored
-- without its message. The Worker delivers messages in id order after each response
-- (waitUntil) and from the Cron Trigger, deletes each once the receiver accepted it,
-- and retries a refused one with backoff; a receiver outage loses nothing. Anchors
-- (the verified chain head) and checkpoints are queued here too. This table is a
-- queue, not the trail: rows are removed once delivered.
CREATE TABLE webhook_outbox (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  kind            TEXT NOT NULL,               -- audit.event, audit.anchor, audit.checkpoint
  seq             INTEGER NOT NULL,            -- the audit event (anchor, checkpoint: the head) it is about
  msg_id          TEXT NOT NULL UNIQUE,        -- the webhook-id header: the receiver's idempotency key
  payload         TEXT NOT NULL,               -- JSON: the message's data member
  created_at      TEXT NOT NULL,               -- RFC 3339, UTC, milliseconds
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TEXT NOT NULL,
  last_error      TEXT NOT NULL DEFAULT ''
);

CREATE TRIGGER audit_events_outbox AFTER INSERT ON audit_events
BEGIN
  INSERT INTO webhook_outbox (kind, seq, msg_id, payload, created_at, next_attempt_at)
  VALUES ('audit.event', NEW.seq, 'evt_' || NEW.seq || '_' || substr(NEW.hash, 1, 16),
    json_object('seq', NEW.seq, 'impersonationId', NEW.impersonation_id, 'event', NEW.event,
      'at', NEW.at, 'actor', NEW.actor, 'actorKind', NEW.actor_kind, 'userUuid', NEW.target_user,
      'clientId', NEW.client_id, 'reason', NEW.reason, 'requestId', NEW.request_id,
      'clientIp', NEW.client_ip, 'userAgent', NEW.user_agent, 'detail', NEW.detail,
      'upstreamStatus', NEW.upstream_status, 'expiresAt', NEW.expires_at,
      'prevHash', NEW.prev_hash, 'hash', NEW.hash),
    NEW.at, NEW.at);
END;

-- audit_checkpoints: where the retained chain starts. A checkpoint names an event
-- (seq, hash) that the chain verified up to; every event up to it was exported as an
-- archive (whose SHA-256 is recorded) and may then be removed, and verification starts
-- from the newest checkpoint. Checkpoints are append-only, must name an existing event
-- after the previous checkpoint, and never the newest event (the chain always keeps
-- its head, so the next event still links to it).
CREATE TABLE audit_checkpoints (
  seq            INTEGER PRIMARY KEY,          -- the newest removed event
  hash           TEXT NOT NULL,                -- its hash: the retained chain's prev_hash at seq+1
  at             TEXT NOT NULL,                -- its time
  created_at     TEXT NOT NULL,
  actor          TEXT NOT NULL,                -- who removed the prefix
  actor_kind     TEXT NOT NULL,
  request_id     TEXT NOT NULL,
  archive_sha256 TEXT NOT NULL,                -- of the NDJSON archive of the removed events
  first_seq      INTEGER NOT NULL              -- the first event the archive holds
);

CREATE TRIGGER audit_checkpoints_valid BEFORE INSERT ON audit_checkpoints
WHEN NOT EXISTS (SELECT 1 FROM audit_events WHERE seq = NEW.seq AND hash = NEW.hash AND at = NEW.at)
  OR NEW.seq <= COALESCE((SELECT MAX(seq) FROM audit_checkpoints), 0)
  OR NEW.seq >= (SELECT MAX(seq) FROM audit_events)
BEGIN
  SELECT RAISE(ABORT, 'a checkpoint names an existing event after the previous checkpoint, before the head');
END;

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
  SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;

CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
  SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;

CREATE TRIGGER audit_checkpoints_outbox AFTER INSERT ON audit_checkpoints
BEGIN
  INSERT INTO webhook_outbox (kind, seq, msg_id, payload, created_at, next_attempt_at)
  VALUES ('audit.checkpoint', NEW.seq, 'chk_' || NEW.seq || '_' || substr(NEW.hash, 1, 16),
    json_object('seq', NEW.seq, 'hash', NEW.hash, 'at', NEW.at, 'firstSeq', NEW.first_seq,
      'archiveSha256', NEW.archive_sha256, 'actor', NEW.actor, 'actorKind', NEW.actor_kind,
      'requestId', NEW.request_id, 'createdAt', NEW.created_at),
    NEW.created_at, NEW.created_at);
END;

-- Deletes stay forbidden for every event after the newest checkpoint: only the
-- archived prefix may go.
DROP TRIGGER audit_events_no_delete;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.seq > COALESCE((SELECT MAX(seq) FROM audit_checkpoints), 0)
BEGIN
  SELECT RAISE(ABORT, 'audit events are append-only; only events up to the newest checkpoint may be removed');
END;
