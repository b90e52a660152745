package server_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/actas-dev/actas/migrations"
	"github.com/actas-dev/actas/worker/schema"
	"github.com/actas-dev/actas/worker/server"
)

// newSchemaFixture is a Worker over an empty database that migrates itself from files.
func newSchemaFixture(t *testing.T, files fs.FS) *fixture {
	t.Helper()
	up := newUpstream(t)
	env := fixtureEnv(up, nil)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{db: db, up: up, log: &bytes.Buffer{}}
	f.h = server.New(server.Deps{
		Getenv: func(k string) string { return env[k] },
		HTTP:   up.srv.Client(),
		DB:     db,
		Schema: schema.New(db, schema.TxBatcher{DB: db}, files),
		Log:    f.log,
	})
	return f
}

func logLines(t *testing.T, log *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// A database nobody migrated gets its schema from the Worker on the first
// authenticated request, which then succeeds; the log says what was applied.
func TestFirstRequestMigrates(t *testing.T) {
	f := newSchemaFixture(t, migrations.FS)
	// Unauthenticated callers make the Worker write nothing.
	if rep := f.do(t, "GET", "/v1/impersonations", "", nil); rep.code != http.StatusUnauthorized {
		t.Fatalf("unauthenticated: %d", rep.code)
	}
	var n int
	if err := f.db.QueryRow(`SELECT count(*) FROM sqlite_master`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("an unauthenticated request changed the schema: %d objects, %v", n, err)
	}
	rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", "SUP-1 check invoices"), auth)
	if rep.code != http.StatusCreated {
		t.Fatalf("first mint: %d %s", rep.code, rep.raw)
	}
	if rows := f.rows(t); len(rows) != 1 {
		t.Errorf("audit rows: %d, want 1", len(rows))
	}
	var applied []string
	for _, l := range logLines(t, f.log) {
		if l["msg"] == "migrations applied" {
			applied = append(applied, l["detail"].(string))
		}
	}
	if len(applied) != 1 || !strings.Contains(applied[0], "0001_audit.sql") {
		t.Errorf("log of applied migrations: %q", applied)
	}
	// Later requests apply nothing more.
	if rep := f.do(t, "GET", "/v1/impersonations", "", auth); rep.code != http.StatusOK {
		t.Fatalf("list: %d %s", rep.code, rep.raw)
	}
	if c := strings.Count(f.log.String(), `"migrations applied"`); c != 1 {
		t.Errorf("migrations applied logged %d times", c)
	}
}

// A migration that fails: audit-unavailable, nothing minted, Bare.ID not called, the
// log line names the migration and the cause.
func TestFailedMigrationFailsClosed(t *testing.T) {
	f := newSchemaFixture(t, fstest.MapFS{
		"0001_bad.sql": {Data: []byte("CREATE TABLE half (x);\nCREATE INDEX broken ON nowhere (x);")},
	})
	rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", "SUP-1 check invoices"), auth)
	if rep.code != http.StatusServiceUnavailable || rep.body["type"] != "urn:actas:problem:audit-unavailable" {
		t.Fatalf("mint on a failed migration: %d %s", rep.code, rep.raw)
	}
	if strings.Contains(rep.raw, "nowhere") {
		t.Errorf("the answer carries database detail: %s", rep.raw)
	}
	if hits := f.up.hits.Load(); hits != 0 {
		t.Errorf("Bare.ID was called %d times", hits)
	}
	var found bool
	for _, l := range logLines(t, f.log) {
		if l["problem"] == "audit-unavailable" && l["level"] == "error" &&
			strings.Contains(l["error"].(string), "0001_bad.sql") && strings.Contains(l["error"].(string), "nowhere") {
			found = true
		}
	}
	if !found {
		t.Errorf("no error log line naming the migration:\n%s", f.log)
	}
	var n int
	if err := f.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'half'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("half-applied migration: %d, %v", n, err)
	}
}
