package audit

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Impersonation is one impersonation as auditors see it: the request with its outcome
// and end folded in.
type Impersonation struct {
	Seq            int64      `json:"seq"`
	ID             string     `json:"id"`
	RequestedAt    time.Time  `json:"requestedAt"`
	Actor          string     `json:"actor"`
	ActorKind      string     `json:"actorKind"`
	UserUUID       string     `json:"userUuid"`
	ClientID       string     `json:"clientId"`
	Reason         string     `json:"reason"`
	Outcome        Event      `json:"outcome"`
	OutcomeDetail  string     `json:"outcomeDetail"`
	UpstreamStatus int        `json:"upstreamStatus,omitempty"`
	CompletedAt    *time.Time `json:"completedAt,omitempty"`
	ExpiresAt      *time.Time `json:"expiresAt,omitempty"`
	EndedAt        *time.Time `json:"endedAt,omitempty"`
	RequestID      string     `json:"requestId"`
	ClientIP       string     `json:"clientIp"`
	UserAgent      string     `json:"userAgent"`
}

// Record returns what the impersonation was asked for, for appending further events.
func (i Impersonation) Record() Record {
	return Record{ID: i.ID, RequestedAt: i.RequestedAt, Actor: i.Actor, ActorKind: i.ActorKind,
		TargetUser: i.UserUUID, ClientID: i.ClientID, Reason: i.Reason, RequestID: i.RequestID,
		ClientIP: i.ClientIP, UserAgent: i.UserAgent}
}

// Filter selects impersonations. Zero fields do not filter.
type Filter struct {
	Actor     string
	ActorKind string // with Actor: only this caller's own rows
	User      string
	Client    string
	Outcome   Event // Pending for those without an outcome
	Since     time.Time
	Until     time.Time // exclusive
	Cursor    string    // from a previous page's Next
	Limit     int
	// Mask, when set, recasts some denials in the rows and in the Outcome filter.
	Mask *Mask
}

// Mask shows an impersonation denied with Detail as one that failed with AsDetail and
// AsStatus, in the rows and in the outcome filter alike, so a filter cannot tell what
// the rows hide.
type Mask struct {
	Detail   string
	AsDetail string
	AsStatus int
}

// Apply recasts it if the mask covers it; a nil mask changes nothing.
func (m *Mask) Apply(it *Impersonation) {
	if m != nil && it.Outcome == Denied && it.OutcomeDetail == m.Detail {
		it.Outcome, it.OutcomeDetail, it.UpstreamStatus = Failed, m.AsDetail, m.AsStatus
	}
}

// Page is one page of impersonations, newest first.
type Page struct {
	Items []Impersonation
	Next  string // cursor of the next (older) page; "" when this is the last
}

// ErrBadCursor means a cursor was not one this store handed out.
var ErrBadCursor = errors.New("audit: malformed cursor")

// ErrNotFound means no impersonation has that id.
var ErrNotFound = errors.New("audit: no such impersonation")

const selectImpersonations = `SELECT r.seq, r.impersonation_id, r.at, r.actor, r.actor_kind,
	r.target_user, r.client_id, r.reason, r.request_id, r.client_ip, r.user_agent,
	o.event, o.detail, o.upstream_status, o.at, o.expires_at, e.at
	FROM audit_events r
	LEFT JOIN audit_events o ON o.impersonation_id = r.impersonation_id AND o.event IN ('issued', 'denied', 'failed')
	LEFT JOIN audit_events e ON e.impersonation_id = r.impersonation_id AND e.event = 'ended'
	WHERE r.event = 'requested'`

