// Package audit is the Worker's own record of who impersonated whom: Bare.ID sees only
// the service account, so this trail is the one that names the real human.
//
// The store is plain database/sql over the schema in migrations/: D1 in the Worker,
// SQLite in tests. A row is begun before Bare.ID is called and completed exactly once
// with the outcome; the schema's triggers refuse any other change.
package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Outcome is how an impersonation attempt ended.
type Outcome string

// The outcomes.
const (
	Pending Outcome = "pending"
	Issued  Outcome = "issued"
	Denied  Outcome = "denied"
	Failed  Outcome = "failed"
)

// maxTextLen bounds free text stored from a request (user agent), so one caller cannot
// bloat the trail.
const maxTextLen = 512

// Record is one impersonation attempt as first written.
type Record struct {
	ID          string
	RequestedAt time.Time
	Actor       string
	ActorKind   string
	TargetUser  string
	ClientID    string
	Reason      string
	RequestID   string
	ClientIP    string
	UserAgent   string
}

// Completion is the outcome written onto a begun record.
type Completion struct {
	Outcome        Outcome
	Detail         string // the rule that denied, or the failure's problem type
	UpstreamStatus int    // 0 when Bare.ID gave no answer
	CompletedAt    time.Time
	ExpiresAt      time.Time // zero unless issued
}

// ErrUnavailable wraps every store failure; the API answers it with audit-unavailable.
var ErrUnavailable = errors.New("audit: store unavailable")

// Store writes the trail. It is safe for concurrent use.
type Store struct {
	db *sql.DB
}

// NewStore returns a Store over db, whose schema migrations/ created.
func NewStore(db *sql.DB) *Store { return &Store{db: db} }

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Begin writes r as a pending row. No token may be minted unless it succeeded.
func (s *Store) Begin(ctx context.Context, r Record) error {
	if s == nil || s.db == nil {
		return fmt.Errorf("%w: no database", ErrUnavailable)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO impersonations
		(id, requested_at, actor, actor_kind, target_user, client_id, reason, request_id, client_ip, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, formatTime(r.RequestedAt), r.Actor, r.ActorKind, r.TargetUser, r.ClientID,
		r.Reason, r.RequestID, truncate(r.ClientIP, 64), truncate(r.UserAgent, maxTextLen))
	if err != nil {
		return fmt.Errorf("%w: begin: %v", ErrUnavailable, err)
	}
	return nil
}

// Complete records the outcome of the pending row id. It fails unless exactly that row
// was still pending, so an outcome is never written twice or onto a missing row.
func (s *Store) Complete(ctx context.Context, id string, c Completion) error {
	if s == nil || s.db == nil {
		return fmt.Errorf("%w: no database", ErrUnavailable)
	}
	var upstream, expires any
	if c.UpstreamStatus != 0 {
		upstream = c.UpstreamStatus
	}
	if !c.ExpiresAt.IsZero() {
		expires = formatTime(c.ExpiresAt)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE impersonations
		SET outcome = ?, outcome_detail = ?, upstream_status = ?, completed_at = ?, expires_at = ?
		WHERE id = ? AND outcome = 'pending'`,
		string(c.Outcome), c.Detail, upstream, formatTime(c.CompletedAt), expires, id)
	if err != nil {
		return fmt.Errorf("%w: complete: %v", ErrUnavailable, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%w: complete: row %s was not pending", ErrUnavailable, id)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the stored text stays valid UTF-8.
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
