// Package audit is the Worker's own record of who impersonated whom: Bare.ID sees only
// the service account, so this trail is the one that names the real human.
//
// The trail is an append-only, hash-chained log of events (migrations/0001_audit.sql):
// an impersonation is a 'requested' event written before Bare.ID is called, one outcome
// event written before any token is returned, and possibly an 'ended' event. The store
// is plain database/sql: D1 in the Worker, SQLite in tests.
package audit

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Event is one step in an impersonation's life.
type Event string

// The events. Issued, Denied and Failed are outcomes.
const (
	Requested Event = "requested"
	Issued    Event = "issued"
	Denied    Event = "denied"
	Failed    Event = "failed"
	Ended     Event = "ended"
)

// Pending is the outcome reported for a requested impersonation without an outcome
// event (the request is in flight, or its Worker died before writing one).
const Pending Event = "pending"

// maxTextLen bounds free text stored from a request (user agent), so one caller cannot
// bloat the trail.
const maxTextLen = 512

// appendTimeout bounds one append (its wait for this isolate's turn included), so a
// database call that never completes cannot hold every later append of the isolate.
const appendTimeout = 10 * time.Second

// maxAppendAttempts bounds the retries when concurrent writers race for the next
// sequence number.
const maxAppendAttempts = 8

// Record is what an impersonation was asked for, by whom. Every event of an
// impersonation repeats it, so each event stands on its own in the chain.
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

// Completion is an outcome event.
type Completion struct {
	Outcome        Event  // Issued, Denied or Failed
	Detail         string // the rule that denied, or the failure's problem type
	UpstreamStatus int    // 0 when Bare.ID gave no answer
	CompletedAt    time.Time
	ExpiresAt      time.Time // zero unless issued
}

// ErrUnavailable wraps every store failure; the API answers it with audit-unavailable.
var ErrUnavailable = errors.New("audit: store unavailable")

// Store reads and appends the trail. It is safe for concurrent use, also across
// isolates: the chain's next sequence number is claimed by the insert itself.
type Store struct {
	db *sql.DB

	// Appends within this isolate are written in groups (group commit): while one
	// request writes, the appends that arrive queue up, and the next writer takes all
	// of them (up to maxGroup) into one batch, chained in arrival order. So concurrent
	// requests share database round trips instead of waiting for one each, and they
	// never race each other for the next seq; the retries cover writers in other
	// isolates.
	mu      sync.Mutex
	queue   []*appendReq // appends not yet taken into a group, oldest first
	writing bool         // some request is writing a group; false only when queue is empty

	// head is the newest event this isolate knows of (touched only by the writer): the
	// next append links to it without reading it first. It is only a guess: an insert
	// on a seq another writer took fails on the primary key, and the head is read again.
	head chainHead
}

type chainHead struct {
	known bool
	seq   int64
	hash  string
}

// maxGroup bounds how many appends one batch writes.
const maxGroup = 32

// appendReq is one waiting append. done receives, exactly once, its result; before
// that it may receive one lead signal, which makes its request the next writer.
type appendReq struct {
	ctx   context.Context
	ev    row
	extra []Statement
	done  chan appendResult
}

type appendResult struct {
	rows [][][]driver.Value // extra's rows
	err  error
	lead bool // not a result: write the next group
}

// NewStore returns a Store over db, whose schema migrations/ created.
func NewStore(db *sql.DB) *Store { return &Store{db: db} }

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// Begin appends the 'requested' event. No token may be minted unless it succeeded.
func (s *Store) Begin(ctx context.Context, r Record) error {
	_, err := s.append(ctx, row{rec: r, event: Requested, at: r.RequestedAt})
	return err
}

// BeginCounted appends the 'requested' event and, in the same round trip and
// transaction, counts as CountSince does (counted as there) the impersonations r's
// actor requested at or after since, this one included. Two concurrent requests of one actor therefore each
// see the other's event (whichever committed first), so they cannot both slip under a
// limit.
func (s *Store) BeginCounted(ctx context.Context, r Record, since time.Time, counted ...string) (int, time.Time, error) {
	res, err := s.append(ctx, row{rec: r, event: Requested, at: r.RequestedAt},
		countSince(r.Actor, r.ActorKind, since, counted))
	if err != nil {
		return 0, time.Time{}, err
	}
	if len(res) != 1 || len(res[0]) != 1 || len(res[0][0]) != 2 {
		return 0, time.Time{}, fmt.Errorf("%w: count: unexpected result shape", ErrUnavailable)
	}
	n, err := asInt(res[0][0][0])
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("%w: count: %v", ErrUnavailable, err)
	}
	var oldest time.Time
	if str, ok := asString(res[0][0][1]); ok {
		oldest, _ = parseTime(str)
	}
	return int(n), oldest, nil
}

