//go:build js && wasm

// Command wasm is the Worker's entry point inside workerd (Cloudflare Workers).
//
// It is the only Go code that touches syscall/js or Cloudflare bindings: it wires the
// Worker's environment, outbound fetch and the D1 audit store into the plain-Go handler
// of package server and serves it. Everything else builds and tests natively.
//
// One Go instance serves every request of its isolate (worker.mjs, bridge.go). main
// therefore runs once per isolate: server.New reads the configuration once, which is
// right because a Worker's env is fixed per isolate (a changed variable or secret
// means a new deployment, hence new isolates), and the Bare.ID client it builds keeps
// the service-account token cached across requests.
package main

import (
	"database/sql"
	"syscall/js"

	"github.com/actas-dev/actas/migrations"
	"github.com/actas-dev/actas/worker/schema"
	"github.com/actas-dev/actas/worker/server"
)

// auditBinding is the D1 binding named in wrangler.toml.
const auditBinding = "AUDIT_DB"

// jsBinding is the object worker.mjs shares with this instance (serve, complete, ...).
var jsBinding = js.Global().Get("context").Get("binding")

func main() {
	// OpenDB does not touch the binding; a missing binding surfaces on first use, where
	// the server answers audit-unavailable and mints nothing.
	logs = newConsoleLog(getenv)
	db := sql.OpenDB(d1Connector{binding: auditBinding})
	h := server.New(server.Deps{
		Getenv: getenv,
		HTTP:   fetchDoer{},
		DB:     db,
		Schema: schema.New(db, d1Batcher{binding: auditBinding}, migrations.FS),
		Log:    logs,
		// Webhook delivery after each response, in that request's waitUntil.
		WaitUntil: waitUntil,
	})
	serveScheduled(jsBinding, h)
	serve(jsBinding, countServed(withTestHooks(h, getenv)))
	select {} // serve requests until the isolate goes away
}
