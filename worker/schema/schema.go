// Package schema brings the audit database up to date from the migrations embedded in
// the Worker (migrations/), so a deployment that never ran `wrangler d1 migrations
// apply` (Terraform, the dashboard) gets its schema on the first request.
//
// It keeps wrangler's books: applied migrations are rows of the d1_migrations table,
// created with wrangler's own definition and named by file name, so the Worker and
// `wrangler d1 migrations apply` always agree on what is applied and either may run
// first. Each migration runs with its d1_migrations row in one D1 batch, which D1 runs
// as a transaction: a migration is applied whole or not at all. Two isolates that
// migrate at once both try; the loser's batch fails (the schema or the row's UNIQUE
// name already exists), and it finds the migration recorded and moves on.
package schema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
)

// Table is where applied migrations are recorded: wrangler's default migrations_table.
const Table = "d1_migrations"

// createTable is wrangler's own definition of the table (wrangler 4.86,
// src/d1/migrations/helpers.ts), so either may create it.
const createTable = `CREATE TABLE IF NOT EXISTS ` + Table + `(
		id         INTEGER PRIMARY KEY AUTOINCREMENT,
		name       TEXT UNIQUE,
		applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
);`

// Stmt is one statement of a batch with its arguments.
type Stmt struct {
	SQL  string
	Args []any
}

// Batcher runs statements as one transaction: every statement takes effect, or none
// does. In the Worker it is D1's batch(); natively a database/sql transaction.
type Batcher interface {
	Batch(ctx context.Context, stmts []Stmt) error
}

// Error is a migration that could not be applied. Nothing of it was applied.
type Error struct {
	Migration string // file name, e.g. 0001_audit.sql
	Err       error
}

func (e *Error) Error() string {
	return fmt.Sprintf("schema: migration %s was not applied (nothing of it is in the database): %v", e.Migration, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Migrator applies the migrations of one fs.FS (files NNNN_title.sql, applied in name
// order, as wrangler does) to one database. It is safe for concurrent use.
type Migrator struct {
	db    *sql.DB
	batch Batcher
	files fs.FS

	mu   sync.Mutex
	done bool // everything was applied; nothing more to ask the database
}

// New returns a Migrator that reads with db and applies with batch.
func New(db *sql.DB, batch Batcher, files fs.FS) *Migrator {
	return &Migrator{db: db, batch: batch, files: files}
}

// Ensure applies every migration not yet recorded, in order, and returns the names it
// applied itself. After one success it returns at once: the Worker calls it on every
// API request, and asks the database once per isolate.
func (m *Migrator) Ensure(ctx context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done {
		return nil, nil
	}
	names, err := fs.Glob(m.files, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("schema: listing migrations: %w", err)
	}
	slices.Sort(names)
	applied, err := m.applied(ctx)
	if err != nil {
		return nil, err
	}
	var mine []string
	for _, name := range names {
		if applied[name] {
			continue
		}
		if err := m.apply(ctx, name); err != nil {
			// Another isolate (or wrangler) may have applied it in the meantime: its
			// batch committed first, so ours failed on what it had created.
			now, rerr := m.applied(ctx)
			if rerr != nil || !now[name] {
				return mine, &Error{Migration: name, Err: err}
			}
			continue
		}
		mine = append(mine, name)
	}
	m.done = true
	return mine, nil
}

// applied reads the names recorded in Table, creating the table when it is missing.
func (m *Migrator) applied(ctx context.Context) (map[string]bool, error) {
	names, err := m.recorded(ctx)
	if err == nil {
		return names, nil
	}
	// Most likely the table does not exist yet (a fresh database): create it the way
	// wrangler does and read again. A database that is simply down fails again here.
	if _, cerr := m.db.ExecContext(ctx, createTable); cerr != nil {
		return nil, fmt.Errorf("schema: reading %s: %w; creating it: %w", Table, err, cerr)
	}
	names, err = m.recorded(ctx)
	if err != nil {
		return nil, fmt.Errorf("schema: reading %s: %w", Table, err)
	}
	return names, nil
}

func (m *Migrator) recorded(ctx context.Context) (map[string]bool, error) {
	rows, err := m.db.QueryContext(ctx, `SELECT name FROM `+Table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	names := map[string]bool{}
	for rows.Next() {
		var name sql.NullString
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		names[name.String] = true
	}
	return names, rows.Err()
}

// apply runs one migration and records it, in one batch.
func (m *Migrator) apply(ctx context.Context, name string) error {
	text, err := fs.ReadFile(m.files, name)
	if err != nil {
		return err
	}
	parts, err := Split(string(text))
	if err != nil {
		return err
	}
	if len(parts) == 0 {
		return errors.New("the file holds no SQL statement")
	}
	stmts := make([]Stmt, 0, len(parts)+1)
	for _, p := range parts {
		stmts = append(stmts, Stmt{SQL: p})
	}
	// The row wrangler writes (INSERT INTO d1_migrations (name) values ('<file>')),
	// with the name bound rather than spliced in.
	stmts = append(stmts, Stmt{SQL: `INSERT INTO ` + Table + ` (name) VALUES (?)`, Args: []any{name}})
	return m.batch.Batch(ctx, stmts)
}

// TxBatcher runs a batch as a database/sql transaction, for databases that have them
// (SQLite natively, in tests and tools).
type TxBatcher struct{ DB *sql.DB }

// Batch runs stmts in one transaction.
func (b TxBatcher) Batch(ctx context.Context, stmts []Stmt) (err error) {
	tx, err := b.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	for i, s := range stmts {
		if _, err := tx.ExecContext(ctx, s.SQL, s.Args...); err != nil {
			return fmt.Errorf("statement %d (%s): %w", i+1, firstLine(s.SQL), err)
		}
	}
	return tx.Commit()
}

// firstLine names a statement in an error without quoting all of it.
func firstLine(sql string) string {
	line, _, _ := strings.Cut(sql, "\n")
	return strings.TrimSpace(line)
}
