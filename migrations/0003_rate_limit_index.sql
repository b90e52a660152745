-- The rate limit's count (worker/audit countSince: an actor's impersonations requested
-- since the window's start). audit_events_actor is ordered by seq, so with it SQLite
-- read every impersonation the actor had ever requested, on every mint; this one
-- reaches the window's rows directly.
CREATE INDEX audit_events_actor_at ON audit_events (actor, actor_kind, at) WHERE event = 'requested';
