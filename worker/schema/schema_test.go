package schema

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/actas-dev/actas/migrations"
)

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func freshDB(t *testing.T) *sql.DB {
	return openDB(t, filepath.Join(t.TempDir(), "audit.db"))
}

func migrationNames(t *testing.T) ([]string, fs.FS) {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	sort.Strings(names)
	return names, migrations.FS
}

func recordedNames(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT name FROM d1_migrations ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = ?`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// countingBatcher counts batches and can run something just before each one.
type countingBatcher struct {
	Batcher
	mu      sync.Mutex
	batches int
	before  func()
}

func (c *countingBatcher) Batch(ctx context.Context, stmts []Stmt) error {
	c.mu.Lock()
	c.batches++
	before := c.before
	c.mu.Unlock()
	if before != nil {
		before()
	}
	return c.Batcher.Batch(ctx, stmts)
}

func TestEnsureFreshDatabase(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	db := openDB(t, path)
	names, files := migrationNames(t)
	m := New(db, TxBatcher{db}, files)
	got, err := m.Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, names) {
		t.Errorf("applied %q, want %q", got, names)
	}
	if rec := recordedNames(t, db); !slices.Equal(rec, names) {
		t.Errorf("d1_migrations holds %q, want %q", rec, names)
	}
	if !tableExists(t, db, "audit_events") || !tableExists(t, db, "audit_events_in_order") {
		t.Error("the audit schema is missing")
	}
	// The same Migrator asks nothing more; a new one (a new isolate) applies nothing.
	db.Close()
	if got, err := m.Ensure(ctx); err != nil || got != nil {
		t.Errorf("second Ensure on a closed database: %q, %v; want nothing asked", got, err)
	}
	db2 := openDB(t, path)
	b2 := &countingBatcher{Batcher: TxBatcher{db2}}
	if got, err := New(db2, b2, files).Ensure(ctx); err != nil || len(got) != 0 || b2.batches != 0 {
		t.Errorf("new isolate: applied %q (%d batches), %v; want nothing", got, b2.batches, err)
	}
}

// What `wrangler d1 migrations apply` leaves behind: its table, the schema, and rows
// named by file. The Worker must take that as applied.
func TestEnsureAfterWrangler(t *testing.T) {
	ctx := context.Background()
	db := freshDB(t)
	names, files := migrationNames(t)
	if _, err := db.Exec(createTable); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		text, _ := migrations.FS.ReadFile(name)
		// wrangler appends this to the file and runs it all as one batch.
		if _, err := db.Exec(string(text) + "\nINSERT INTO d1_migrations (name)\nvalues ('" + name + "');"); err != nil {
			t.Fatal(err)
		}
	}
	b := &countingBatcher{Batcher: TxBatcher{db}}
	got, err := New(db, b, files).Ensure(ctx)
	if err != nil || len(got) != 0 || b.batches != 0 {
		t.Fatalf("after wrangler: applied %q in %d batches, %v; want nothing", got, b.batches, err)
	}
}

// Only what is missing is applied, in name order, after what wrangler recorded.
func TestEnsureAppliesOnlyPending(t *testing.T) {
	ctx := context.Background()
	db := freshDB(t)
	files := fstest.MapFS{
		"0001_a.sql": {Data: []byte("CREATE TABLE a (x);")},
		"0002_b.sql": {Data: []byte("CREATE TABLE b (x);\nCREATE INDEX b_x ON b (x);")},
		"0010_c.sql": {Data: []byte("CREATE TABLE c (x);")},
		"README.md":  {Data: []byte("not a migration")},
	}
	if _, err := db.Exec(createTable + "CREATE TABLE a (x); INSERT INTO d1_migrations (name) VALUES ('0001_a.sql');"); err != nil {
		t.Fatal(err)
	}
	got, err := New(db, TxBatcher{db}, files).Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0002_b.sql", "0010_c.sql"}; !slices.Equal(got, want) {
		t.Errorf("applied %q, want %q", got, want)
	}
	if want := []string{"0001_a.sql", "0002_b.sql", "0010_c.sql"}; !slices.Equal(recordedNames(t, db), want) {
		t.Errorf("recorded %q, want %q", recordedNames(t, db), want)
	}
}

// A migration that fails part-way leaves nothing of itself behind, is not recorded, and
// is named in the error; the migrations before it stay applied.
func TestEnsureFailureIsAtomic(t *testing.T) {
	ctx := context.Background()
	db := freshDB(t)
	files := fstest.MapFS{
		"0001_ok.sql":  {Data: []byte("CREATE TABLE ok (x);")},
		"0002_bad.sql": {Data: []byte("CREATE TABLE half (x);\nCREATE INDEX half_x ON half (x);\nCREATE INDEX broken ON nowhere (x);")},
	}
	m := New(db, TxBatcher{db}, files)
	got, err := m.Ensure(ctx)
	var se *Error
	if !errors.As(err, &se) || se.Migration != "0002_bad.sql" {
		t.Fatalf("Ensure: %v; want an *Error naming 0002_bad.sql", err)
	}
	if !slices.Equal(got, []string{"0001_ok.sql"}) {
		t.Errorf("applied %q, want 0001_ok.sql", got)
	}
	if tableExists(t, db, "half") || tableExists(t, db, "half_x") {
		t.Error("the failed migration left part of itself behind")
	}
	if rec := recordedNames(t, db); !slices.Equal(rec, []string{"0001_ok.sql"}) {
		t.Errorf("recorded %q, want only 0001_ok.sql", rec)
	}
	// A failure is not remembered as success: the next request tries again.
	if _, err := m.Ensure(ctx); !errors.As(err, &se) {
		t.Errorf("second Ensure: %v; want the same failure again", err)
	}
}

// Another isolate applies a migration between this one's read and its batch: this
// batch fails on what the other created, and Ensure must see the migration recorded
// and carry on rather than report a failure.
func TestEnsureLosesRace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	db1, db2 := openDB(t, path), openDB(t, path)
	names, files := migrationNames(t)
	other := New(db2, TxBatcher{db2}, files)
	b := &countingBatcher{Batcher: TxBatcher{db1}}
	b.before = func() {
		if _, err := other.Ensure(ctx); err != nil {
			t.Errorf("the other isolate: %v", err)
		}
	}
	got, err := New(db1, b, files).Ensure(ctx)
	if err != nil {
		t.Fatalf("losing the race: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("the loser reports %q as its own", got)
	}
	if rec := recordedNames(t, db1); !slices.Equal(rec, names) {
		t.Errorf("recorded %q, want each once: %q", rec, names)
	}
}

// Isolates starting together on one database all succeed, and each migration is
// applied and recorded exactly once.
func TestEnsureConcurrent(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	names, files := migrationNames(t)
	const isolates = 4
	var wg sync.WaitGroup
	errs := make(chan error, isolates)
	for range isolates {
		db := openDB(t, path)
		wg.Go(func() {
			if _, err := New(db, TxBatcher{db}, files).Ensure(ctx); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if rec := recordedNames(t, openDB(t, path)); !slices.Equal(rec, names) {
		t.Errorf("recorded %q, want each once: %q", rec, names)
	}
}

// A database that cannot be read is an error, not "nothing applied".
func TestEnsureDatabaseDown(t *testing.T) {
	db := freshDB(t)
	db.Close()
	if _, err := New(db, TxBatcher{db}, fstest.MapFS{"0001_a.sql": {Data: []byte("CREATE TABLE a (x);")}}).Ensure(context.Background()); err == nil {
		t.Fatal("closed database: want an error")
	}
}