// Complete appends r's outcome event. The schema refuses a second outcome, and an
// outcome without its request.
func (s *Store) Complete(ctx context.Context, r Record, c Completion) error {
	switch c.Outcome {
	case Issued, Denied, Failed:
	default:
		return fmt.Errorf("audit: %q is not an outcome", c.Outcome)
	}
	_, err := s.append(ctx, row{rec: r, event: c.Outcome, at: c.CompletedAt, detail: c.Detail,
		upstreamStatus: c.UpstreamStatus, expiresAt: c.ExpiresAt})
	return err
}

// End appends the 'ended' event of an issued impersonation.
func (s *Store) End(ctx context.Context, r Record, at time.Time) error {
	_, err := s.append(ctx, row{rec: r, event: Ended, at: at})
	return err
}

// row is one event as stored.
type row struct {
	seq            int64
	rec            Record
	event          Event
	at             time.Time
	detail         string
	upstreamStatus int
	expiresAt      time.Time
	prevHash       string
}

// stored is ev as its columns hold it (columns.go).
func (ev row) stored() storedEvent {
	return storedEvent{
		Seq: ev.seq, ImpersonationID: ev.rec.ID, Event: string(ev.event), At: formatTime(ev.at),
		Actor: ev.rec.Actor, ActorKind: ev.rec.ActorKind, TargetUser: ev.rec.TargetUser,
		ClientID: ev.rec.ClientID, Reason: ev.rec.Reason, RequestID: ev.rec.RequestID,
		ClientIP: ev.rec.ClientIP, UserAgent: ev.rec.UserAgent, Detail: ev.detail,
		UpstreamStatus: sql.NullInt64{Int64: int64(ev.upstreamStatus), Valid: ev.upstreamStatus != 0},
		ExpiresAt:      sql.NullString{String: formatTime(ev.expiresAt), Valid: !ev.expiresAt.IsZero()},
		PrevHash:       ev.prevHash,
	}
}

// append chains ev onto the newest event and inserts it, in one batch with extra
// (whose rows it returns): one database round trip when this isolate knows the head,
// shared with the appends of other requests that overlap it. Two writers that link to
// the same head both try the same seq; the primary key lets one win, and the other
// reads the head and retries, so the chain never forks. (D1 has no interactive
// transactions; its batch is atomic, which is all this needs.)
//
// A group is written with the I/O of a request whose own append is in it, so every
// database call runs on behalf of a request that is still waiting for it.
func (s *Store) append(ctx context.Context, ev row, extra ...Statement) ([][][]driver.Value, error) {
	if s == nil || s.db == nil {
		return nil, fmt.Errorf("%w: no database", ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, appendTimeout)
	defer cancel()
	ev.rec.ClientIP = truncate(ev.rec.ClientIP, 64)
	ev.rec.UserAgent = truncate(ev.rec.UserAgent, maxTextLen)
	req := &appendReq{ctx: ctx, ev: ev, extra: extra, done: make(chan appendResult, 1)}

	s.mu.Lock()
	s.queue = append(s.queue, req)
	lead := !s.writing
	s.writing = true
	s.mu.Unlock()
	if lead {
		s.writeGroup(req)
	}
	for {
		select {
		case res := <-req.done:
			if res.lead {
				s.writeGroup(req)
				continue
			}
			return res.rows, res.err
		case <-ctx.Done():
			if s.withdraw(req) {
				return nil, giveUp(req)
			}
			// Already in a group, whose writer answers within its own timeout.
			res := <-req.done
			return res.rows, res.err
		}
	}
}

// withdraw takes req out of the queue if no group took it yet, passing on the lead if
// it was just made the writer. It reports whether req was withdrawn.
func (s *Store) withdraw(req *appendReq) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.queue, req)
	if i < 0 {
		return false
	}
	s.queue = slices.Delete(s.queue, i, i+1)
	select {
	case res := <-req.done:
		if res.lead {
			s.handOffLocked()
		}
	default:
	}
	return true
}

