// Package sqlitetest opens a real SQLite database with the audit schema applied from
// migrations/, the same files wrangler applies to D1, for native tests.
package sqlitetest

import (
	"context"
	"database/sql"
	"database/sql/driver"
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
	db, _ := open(t)
	return db
}

// OpenWrapped is Open whose connections are wrap's wrappings of SQLite's, for tests
// that watch or hold what the store sends to the database.
func OpenWrapped(t testing.TB, wrap func(driver.Conn) driver.Conn) *sql.DB {
	t.Helper()
	plain, dsn := open(t)
	db := sql.OpenDB(wrapper{drv: plain.Driver(), dsn: dsn, wrap: wrap})
	t.Cleanup(func() { db.Close() })
	return db
}

type wrapper struct {
	drv  driver.Driver
	dsn  string
	wrap func(driver.Conn) driver.Conn
}

func (w wrapper) Connect(context.Context) (driver.Conn, error) {
	c, err := w.drv.Open(w.dsn)
	if err != nil {
		return nil, err
	}
	return w.wrap(c), nil
}

func (w wrapper) Driver() driver.Driver { return w.drv }

func open(t testing.TB) (*sql.DB, string) {
	dsn := "file:" + filepath.Join(t.TempDir(), "audit.db") + "?_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
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
	return db, dsn
}
