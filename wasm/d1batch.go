//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"syscall/js"

	"github.com/actas-dev/actas/worker/schema"
)

// d1Batcher runs statements through D1's batch(), which D1 runs as one transaction
// (https://developers.cloudflare.com/d1/worker-api/d1-database/#batch): the schema
// migrations use it so that a migration is applied whole or not at all.
type d1Batcher struct{ binding string }

func (b d1Batcher) Batch(ctx context.Context, stmts []schema.Stmt) error {
	db := binding(b.binding)
	if db.IsUndefined() || db.IsNull() {
		return fmt.Errorf("wasm: no D1 binding %s in the Worker's env", b.binding)
	}
	list := make([]any, len(stmts))
	for i, s := range stmts {
		args := make([]any, len(s.Args))
		for j, a := range s.Args {
			v, err := toJS(a)
			if err != nil {
				return err
			}
			args[j] = v
		}
		list[i] = []any{s.SQL, args}
	}
	if _, err := do(ctx, "d1batch", db, js.ValueOf(list)); err != nil {
		return fmt.Errorf("wasm: d1 batch: %w", err)
	}
	return nil
}
