package audit_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/internal/sqlitetest"
)

// heldDB is a SQLite database whose connections batch as D1 does (audit.BatchConn),
// record how many events each batch inserts, and can hold the next batch until
// released, so that appends pile up behind it.
type heldDB struct {
	mu      sync.Mutex
	inserts []int         // events inserted per batch, in order
	hold    chan struct{} // non-nil: the next batch waits for it to close
	held    chan struct{} // closed when that batch has started waiting
}

// holdNext holds the next batch: held is closed when it waits, closing release lets
// it run.
func (h *heldDB) holdNext() (held <-chan struct{}, release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hold, h.held = make(chan struct{}), make(chan struct{})
	hold := h.hold
	return h.held, func() { close(hold) }
}

func (h *heldDB) batches() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.inserts...)
}

type heldConn struct {
	driver.Conn
	h *heldDB
}

func (c heldConn) Batch(ctx context.Context, stmts []audit.Statement) ([][][]driver.Value, error) {
	c.h.mu.Lock()
	hold, held := c.h.hold, c.h.held
	c.h.hold = nil
	n := 0
	for _, st := range stmts {
		if strings.HasPrefix(strings.TrimSpace(st.Query), "INSERT INTO audit_events") {
			n++
		}
	}
	c.h.inserts = append(c.h.inserts, n)
	c.h.mu.Unlock()
	if hold != nil {
		close(held)
		<-hold
	}
	tx, err := c.Conn.Begin() //nolint:staticcheck // the plain driver API is enough here
	if err != nil {
		return nil, err
	}
	out, err := runAll(ctx, c.Conn, stmts)
	if err != nil {
		return nil, errors.Join(err, tx.Rollback())
	}
	return out, tx.Commit()
}

func runAll(ctx context.Context, conn driver.Conn, stmts []audit.Statement) ([][][]driver.Value, error) {
	var out [][][]driver.Value
	for _, st := range stmts {
		ps, err := conn.Prepare(st.Query)
		if err != nil {
			return nil, err
		}
		args := make([]driver.NamedValue, len(st.Args))
		for i, a := range st.Args {
			args[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
		rows, err := ps.(driver.StmtQueryContext).QueryContext(ctx, args)
		if err != nil {
			ps.Close()
			return nil, err
		}
		var got [][]driver.Value
		for {
			row := make([]driver.Value, len(rows.Columns()))
			if err := rows.Next(row); err == io.EOF {
				break
			} else if err != nil {
				rows.Close()
				ps.Close()
				return nil, err
			}
			got = append(got, row)
		}
		rows.Close()
		ps.Close()
		out = append(out, got)
	}
	return out, nil
}

func openHeld(t *testing.T) (*audit.Store, *heldDB) {
	h := &heldDB{}
	db := sqlitetest.OpenWrapped(t, func(c driver.Conn) driver.Conn { return heldConn{Conn: c, h: h} })
	return audit.NewStore(db), h
}

// waitQueued waits until n appends wait behind the held batch.
func waitQueued(t *testing.T, s *audit.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for audit.Queued(s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d appends queued, want %d", audit.Queued(s), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// behindHeldBatch starts one append and holds its batch, so that the appends started
// next queue behind it; release lets it run and returns that first append's error.
func behindHeldBatch(s *audit.Store, h *heldDB) (release func() error) {
	held, run := h.holdNext()
	first := make(chan error, 1)
	go func() { first <- s.Begin(context.Background(), record("first", t0)) }()
	<-held
	return func() error {
		run()
		return <-first
	}
}

// Appends that arrive while another is being written go into the database together,
// in one batch, and still form one chain.
func TestOverlappingAppendsShareOneBatch(t *testing.T) {
	s, h := openHeld(t)
	ctx := context.Background()
	release := behindHeldBatch(s, h)
	const n = 10
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() { errs <- s.Begin(ctx, record(fmt.Sprintf("g%d", i), t0)) }()
	}
	waitQueued(t, s, n)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := h.batches(); len(got) != 2 || got[0] != 1 || got[1] != n {
		t.Fatalf("events per batch %v, want [1 %d]", got, n)
	}
	if v, err := s.Verify(ctx); err != nil || !v.OK || v.Events != n+1 {
		t.Fatalf("%+v %v", v, err)
	}
}

// In one batch each event's rate-limit count sees the events chained before it, as if
// they had been written one after another; no two see the same count.
func TestGroupedCountsSeeTheEventsBefore(t *testing.T) {
	s, h := openHeld(t)
	ctx := context.Background()
	release := behindHeldBatch(s, h)
	const n = 6
	counts := make(chan int, n)
	for i := 1; i <= n; i++ {
		go func() {
			c, _, err := s.BeginCounted(ctx, record(fmt.Sprintf("c%d", i), t0), t0)
			if err != nil {
				t.Error(err)
			}
			counts <- c
		}()
	}
	waitQueued(t, s, n)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for i := 0; i < n; i++ {
		seen[<-counts] = true
	}
	for c := 2; c <= n+1; c++ {
		if !seen[c] {
			t.Fatalf("counts %v: %d missing", seen, c)
		}
	}
}

// An event the schema refuses fails alone: the others of its group are written.
func TestRefusedEventFailsAloneInItsGroup(t *testing.T) {
	s, h := openHeld(t)
	ctx := context.Background()
	release := behindHeldBatch(s, h)
	good := make(chan error, 4)
	bad := make(chan error, 1)
	for i := 0; i < 2; i++ {
		go func() { good <- s.Begin(ctx, record(fmt.Sprintf("a%d", i), t0)) }()
	}
	waitQueued(t, s, 2)
	go func() { bad <- s.Complete(ctx, record("no-such-request", t0), issued(t0)) }()
	waitQueued(t, s, 3)
	for i := 0; i < 2; i++ {
		go func() { good <- s.Begin(ctx, record(fmt.Sprintf("b%d", i), t0)) }()
	}
	waitQueued(t, s, 5)
	if err := release(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		if err := <-good; err != nil {
			t.Fatalf("an innocent event of the group failed: %v", err)
		}
	}
	if err := <-bad; !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("outcome without request: %v", err)
	}
	if v, err := s.Verify(ctx); err != nil || !v.OK || v.Events != 5 {
		t.Fatalf("%+v %v", v, err)
	}
}

// An append whose request gives up while it waits is withdrawn and never written;
// the appends behind it still are, and the store keeps writing afterwards.
func TestWithdrawnAppendIsNotWritten(t *testing.T) {
	s, h := openHeld(t)
	ctx := context.Background()
	release := behindHeldBatch(s, h)
	gone, cancel := context.WithCancel(ctx)
	withdrawn := make(chan error, 1)
	go func() { withdrawn <- s.Begin(gone, record("gone", t0)) }()
	waitQueued(t, s, 1)
	behind := make(chan error, 1)
	go func() { behind <- s.Begin(ctx, record("behind", t0)) }()
	waitQueued(t, s, 2)
	cancel()
	if err := <-withdrawn; !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("withdrawn append: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	if err := <-behind; err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(ctx, record("later", t0)); err != nil {
		t.Fatal(err)
	}
	page, err := s.List(ctx, audit.Filter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range page.Items {
		if it.ID == "gone" {
			t.Fatal("the withdrawn append was written")
		}
	}
	if v, err := s.Verify(ctx); err != nil || !v.OK || v.Events != 3 {
		t.Fatalf("%+v %v", v, err)
	}
}
