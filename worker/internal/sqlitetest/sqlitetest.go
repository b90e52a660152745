// Package sqlitetest opens a real SQLite database with the audit schema applied from
// migrations/, the same files wrangler applies to D1, for native tests.
package sqlitetest

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"sort"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/actas-dev/actas/migrations"
)

// Open returns a fresh migrated database in t's temporary directory, closed when t ends.
func Open(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "audit.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no migrations: %v", err)
	}
	sort.Strings(names)
	for _, name := range names {
		ddl, err := migrations.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(ddl)); err != nil {
			t.Fatalf("migration %s: %v", name, err)
		}
	}
	return db
}
