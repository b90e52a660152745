package audit

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// Statement is one SQL statement of a batch, with its arguments (int64, float64,
// string, []byte or nil).
type Statement struct {
	Query string
	Args  []any
}

// BatchConn is implemented by a driver connection that runs several statements in one
// round trip, in order and all or nothing, and returns each statement's rows (empty for
// a statement that returns none). D1's batch does exactly this (wasm/d1.go); for any
// other driver the store runs the statements in a transaction on one connection, which
// means the same thing.
type BatchConn interface {
	Batch(ctx context.Context, stmts []Statement) ([][][]driver.Value, error)
}

// batch runs stmts atomically and returns each one's rows.
func (s *Store) batch(ctx context.Context, stmts []Statement) ([][][]driver.Value, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var out [][][]driver.Value
	native := false
	err = conn.Raw(func(dc any) error {
		b, ok := dc.(BatchConn)
		if !ok {
			return nil
		}
		native = true
		out, err = b.Batch(ctx, stmts)
		return err
	})
	if native || err != nil {
		return out, err
	}
	return txBatch(ctx, conn, stmts)
}

// txBatch runs stmts in a transaction on conn (drivers without a batch, such as
// SQLite in the native tests).
func txBatch(ctx context.Context, conn *sql.Conn, stmts []Statement) (out [][][]driver.Value, err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	for _, st := range stmts {
		rows, err := tx.QueryContext(ctx, st.Query, st.Args...)
		if err != nil {
			return nil, err
		}
		got, err := collect(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, got)
	}
	return out, tx.Commit()
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

func collect(rows *sql.Rows) ([][]driver.Value, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]driver.Value
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]driver.Value, len(cols))
		for i, v := range vals {
			row[i] = v
		}
		out = append(out, row)
	}
	return out, rows.Err()
}

// asInt and asString read a batch's column values, which drivers hand out as int64,
// float64, string or []byte.
func asInt(v driver.Value) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case float64:
		return int64(v), nil
	case nil:
		return 0, nil
	}
	return 0, fmt.Errorf("audit: %T is not an integer", v)
}

func asString(v driver.Value) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case []byte:
		return string(v), true
	}
	return "", false
}
