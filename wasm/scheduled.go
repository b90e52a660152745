//go:build js && wasm

package main

// Cron Triggers: worker.mjs's scheduled handler calls binding.scheduled(cron, io,
// done) with the event's own RequestIO, so the run's D1 and fetch I/O belong to the
// scheduled event (and its ctx.waitUntil keeps it alive until done is called).

import (
	"context"
	"fmt"
	"syscall/js"

	"github.com/actas-dev/actas/worker/server"
)

// serveScheduled registers binding.scheduled for h, if h runs scheduled work.
func serveScheduled(binding js.Value, h any) {
	sch, ok := h.(server.Scheduler)
	if !ok {
		return
	}
	binding.Set("scheduled", funcOf(func(_ js.Value, args []js.Value) any {
		if len(args) != 3 {
			panic(fmt.Sprintf("wasm: scheduled takes 3 arguments, got %d", len(args)))
		}
		cron, rio, done := args[0].String(), &requestIO{v: args[1]}, args[2]
		go func() {
			defer done.Invoke()
			defer func() {
				if p := recover(); p != nil {
					server.LogEvent(logs, server.LevelError, "panic in scheduled run", fmt.Errorf("%v", p))
				}
			}()
			sch.Scheduled(context.WithValue(context.Background(), requestIOKey{}, rio), cron)
		}()
		return nil
	}))
}
