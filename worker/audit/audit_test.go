package audit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/internal/sqlitetest"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

const alice = "0b6f9a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"

func record(id string, at time.Time) audit.Record {
	return audit.Record{
		ID: id, RequestedAt: at, Actor: "ci-bot", ActorKind: "api-key",
		TargetUser: alice, ClientID: "crm",
		Reason: "SUP-1234\r\nline two", RequestID: "req-" + id, ClientIP: "127.0.0.1",
		UserAgent: strings.Repeat("é", 400), // 800 bytes: truncated on a rune boundary
	}
}

func issued(at time.Time) audit.Completion {
	return audit.Completion{Outcome: audit.Issued, UpstreamStatus: 200, CompletedAt: at, ExpiresAt: at.Add(time.Minute)}
}

func TestLifecycle(t *testing.T) {
	db := sqlitetest.Open(t)
	s := audit.NewStore(db)
	ctx := context.Background()
	r := record("r1", t0)
	if err := s.Begin(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Outcome != audit.Pending || got.Reason != "SUP-1234\r\nline two" || got.Actor != "ci-bot" {
		t.Fatalf("begun: %+v", got)
	}
	if len(got.UserAgent) > 512 || !strings.HasPrefix(got.UserAgent, "éé") || strings.ContainsRune(got.UserAgent, '\uFFFD') {
		t.Fatalf("user agent not truncated safely: %d bytes", len(got.UserAgent))
	}
	if err := s.Complete(ctx, r, issued(t0.Add(time.Second))); err != nil {
		t.Fatal(err)
	}
	if err := s.End(ctx, r, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Get(ctx, "r1")
	if got.Outcome != audit.Issued || got.UpstreamStatus != 200 || got.ExpiresAt == nil ||
		!got.ExpiresAt.Equal(t0.Add(61*time.Second)) || got.EndedAt == nil {
		t.Fatalf("completed: %+v", got)
	}

	// A second outcome, a second end, or an outcome without a request is refused.
	for name, err := range map[string]error{
		"second outcome": s.Complete(ctx, r, audit.Completion{Outcome: audit.Failed, CompletedAt: t0}),
		"second end":     s.End(ctx, r, t0),
		"no request":     s.Complete(ctx, record("nope", t0), issued(t0)),
		"not an outcome": s.Complete(ctx, record("r1", t0), audit.Completion{Outcome: audit.Requested}),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, audit.ErrNotFound) {
		t.Errorf("Get(nope) = %v", err)
	}
	// Ending needs an issued token.
	d := record("r2", t0)
	s.Begin(ctx, d)
	s.Complete(ctx, d, audit.Completion{Outcome: audit.Denied, Detail: "protected-user", CompletedAt: t0})
	if err := s.End(ctx, d, t0); err == nil {
		t.Error("ended a denied impersonation")
	}
	if v, err := s.Verify(ctx); err != nil || !v.OK || v.Events != 5 || v.HeadSeq != 5 {
		t.Errorf("verify: %+v %v", v, err)
	}
}

// The schema itself keeps the trail append-only, whoever writes to the database.
func TestSchemaRefusesRewrites(t *testing.T) {
	db := sqlitetest.Open(t)
	s := audit.NewStore(db)
	ctx := context.Background()
	if err := s.Begin(ctx, record("r1", t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(ctx, record("r1", t0)); err == nil {
		t.Fatal("a second request with the same id was accepted")
	}
	for name, stmt := range map[string]string{
		"update":        `UPDATE audit_events SET actor='someone-else'`,
		"delete":        `DELETE FROM audit_events`,
		"unknown event": `INSERT INTO audit_events (seq, impersonation_id, event, at, actor, actor_kind, target_user, client_id, reason, request_id, prev_hash, hash) VALUES (9, 'r9', 'approved', '', '', '', '', '', '', '', '', '')`,
		"outcome for another actor": `INSERT INTO audit_events (seq, impersonation_id, event, at, actor, actor_kind, target_user, client_id, reason, request_id, prev_hash, hash)
			SELECT 9, impersonation_id, 'issued', at, 'mallory', actor_kind, target_user, client_id, reason, request_id, hash, '' FROM audit_events WHERE seq = 1`,
	} {
		if _, err := db.Exec(stmt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestVerifyFindsTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  []string
		wantSeq int64
		wantMsg string
	}{
		{"untouched", nil, 0, ""},
		{"edited reason", []string{`UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3`}, 3, "edited"},
		{"edited outcome", []string{`UPDATE audit_events SET event = 'denied' WHERE seq = 4`}, 4, "edited"},
		{"edited time format", []string{`UPDATE audit_events SET at = '2026-11-25T10:00:02Z' WHERE seq = 2`}, 2, "edited"},
		{"removed row", []string{`DELETE FROM audit_events WHERE seq = 2`}, 2, "missing"},
		{"removed and renumbered", []string{`DELETE FROM audit_events WHERE seq = 2`, `UPDATE audit_events SET seq = seq - 1 WHERE seq > 2`}, 2, "prev_hash"},
		{"re-hashed edit", []string{`UPDATE audit_events SET reason = 'x', hash = prev_hash WHERE seq = 3`}, 3, "edited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := sqlitetest.Open(t)
			s := audit.NewStore(db)
			ctx := context.Background()
			for i := 0; i < 3; i++ {
				r := record(fmt.Sprintf("r%d", i), t0.Add(time.Duration(i)*time.Second))
				if err := s.Begin(ctx, r); err != nil {
					t.Fatal(err)
				}
				if err := s.Complete(ctx, r, issued(t0.Add(time.Duration(i)*time.Second))); err != nil {
					t.Fatal(err)
				}
			}
			// Someone with database access drops the guards first.
			for _, stmt := range append([]string{`DROP TRIGGER audit_events_no_update`, `DROP TRIGGER audit_events_no_delete`}, tt.tamper...) {
				if _, err := db.Exec(stmt); err != nil {
					t.Fatal(err)
				}
			}
			v, err := s.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantSeq == 0 {
				if !v.OK || v.FirstBreak != nil || v.Events != 6 {
					t.Fatalf("untouched chain: %+v", v)
				}
				return
			}
			if v.OK || v.FirstBreak == nil || v.FirstBreak.Seq != tt.wantSeq || !strings.Contains(v.FirstBreak.Problem, tt.wantMsg) {
				t.Fatalf("got %+v, want break at %d (%s)", v.FirstBreak, tt.wantSeq, tt.wantMsg)
			}
		})
	}
}

func TestVerifyPagesThroughLongChains(t *testing.T) {
	db := sqlitetest.Open(t)
	s := audit.NewStore(db)
	ctx := context.Background()
	for i := 0; i < 1100; i++ {
		if err := s.Begin(ctx, record(fmt.Sprintf("r%d", i), t0)); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := s.Verify(ctx); err != nil || !v.OK || v.Events != 1100 {
		t.Fatalf("%+v %v", v, err)
	}
}

// Concurrent writers never fork the chain: each claims the next seq or retries.
func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	db := sqlitetest.Open(t)
	s := audit.NewStore(db)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for i := 0; i < 24; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := record(fmt.Sprintf("c%d", i), t0)
			if err := s.Begin(ctx, r); err != nil {
				errs <- err
				return
			}
			errs <- s.Complete(ctx, r, issued(t0))
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if v, err := s.Verify(ctx); err != nil || !v.OK || v.Events != 48 {
		t.Fatalf("%+v %v", v, err)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	db := sqlitetest.Open(t)
	s := audit.NewStore(db)
	ctx := context.Background()
	const bob = "ddf6e29c-c191-4e27-9793-e67cfb2a85f2"
	for i := 0; i < 7; i++ {
		r := record(fmt.Sprintf("r%d", i), t0.Add(time.Duration(i)*time.Hour))
		if i%2 == 1 {
			r.Actor, r.TargetUser, r.ClientID = "ops", bob, "wiki"
		}
		s.Begin(ctx, r)
		switch i % 3 {
		case 0:
			s.Complete(ctx, r, issued(r.RequestedAt))
		case 1:
			s.Complete(ctx, r, audit.Completion{Outcome: audit.Denied, Detail: "protected-user", CompletedAt: r.RequestedAt})
		}
	}
	ids := func(p audit.Page) string {
		var out []string
		for _, it := range p.Items {
			out = append(out, it.ID)
		}
		return strings.Join(out, ",")
	}
	tests := []struct {
		name string
		f    audit.Filter
		want string
	}{
		{"all newest first", audit.Filter{Limit: 50}, "r6,r5,r4,r3,r2,r1,r0"},
		{"actor", audit.Filter{Actor: "ops", Limit: 50}, "r5,r3,r1"},
		{"own rows need the kind too", audit.Filter{Actor: "ops", ActorKind: "oidc", Limit: 50}, ""},
		{"user", audit.Filter{User: bob, Limit: 50}, "r5,r3,r1"},
		{"client", audit.Filter{Client: "crm", Limit: 50}, "r6,r4,r2,r0"},
		{"issued", audit.Filter{Outcome: audit.Issued, Limit: 50}, "r6,r3,r0"},
		{"denied", audit.Filter{Outcome: audit.Denied, Limit: 50}, "r4,r1"},
		{"pending", audit.Filter{Outcome: audit.Pending, Limit: 50}, "r5,r2"},
		{"since until", audit.Filter{Since: t0.Add(2 * time.Hour), Until: t0.Add(5 * time.Hour), Limit: 50}, "r4,r3,r2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := s.List(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(p); got != tt.want || p.Next != "" {
				t.Errorf("got %q next %q, want %q", got, p.Next, tt.want)
			}
		})
	}
	// Paging visits every row once.
	var all []string
	f := audit.Filter{Limit: 3}
	for {
		p, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ids(p))
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	if got := strings.Join(all, "|"); got != "r6,r5,r4|r3,r2,r1|r0" {
		t.Errorf("pages %q", got)
	}
	if _, err := s.List(ctx, audit.Filter{Cursor: "not-a-cursor", Limit: 3}); !errors.Is(err, audit.ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestCountSinceIgnoresDenials(t *testing.T) {
	db := sqlitetest.Open(t)
	s := audit.NewStore(db)
	ctx := context.Background()
	for i, outcome := range []audit.Event{audit.Issued, audit.Denied, audit.Failed, ""} {
		r := record(fmt.Sprintf("r%d", i), t0.Add(time.Duration(i)*time.Minute))
		s.Begin(ctx, r)
		if outcome != "" {
			s.Complete(ctx, r, audit.Completion{Outcome: outcome, CompletedAt: r.RequestedAt})
		}
	}
	n, oldest, err := s.CountSince(ctx, "ci-bot", "api-key", t0.Add(time.Minute))
	if err != nil || n != 2 || !oldest.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("n %d oldest %v err %v; want 2 and t0+2m", n, oldest, err)
	}
}

func TestCountSinceCountsTheNamedDenials(t *testing.T) {
	db := sqlitetest.Open(t)
	s := audit.NewStore(db)
	ctx := context.Background()
	for i, detail := range []string{"protected-user", "reason-too-short", "self"} {
		r := record(fmt.Sprintf("r%d", i), t0.Add(time.Duration(i)*time.Minute))
		s.Begin(ctx, r)
		s.Complete(ctx, r, audit.Completion{Outcome: audit.Denied, Detail: detail, CompletedAt: r.RequestedAt})
	}
	for _, tt := range []struct {
		counted []string
		want    int
	}{{nil, 0}, {[]string{"protected-user"}, 1}, {[]string{"protected-user", "self"}, 2}} {
		n, oldest, err := s.CountSince(ctx, "ci-bot", "api-key", t0, tt.counted...)
		if err != nil || n != tt.want || (n > 0 && !oldest.Equal(t0)) {
			t.Errorf("counting %v: n %d oldest %v err %v; want %d", tt.counted, n, oldest, err, tt.want)
		}
	}
}

func TestUnavailableStore(t *testing.T) {
	db := sqlitetest.Open(t)
	db.Close()
	s := audit.NewStore(db)
	ctx := context.Background()
	for name, err := range map[string]error{
		"begin":  s.Begin(ctx, record("r1", t0)),
		"nil db": audit.NewStore((*sql.DB)(nil)).Begin(ctx, record("r1", t0)),
	} {
		if !errors.Is(err, audit.ErrUnavailable) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := s.List(ctx, audit.Filter{Limit: 1}); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("list: %v", err)
	}
	if _, err := s.Verify(ctx); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("verify: %v", err)
	}
}

// Two stores over one database are two isolates: each keeps its own idea of the head,
// which goes stale whenever the other appends. Appends still form one chain.
func TestStaleHeadsAcrossIsolatesKeepOneChain(t *testing.T) {
	db := sqlitetest.Open(t)
	a, b := audit.NewStore(db), audit.NewStore(db)
	ctx := context.Background()
	for i := 0; i < 6; i++ {
		s := a
		if i%3 == 2 {
			s = b
		}
		r := record(fmt.Sprintf("i%d", i), t0)
		if err := s.Begin(ctx, r); err != nil {
			t.Fatalf("begin %d: %v", i, err)
		}
		other := b
		if s == b {
			other = a
		}
		if err := other.Complete(ctx, r, issued(t0)); err != nil {
			t.Fatalf("complete %d: %v", i, err)
		}
	}
	if v, err := a.Verify(ctx); err != nil || !v.OK || v.Events != 12 {
		t.Fatalf("%+v %v", v, err)
	}
}

func TestBeginCountedCountsItselfInTheSameBatch(t *testing.T) {
	db := sqlitetest.Open(t)
	s := audit.NewStore(db)
	ctx := context.Background()
	first := record("b0", t0)
	s.Begin(ctx, first)
	s.Complete(ctx, first, audit.Completion{Outcome: audit.Denied, CompletedAt: t0})
	for i := 1; i <= 3; i++ {
		r := record(fmt.Sprintf("b%d", i), t0.Add(time.Duration(i)*time.Minute))
		n, oldest, err := s.BeginCounted(ctx, r, t0)
		if err != nil {
			t.Fatal(err)
		}
		// The denied one does not count; this one does.
		if n != i || !oldest.Equal(t0.Add(time.Minute)) {
			t.Fatalf("request %d: n %d oldest %v", i, n, oldest)
		}
		if cn, co, _ := s.CountSince(ctx, r.Actor, r.ActorKind, t0); cn != n || !co.Equal(oldest) {
			t.Fatalf("CountSince says %d %v, BeginCounted %d %v", cn, co, n, oldest)
		}
	}
	// Another actor's count is its own.
	other := record("o1", t0)
	other.Actor = "someone-else"
	if n, _, err := s.BeginCounted(ctx, other, t0); err != nil || n != 1 {
		t.Fatalf("other actor: %d %v", n, err)
	}
	if v, err := s.Verify(ctx); err != nil || !v.OK || v.Events != 6 {
		t.Fatalf("%+v %v", v, err)
	}
}

// A batch is all or nothing: when a statement after the insert fails, the event is
// not stored and the next append still links to the real head.
func TestFailedBatchStoresNothing(t *testing.T) {
	db := sqlitetest.Open(t)
	s := audit.NewStore(db)
	ctx := context.Background()
	if err := s.Begin(ctx, record("ok1", t0)); err != nil {
		t.Fatal(err)
	}
	// An outcome whose request does not exist fails in the schema's trigger.
	if err := s.Complete(ctx, record("missing", t0), issued(t0)); err == nil {
		t.Fatal("outcome without request accepted")
	}
	if err := s.Begin(ctx, record("ok2", t0)); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Verify(ctx); err != nil || !v.OK || v.Events != 2 {
		t.Fatalf("%+v %v", v, err)
	}
}

func TestAppendGivesUpWithItsRequest(t *testing.T) {
	db := sqlitetest.Open(t)
	s := audit.NewStore(db)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Begin(ctx, record("late", t0)); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("cancelled begin: %v", err)
	}
}
