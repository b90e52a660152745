//go:build js && wasm

// Command wasm is the Worker's entry point inside workerd (Cloudflare Workers).
//
// It is the only Go code that touches syscall/js or Cloudflare bindings: it wires the
// Worker's environment, outbound fetch and the D1 audit store into the plain-Go handler
// of package server and serves it. Everything else builds and tests natively.
//
// The generated build/worker.mjs starts a fresh Go instance for every request and runs
// main with that request's env already in place, so reading bindings here is per request.
package main

import (
	"database/sql"
	"os"

	"github.com/syumai/workers"
	"github.com/syumai/workers/cloudflare"
	_ "github.com/syumai/workers/cloudflare/d1" // registers the "d1" database/sql driver

	"github.com/actas-dev/actas/worker/server"
)

// auditBinding is the D1 binding named in wrangler.toml.
const auditBinding = "AUDIT_DB"

func main() {
	// sql.Open does not touch the binding; a missing binding surfaces on first use,
	// where the server answers audit-unavailable and mints nothing.
	db, err := sql.Open("d1", auditBinding)
	if err != nil {
		// Only an unregistered driver fails here, which the import above rules out.
		panic("wasm: open " + auditBinding + ": " + err.Error())
	}
	workers.Serve(server.New(server.Deps{
		Getenv: cloudflare.Getenv,
		HTTP:   fetchDoer{},
		DB:     db,
		Log:    os.Stdout,
	}))
}
