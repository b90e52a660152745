// Package server is the Worker's HTTP API (DESIGN.md "Worker HTTP API").
package server

import (
	"database/sql"
	"io"
	"net/http"
	"time"
)

// Doer sends one outbound HTTP request. In workerd it is backed by the Fetch API
// (github.com/syumai/workers/cloudflare/fetch); natively by an *http.Client in tests.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Deps is everything the Worker needs from its platform.
type Deps struct {
	Getenv func(name string) string // Worker vars and secrets
	HTTP   Doer                     // outbound calls to Bare.ID
	DB     *sql.DB                  // the audit store (D1 binding AUDIT_DB)
	Log    io.Writer                // one JSON line per request
	Now    func() time.Time         // nil means time.Now
}

// New returns the Worker's HTTP handler.
func New(d Deps) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	})
	return mux
}