// List returns impersonations matching f, newest first, one page at a time.
func (s *Store) List(ctx context.Context, f Filter) (Page, error) {
	if s == nil || s.db == nil {
		return Page{}, fmt.Errorf("%w: no database", ErrUnavailable)
	}
	q := selectImpersonations
	var args []any
	add := func(cond string, arg any) {
		q += " AND " + cond
		args = append(args, arg)
	}
	if f.Actor != "" {
		add("r.actor = ?", f.Actor)
	}
	if f.ActorKind != "" {
		add("r.actor_kind = ?", f.ActorKind)
	}
	if f.User != "" {
		add("r.target_user = ?", f.User)
	}
	if f.Client != "" {
		add("r.client_id = ?", f.Client)
	}
	switch f.Outcome {
	case "":
	case Pending:
		q += " AND o.event IS NULL"
	default:
		if f.Mask != nil {
			q += " AND (CASE WHEN o.event = 'denied' AND o.detail = ? THEN 'failed' ELSE o.event END) = ?"
			args = append(args, f.Mask.Detail, string(f.Outcome))
		} else {
			add("o.event = ?", string(f.Outcome))
		}
	}
	if !f.Since.IsZero() {
		add("r.at >= ?", formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		add("r.at < ?", formatTime(f.Until))
	}
	if f.Cursor != "" {
		before, err := decodeCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		add("r.seq < ?", before)
	}
	// One more than asked tells whether another page follows.
	q += " ORDER BY r.seq DESC LIMIT ?"
	args = append(args, f.Limit+1)

	items, err := s.query(ctx, q, args...)
	if err != nil {
		return Page{}, err
	}
	for i := range items {
		f.Mask.Apply(&items[i])
	}
	var p Page
	if len(items) > f.Limit {
		items = items[:f.Limit]
		p.Next = encodeCursor(items[len(items)-1].Seq)
	}
	p.Items = items
	return p, nil
}

// Get returns the impersonation with this id.
func (s *Store) Get(ctx context.Context, id string) (Impersonation, error) {
	if s == nil || s.db == nil {
		return Impersonation{}, fmt.Errorf("%w: no database", ErrUnavailable)
	}
	items, err := s.query(ctx, selectImpersonations+" AND r.impersonation_id = ?", id)
	if err != nil {
		return Impersonation{}, err
	}
	if len(items) == 0 {
		return Impersonation{}, ErrNotFound
	}
	return items[0], nil
}

// CountSince counts the impersonations actor (of kind) requested at or after since
// that were not denied, or were denied with one of the counted details, and returns
// the oldest one's time: the rate limit's window.
func (s *Store) CountSince(ctx context.Context, actor, kind string, since time.Time, counted ...string) (int, time.Time, error) {
	if s == nil || s.db == nil {
		return 0, time.Time{}, fmt.Errorf("%w: no database", ErrUnavailable)
	}
	st := countSince(actor, kind, since, counted)
	var n int
	var oldest sql.NullString
	err := s.db.QueryRowContext(ctx, st.Query, st.Args...).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("%w: count: %v", ErrUnavailable, err)
	}
	var t time.Time
	if oldest.Valid {
		t, _ = parseTime(oldest.String)
	}
	return n, t, nil
}

// countSince is the statement that counts actor's impersonations requested at or after
// since that were not denied, or denied for one of the counted details, and finds the
// oldest one's time.
func countSince(actor, kind string, since time.Time, counted []string) Statement {
	args := []any{actor, kind, formatTime(since)}
	uncounted := ""
	if len(counted) > 0 {
		uncounted = " AND d.detail NOT IN (?" + strings.Repeat(", ?", len(counted)-1) + ")"
		for _, c := range counted {
			args = append(args, c)
		}
	}
	// Both lookups are index searches (TestCountSinceUsesIndexes): the window's rows by
	// audit_events_actor_at, and each one's outcome by audit_events_outcome, which SQLite
	// uses only when the subquery repeats that partial index's condition word for word.
	return Statement{Query: `SELECT COUNT(*), MIN(r.at) FROM audit_events r
	WHERE r.event = 'requested' AND r.actor = ? AND r.actor_kind = ? AND r.at >= ?
	AND NOT EXISTS (SELECT 1 FROM audit_events d
		WHERE d.impersonation_id = r.impersonation_id AND d.event IN ('issued', 'denied', 'failed')
		AND d.event = 'denied'` + uncounted + `)`, Args: args}
}

func (s *Store) query(ctx context.Context, q string, args ...any) ([]Impersonation, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%w: list: %v", ErrUnavailable, err)
	}
	defer rows.Close()
	var out []Impersonation
	for rows.Next() {
		var it Impersonation
		var requested string
		var outcome, detail, completed, expires, ended sql.NullString
		var upstream sql.NullInt64
		if err := rows.Scan(&it.Seq, &it.ID, &requested, &it.Actor, &it.ActorKind, &it.UserUUID,
			&it.ClientID, &it.Reason, &it.RequestID, &it.ClientIP, &it.UserAgent,
			&outcome, &detail, &upstream, &completed, &expires, &ended); err != nil {
			return nil, fmt.Errorf("%w: list: %v", ErrUnavailable, err)
		}
		it.RequestedAt, _ = parseTime(requested)
		it.Outcome = Pending
		if outcome.Valid {
			it.Outcome = Event(outcome.String)
		}
		it.OutcomeDetail = detail.String
		it.UpstreamStatus = int(upstream.Int64)
		it.CompletedAt = optTime(completed)
		it.ExpiresAt = optTime(expires)
		it.EndedAt = optTime(ended)
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: list: %v", ErrUnavailable, err)
	}
	return out, nil
}

func parseTime(s string) (time.Time, error) { return time.Parse(timeLayout, s) }

func optTime(s sql.NullString) *time.Time {
	if !s.Valid {
		return nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil
	}
	return &t
}

// Cursors are opaque to callers: base64url of "s<seq>", the oldest seq already seen.
func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("s" + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(raw), "s") {
		return 0, ErrBadCursor
	}
	n, err := strconv.ParseInt(string(raw[1:]), 10, 64)
	if err != nil || n < 1 {
		return 0, ErrBadCursor
	}
	return n, nil
}
