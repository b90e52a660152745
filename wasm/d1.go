//go:build js && wasm

package main

// A database/sql driver for a D1 binding whose queries run through the calling
// request's RequestIO (worker.mjs).
//
// syumai/workers' d1 driver does what this one does, but in a reused instance it
// cannot be used: it issues each query on whatever request's stack the goroutine
// happens to run (workerd cancels that I/O when that other request ends), and every
// query leaks a js.Func through jsutil.AwaitPromise. Types follow D1's mapping
// (https://developers.cloudflare.com/d1/worker-api/#type-conversion), as syumai's does.

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math"
	"syscall/js"
	"time"

	"github.com/actas-dev/actas/worker/audit"
)

// d1Connector opens connections to the D1 binding named binding. Connections are
// cheap: each holds only the binding object, read from the instance's env.
type d1Connector struct{ binding string }

func (c d1Connector) Connect(context.Context) (driver.Conn, error) {
	db := binding(c.binding)
	if db.IsUndefined() || db.IsNull() {
		return nil, fmt.Errorf("wasm: no D1 binding %s in the Worker's env", c.binding)
	}
	return &d1Conn{db: db}, nil
}

func (c d1Connector) Driver() driver.Driver { return d1Driver{} }

type d1Driver struct{}

func (d1Driver) Open(string) (driver.Conn, error) {
	return nil, errors.New("wasm: open D1 with sql.OpenDB(d1Connector{...})")
}

type d1Conn struct{ db js.Value }

func (c *d1Conn) Prepare(query string) (driver.Stmt, error) {
	return &d1Stmt{db: c.db, query: query}, nil
}

func (c *d1Conn) Close() error { return nil }

// Batch implements audit.BatchConn with D1's batch: the statements run in order in one
// round trip and one transaction.
func (c *d1Conn) Batch(ctx context.Context, stmts []audit.Statement) ([][][]driver.Value, error) {
	jsStmts := make([]any, len(stmts))
	for i, st := range stmts {
		args := make([]any, len(st.Args))
		for j, a := range st.Args {
			v, err := toJS(a)
			if err != nil {
				return nil, err
			}
			args[j] = v
		}
		jsStmts[i] = []any{st.Query, args}
	}
	vals, err := do(ctx, "d1batch", c.db, js.ValueOf(jsStmts))
	if err != nil {
		return nil, fmt.Errorf("wasm: d1 batch: %w", err)
	}
	res := vals[0]
	out := make([][][]driver.Value, res.Length())
	for i := range out {
		rows := res.Index(i)
		out[i] = make([][]driver.Value, rows.Length())
		for j := range out[i] {
			row := rows.Index(j)
			vs := make([]driver.Value, row.Length())
			for k := range vs {
				if vs[k], err = fromJS(row.Index(k)); err != nil {
					return nil, err
				}
			}
			out[i][j] = vs
		}
	}
	return out, nil
}

func (c *d1Conn) Begin() (driver.Tx, error) {
	return nil, errors.New("wasm: D1 has no transactions")
}

type d1Stmt struct {
	db    js.Value
	query string
}

func (s *d1Stmt) Close() error  { return nil }
func (s *d1Stmt) NumInput() int { return -1 }

func (s *d1Stmt) Exec([]driver.Value) (driver.Result, error) {
	return nil, errors.New("wasm: D1 needs ExecContext")
}

func (s *d1Stmt) Query([]driver.Value) (driver.Rows, error) {
	return nil, errors.New("wasm: D1 needs QueryContext")
}

func (s *d1Stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	vals, err := s.run(ctx, "run", args)
	if err != nil {
		return nil, err
	}
	return d1Result{changes: int64(vals[0].Float()), lastID: int64(vals[1].Float())}, nil
}

func (s *d1Stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	vals, err := s.run(ctx, "raw", args)
	if err != nil {
		return nil, err
	}
	cols := make([]string, vals[0].Length())
	for i := range cols {
		cols[i] = vals[0].Index(i).String()
	}
	return &d1Rows{cols: cols, rows: vals[1], n: vals[1].Length()}, nil
}

func (s *d1Stmt) run(ctx context.Context, mode string, args []driver.NamedValue) ([]js.Value, error) {
	jsArgs := make([]any, len(args))
	for i, a := range args {
		v, err := toJS(a.Value)
		if err != nil {
			return nil, err
		}
		jsArgs[i] = v
	}
	vals, err := do(ctx, "d1", s.db, s.query, js.ValueOf(jsArgs), mode)
	if err != nil {
		return nil, fmt.Errorf("wasm: d1: %w", err)
	}
	return vals, nil
}

// toJS converts a driver.Value (after database/sql's default conversion) to what D1
// binds: null, number, string or a Uint8Array for BLOBs.
func toJS(v driver.Value) (any, error) {
	switch v := v.(type) {
	case nil:
		return js.Null(), nil
	case int:
		return toJS(int64(v))
	case int64:
		if v > 1<<53 || v < -(1<<53) {
			return nil, fmt.Errorf("wasm: d1: %d does not fit a JavaScript number", v)
		}
		return float64(v), nil
	case float64, string:
		return v, nil
	case bool:
		if v {
			return 1, nil
		}
		return 0, nil
	case []byte:
		return bytesToJS(v), nil
	case time.Time:
		return v.UTC().Format(time.RFC3339Nano), nil
	}
	return nil, fmt.Errorf("wasm: d1: cannot bind %T", v)
}

type d1Result struct{ changes, lastID int64 }

func (r d1Result) LastInsertId() (int64, error) { return r.lastID, nil }
func (r d1Result) RowsAffected() (int64, error) { return r.changes, nil }

type d1Rows struct {
	cols []string
	rows js.Value // array of arrays
	n, i int
}

func (r *d1Rows) Columns() []string { return r.cols }
func (r *d1Rows) Close() error      { return nil }

func (r *d1Rows) Next(dest []driver.Value) error {
	if r.i >= r.n {
		return io.EOF
	}
	row := r.rows.Index(r.i)
	r.i++
	for i := range dest {
		v, err := fromJS(row.Index(i))
		if err != nil {
			return err
		}
		dest[i] = v
	}
	return nil
}

// fromJS converts a D1 column value (null, number, string, ArrayBuffer).
func fromJS(v js.Value) (driver.Value, error) {
	switch v.Type() {
	case js.TypeNull, js.TypeUndefined:
		return nil, nil
	case js.TypeNumber:
		f := v.Float()
		if f == math.Trunc(f) && !math.IsInf(f, 0) {
			return int64(f), nil
		}
		return f, nil
	case js.TypeString:
		return v.String(), nil
	case js.TypeObject:
		a := uint8Array.New(v)
		b := make([]byte, a.Length())
		js.CopyBytesToGo(b, a)
		return b, nil
	}
	return nil, fmt.Errorf("wasm: d1: unexpected column type %s", v.Type())
}
