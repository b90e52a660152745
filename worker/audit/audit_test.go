package audit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/internal/sqlitetest"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func record(id string) audit.Record {
	return audit.Record{
		ID: id, RequestedAt: t0, Actor: "ci-bot", ActorKind: "api-key",
		TargetUser: "0b6f9a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", ClientID: "crm",
		Reason: "SUP-1234\r\nline two", RequestID: "req-1", ClientIP: "127.0.0.1",
		UserAgent: strings.Repeat("é", 400), // 800 bytes: truncated on a rune boundary
	}
}

func TestBeginThenCompleteOnce(t *testing.T) {
	db := sqlitetest.Open(t)
	s := audit.NewStore(db)
	ctx := context.Background()
	if err := s.Begin(ctx, record("r1")); err != nil {
		t.Fatal(err)
	}
	var outcome, reason, ua string
	if err := db.QueryRow(`SELECT outcome, reason, user_agent FROM impersonations WHERE id='r1'`).Scan(&outcome, &reason, &ua); err != nil {
		t.Fatal(err)
	}
	if outcome != "pending" || reason != "SUP-1234\r\nline two" {
		t.Fatalf("begun row: outcome %q reason %q", outcome, reason)
	}
	if len(ua) > 512 || !strings.HasPrefix(ua, "éé") || strings.ContainsRune(ua, '\uFFFD') {
		t.Fatalf("user agent not truncated safely: %d bytes", len(ua))
	}

	done := audit.Completion{Outcome: audit.Issued, UpstreamStatus: 200, CompletedAt: t0.Add(time.Second), ExpiresAt: t0.Add(time.Minute)}
	if err := s.Complete(ctx, "r1", done); err != nil {
		t.Fatal(err)
	}
	var status int
	var expires string
	if err := db.QueryRow(`SELECT outcome, upstream_status, expires_at FROM impersonations WHERE id='r1'`).Scan(&outcome, &status, &expires); err != nil {
		t.Fatal(err)
	}
	if outcome != "issued" || status != 200 || expires != "2026-11-25T10:01:00.000Z" {
		t.Fatalf("completed row: %q %d %q", outcome, status, expires)
	}

	// A second outcome, or an outcome for a row that does not exist, is refused.
	if err := s.Complete(ctx, "r1", audit.Completion{Outcome: audit.Failed, CompletedAt: t0}); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("second Complete: %v, want ErrUnavailable", err)
	}
	if err := s.Complete(ctx, "nope", done); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Complete of missing row: %v, want ErrUnavailable", err)
	}
}

// The schema itself keeps the trail append-only, whoever writes to the database.
func TestSchemaRefusesRewrites(t *testing.T) {
	db := sqlitetest.Open(t)
	s := audit.NewStore(db)
	ctx := context.Background()
	if err := s.Begin(ctx, record("r1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(ctx, record("r1")); err == nil {
		t.Fatal("a second row with the same id was accepted")
	}
	for name, stmt := range map[string]string{
		"change actor while pending": `UPDATE impersonations SET actor='someone-else', outcome='issued' WHERE id='r1'`,
		"change reason":              `UPDATE impersonations SET reason='x', outcome='denied' WHERE id='r1'`,
		"back to pending":            `UPDATE impersonations SET outcome='pending' WHERE id='r1'`,
		"delete":                     `DELETE FROM impersonations WHERE id='r1'`,
		"unknown outcome":            `UPDATE impersonations SET outcome='approved' WHERE id='r1'`,
	} {
		if _, err := db.Exec(stmt); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := s.Complete(ctx, "r1", audit.Completion{Outcome: audit.Denied, Detail: "protected-user", CompletedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE impersonations SET outcome='issued' WHERE id='r1'`); err == nil {
		t.Error("a completed outcome was rewritten")
	}
}

func TestUnavailableStore(t *testing.T) {
	db := sqlitetest.Open(t)
	db.Close()
	s := audit.NewStore(db)
	if err := s.Begin(context.Background(), record("r1")); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Begin on closed db: %v", err)
	}
	if err := audit.NewStore(nil).Begin(context.Background(), record("r1")); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Begin without db: %v", err)
	}
}