// handOffLocked makes the oldest queued append's request the next writer, or ends the
// writing when none waits (the caller holds s.mu and was the writer).
func (s *Store) handOffLocked() {
	if len(s.queue) == 0 {
		s.writing = false
		return
	}
	s.queue[0].done <- appendResult{lead: true}
}

func giveUp(req *appendReq) error {
	return fmt.Errorf("%w: append %s: %v", ErrUnavailable, req.ev.event, req.ctx.Err())
}

// writeGroup is run by the writer, whose own append leader is the oldest queued: it
// answers the queued appends whose requests gave up, writes the oldest maxGroup of
// the rest (leader's among them) in one batch, answers them and hands the writing on.
func (s *Store) writeGroup(leader *appendReq) {
	s.mu.Lock()
	live := s.queue[:0]
	for _, r := range s.queue {
		if r.ctx.Err() != nil {
			r.done <- appendResult{err: giveUp(r)}
			continue
		}
		live = append(live, r)
	}
	clear(s.queue[len(live):])
	s.queue = live
	if len(live) == 0 || live[0] != leader {
		// The leader's own request gave up: it must not write for the others, whose
		// I/O it would carry after it has gone.
		s.handOffLocked()
		s.mu.Unlock()
		return
	}
	group := slices.Clone(live[:min(len(live), maxGroup)])
	s.queue = slices.Delete(s.queue, 0, len(group))
	s.mu.Unlock()

	results := s.write(leader.ctx, group)
	for i, r := range group {
		r.done <- results[i]
	}

	s.mu.Lock()
	s.handOffLocked()
	s.mu.Unlock()
}

// write appends group's events in order, each with its extra statements, in one batch
// and returns each one's result. If a statement fails for any reason but a lost race
// for the seq (a trigger refusing one event), each event is written alone, so only the
// one at fault fails.
func (s *Store) write(ctx context.Context, group []*appendReq) []appendResult {
	results := make([]appendResult, len(group))
	fail := func(err error) []appendResult {
		for i, r := range group {
			results[i] = appendResult{err: fmt.Errorf("%w: append %s: %v", ErrUnavailable, r.ev.event, err)}
		}
		return results
	}
	var lastErr error
	for attempt := 0; attempt < maxAppendAttempts; attempt++ {
		if !s.head.known {
			if err := s.readHead(ctx); err != nil {
				return fail(fmt.Errorf("read head: %v", err))
			}
		}
		var stmts []Statement
		starts := make([]int, len(group))
		seq, prev := s.head.seq, s.head.hash
		for i, r := range group {
			ev := r.ev
			seq++
			ev.seq, ev.prevHash = seq, prev
			st := ev.stored()
			prev = st.hash()
			starts[i] = len(stmts)
			stmts = append(stmts, Statement{Query: insertEvent, Args: append(st.values(), prev)})
			stmts = append(stmts, r.extra...)
		}
		res, err := s.batch(ctx, stmts)
		if err == nil && len(res) == len(stmts) {
			s.head = chainHead{known: true, seq: seq, hash: prev}
			for i, r := range group {
				results[i] = appendResult{rows: res[starts[i]+1 : starts[i]+1+len(r.extra)]}
			}
			return results
		}
		// Whatever happened, the head is no longer known: another writer took the seq,
		// or the batch's fate is unknown.
		s.head = chainHead{}
		if err == nil {
			err = fmt.Errorf("batch returned %d results for %d statements", len(res), len(stmts))
		}
		lastErr = err
		if !isSeqConflict(err) {
			break
		}
	}
	if len(group) > 1 && !isSeqConflict(lastErr) && ctx.Err() == nil {
		for i := range group {
			results[i] = s.write(ctx, group[i:i+1])[0]
		}
		return results
	}
	return fail(lastErr)
}

// readHead reads the newest event into s.head (the caller is the writer).
func (s *Store) readHead(ctx context.Context) error {
	h := chainHead{known: true, hash: genesisHash}
	err := s.db.QueryRowContext(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&h.seq, &h.hash)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	s.head = h
	return nil
}

// isSeqConflict recognises a lost race for the next seq (SQLite and D1 both name the
// column in the message).
func isSeqConflict(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "audit_events.seq")
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
