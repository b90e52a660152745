package webhook

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/actas-dev/actas/worker/internal/outbound"
)

// maxPerRun bounds the messages one run delivers, so a long backlog is worked off
// over several runs (each after a response, or a cron run) instead of one that
// outlives its request.
const maxPerRun = 50

// maxAnswer bounds what is read of a receiver's answer (only its status matters).
const maxAnswer = 64 << 10

const timeLayout = "2006-01-02T15:04:05.000Z07:00"

// Outbox delivers the queued messages. It is safe for concurrent use; within one
// isolate only one run delivers at a time (others return at once), and a message
// delivered twice by two isolates is deduplicated by its webhook-id.
type Outbox struct {
	db   *sql.DB
	cfg  Config
	http outbound.Doer
	now  func() time.Time
	run  sync.Mutex
}

// New returns an Outbox over db (migrated by migrations/). now may be nil.
func New(cfg Config, db *sql.DB, d outbound.Doer, now func() time.Time) *Outbox {
	if now == nil {
		now = time.Now
	}
	return &Outbox{db: db, cfg: cfg, http: d, now: now}
}

// Attempt is one delivery attempt, for the log.
type Attempt struct {
	Kind    string
	Seq     int64
	ID      string // webhook-id
	Attempt int    // 1 for the first
	Status  int    // the receiver's HTTP status, 0 if none
	Err     error  // nil when delivered
	Retry   time.Time
}

type message struct {
	id        int64
	kind      string
	seq       int64
	msgID     string
	payload   string
	createdAt string
	attempts  int
	due       string
}

// Deliver sends due messages in order until the outbox is empty, a message is not yet
// due, or one is refused (the rest wait behind it, so the receiver sees events in
// order). It reports every attempt. With no webhook configured it empties the outbox.
func (o *Outbox) Deliver(ctx context.Context) ([]Attempt, error) {
	if !o.run.TryLock() {
		return nil, nil // this isolate is already delivering
	}
	defer o.run.Unlock()
	if !o.cfg.Enabled() {
		_, err := o.db.ExecContext(ctx, `DELETE FROM webhook_outbox WHERE id IN (SELECT id FROM webhook_outbox ORDER BY id LIMIT 500)`)
		if err != nil {
			return nil, fmt.Errorf("webhook: empty outbox: %w", err)
		}
		return nil, nil
	}
	var out []Attempt
	for range maxPerRun {
		m, err := o.next(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		now := o.now()
		if m.due > now.UTC().Format(timeLayout) {
			return out, nil
		}
		a := o.send(ctx, m, now)
		out = append(out, a)
		if a.Err == nil {
			if _, err := o.db.ExecContext(ctx, `DELETE FROM webhook_outbox WHERE id = ?`, m.id); err != nil {
				return out, fmt.Errorf("webhook: dequeue: %w", err)
			}
			continue
		}
		if _, err := o.db.ExecContext(ctx, `UPDATE webhook_outbox SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?`,
			a.Attempt, a.Retry.UTC().Format(timeLayout), a.Err.Error(), m.id); err != nil {
			return out, fmt.Errorf("webhook: reschedule: %w", err)
		}
		return out, nil
	}
	return out, nil
}

func (o *Outbox) next(ctx context.Context) (message, error) {
	var m message
	err := o.db.QueryRowContext(ctx, `SELECT id, kind, seq, msg_id, payload, created_at, attempts, next_attempt_at
		FROM webhook_outbox ORDER BY id LIMIT 1`).Scan(&m.id, &m.kind, &m.seq, &m.msgID, &m.payload, &m.createdAt, &m.attempts, &m.due)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("webhook: read outbox: %w", err)
	}
	return m, err
}

// Body is a message's JSON body: {"type", "timestamp", "data"}, with data as the
// outbox stored it.
func Body(kind, createdAt, payload string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":`)
	b.WriteString(strconv.Quote(kind)) // kinds are fixed ASCII names
	b.WriteString(`,"timestamp":`)
	b.WriteString(strconv.Quote(createdAt))
	b.WriteString(`,"data":`)
	b.WriteString(payload)
	b.WriteString("}")
	return b.Bytes()
}

func (o *Outbox) send(ctx context.Context, m message, now time.Time) Attempt {
	a := Attempt{Kind: m.kind, Seq: m.seq, ID: m.msgID, Attempt: m.attempts + 1}
	body := Body(m.kind, m.createdAt, m.payload)
	ts := now.Unix()
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.URL.String(), bytes.NewReader(body))
	if err == nil {
		h := req.Header
		h.Set("Content-Type", "application/json")
		h.Set("User-Agent", "actas-webhook")
		h.Set("webhook-id", m.msgID)
		h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		h.Set("webhook-signature", Sign(o.cfg.Secret, m.msgID, ts, body))
		a.Status, _, err = outbound.Do(ctx, o.http, req, maxAnswer)
	}
	switch {
	case err != nil && errors.Is(err, context.DeadlineExceeded):
		a.Err = errors.New("receiver did not answer in time")
	case err != nil:
		a.Err = errors.New("receiver unreachable")
	case a.Status < 200 || a.Status > 299:
		a.Err = fmt.Errorf("receiver answered %d", a.Status)
	}
	if a.Err != nil {
		a.Retry = now.Add(backoff(o.cfg.Retry, a.Attempt))
	}
	return a
}

// backoff is the delay after the n-th failed attempt: first, doubling, up to MaxRetry.
func backoff(first time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < MaxRetry; i++ {
		d *= 2
	}
	return min(d, MaxRetry)
}

// Enqueue queues a message that no audit event's trigger writes (an anchor), with an
// id unique to it.
func (o *Outbox) Enqueue(ctx context.Context, kind string, seq int64, msgID, payload string, at time.Time) error {
	ts := at.UTC().Format(timeLayout)
	_, err := o.db.ExecContext(ctx, `INSERT INTO webhook_outbox (kind, seq, msg_id, payload, created_at, next_attempt_at)
		VALUES (?, ?, ?, ?, ?, ?)`, kind, seq, msgID, payload, ts, ts)
	if err != nil {
		return fmt.Errorf("webhook: enqueue %s: %w", kind, err)
	}
	return nil
}
