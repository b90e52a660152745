//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/actas-dev/actas/worker/server"
)

var nextTaskID atomic.Uint32

// waitUntil runs task after (or while) ctx's request is answered, and keeps that
// request alive until task returns: ctx.waitUntil of the request that ctx belongs to,
// never another's. task's context carries the same request, so its I/O runs there too.
// A panic in task is logged, not fatal. It reports false if the request is already over.
//
// (syumai/workers' cloudflare.WaitUntil reads ctx from the instance's runtime context,
// which belongs to no request in a reused instance; worker.mjs leaves it unset.)
func waitUntil(ctx context.Context, task func(context.Context)) bool {
	rio, err := requestIOFrom(ctx)
	if err != nil {
		return false
	}
	id := nextTaskID.Add(1)
	if !rio.v.Call("waitUntil", id).Bool() {
		return false
	}
	// The task outlives the request's handler, so it must not inherit its deadline or
	// cancellation; it keeps only the request's I/O.
	tctx := context.WithValue(context.WithoutCancel(ctx), requestIOKey{}, rio)
	go func() {
		defer rio.v.Call("taskDone", id)
		defer func() {
			if p := recover(); p != nil {
				server.LogEvent(logs, server.LevelError, "panic in waitUntil task", fmt.Errorf("%v", p))
			}
		}()
		task(tctx)
	}()
	return true
}
