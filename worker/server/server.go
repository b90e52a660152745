// Package server is the Worker's HTTP API (v1): JSON in and out, errors as RFC 9457
// problem details, every impersonation audited before a token leaves.
//
// Handlers parse, call and encode; the rules live in the packages they call (identity,
// policy, audit, bareid), and errors become responses only in problem.Write.
package server

import (
	"bytes"
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/bareid"
	"github.com/actas-dev/actas/worker/config"
	"github.com/actas-dev/actas/worker/identity"
	"github.com/actas-dev/actas/worker/policy"
	"github.com/actas-dev/actas/worker/problem"
	"github.com/actas-dev/actas/worker/version"
	"github.com/actas-dev/actas/worker/webhook"
)

// Doer sends one outbound HTTP request. In workerd it is backed by the Fetch API
// (wasm/fetch.go, which calls the global fetch itself); natively by an *http.Client
// in tests.
type Doer = bareid.Doer

// Deps is everything the Worker needs from its platform.
type Deps struct {
	Getenv func(name string) string // Worker vars and secrets
	HTTP   Doer                     // outbound calls to Bare.ID
	DB     *sql.DB                  // the audit store (D1 binding AUDIT_DB)
	Schema Migrator                 // brings DB's schema up to date on first use; nil: it is
	Log    io.Writer                // one JSON line per request (by level if a LevelWriter)
	Now    func() time.Time         // nil means time.Now
	// WaitUntil runs task after the response, kept alive by the request's
	// ctx.waitUntil (wasm/waituntil.go); nil leaves the work to the cron.
	WaitUntil func(ctx context.Context, task func(context.Context)) bool
}

//go:embed openapi.json
var openAPISource []byte

// openAPIVersionField is info.version in openapi.json, which the served document
// replaces with the build version: the document describes this build.
const openAPIVersionField = `"version": "` + version.Unset + `"`

// openAPI is the served document.
var openAPI = bytes.Replace(openAPISource, []byte(openAPIVersionField),
	[]byte(`"version": "`+version.String()+`"`), 1)

// maxRequestBody bounds every request body the API reads.
const maxRequestBody = 16 << 10

type server struct {
	cfg    *config.Config
	auth   identity.Authenticator
	policy *policy.Policy
	store  *audit.Store
	migr   Migrator
	upstr  *bareid.Client
	log    *logger
	now    func() time.Time
	// readiness answers /readyz.
	readiness *readiness
	// outbox pushes audit events to the webhook; waitUntil runs it after responses.
	outbox    *webhook.Outbox
	waitUntil func(ctx context.Context, task func(context.Context)) bool
}

// New reads the configuration once and returns the Worker's HTTP handler, which is
// also its Scheduler. A bad configuration does not stop the Worker from answering:
// every API request then gets a 500 problem naming the offending variables, the health
// check (liveness) stays up and the readiness check answers 503.
func New(d Deps) http.Handler {
	now := d.Now
	if now == nil {
		now = time.Now
	}
	if d.Log == nil {
		d.Log = io.Discard
	}
	lg := newLogger(d.Log, now)
	cfg, err := config.Load(d.Getenv)
	if err != nil {
		return misconfigured(err, lg)
	}
	store := audit.NewStore(d.DB)
	chain := identity.New(cfg.Identity, d.HTTP, now)
	s := &server{
		cfg:       cfg,
		auth:      chain,
		policy:    policy.New(cfg.Policy, store, now),
		store:     store,
		migr:      d.Schema,
		upstr:     bareid.New(cfg.BareID, d.HTTP, now),
		log:       lg,
		now:       now,
		outbox:    webhook.New(cfg.Webhook, d.DB, d.HTTP, now),
		waitUntil: d.WaitUntil,
	}
	s.readiness = readinessOf(s, chain)
	return &worker{Handler: s.routes(), s: s}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", health)
	mux.HandleFunc("GET /readyz", s.ready)
	mux.HandleFunc("GET /openapi.json", serveOpenAPI)
	mux.HandleFunc("GET /open", s.openPage)
	mux.Handle("POST /v1/impersonations", s.api(s.authed(s.createImpersonation)))
	mux.Handle("GET /v1/impersonations", s.api(s.authed(s.listImpersonations)))
	mux.Handle("GET /v1/impersonations/verify", s.api(s.authed(s.verifyChain)))
	mux.Handle("GET /v1/impersonations/{id}", s.api(s.authed(s.getImpersonation)))
	mux.Handle("GET /v1/audit/archive", s.api(s.authed(s.getArchive)))
	mux.Handle("POST /v1/audit/checkpoints", s.api(s.authed(s.createCheckpoint)))
	mux.Handle("POST /v1/impersonations/{id}/end", s.api(s.authed(s.endImpersonation)))
	mux.Handle("GET /v1/clients", s.api(s.authed(s.listClients)))
	mux.Handle("GET /v1/me", s.api(s.authed(s.me)))
	mux.Handle("OPTIONS /v1/", s.api(func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusNoContent) // CORS preflight; headers set by api
		return nil
	}))
	mux.Handle("/", s.api(func(w http.ResponseWriter, r *http.Request) error {
		return notFoundOrMethod(w, mux, r)
	}))
	nonCanonical := s.api(func(http.ResponseWriter, *http.Request) error { return notFound() })
	return s.log.middleware(canonicalOnly(mux, nonCanonical))
}

func health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, `{"status":"ok"}`)
}

func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPI)
}

// notFoundOrMethod tells an unknown path (404) from a known path with another method
// (405 with Allow), which the mux's catch-all would otherwise hide.
func notFoundOrMethod(w http.ResponseWriter, mux *http.ServeMux, r *http.Request) error {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "/" && pattern != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		return notFound()
	}
	allow := strings.Join(allowed, ", ")
	w.Header().Set("Allow", allow)
	return problem.New(problem.MethodNotAllowed, "Use "+allow+".")
}

// misconfigured answers every request but the health check with a 500 problem that
// names the offending variables (never their values), and logs the problem once.
func misconfigured(err error, lg *logger) http.Handler {
	var names []string
	var ce *config.Error
	if errors.As(err, &ce) {
		names = ce.Variables()
	}
	var once sync.Once
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", health)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { lg.event(LevelError, "config-invalid", err) })
		notReady(w, r)
	})
	misconfiguredAnswer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { lg.event(LevelError, "config-invalid", err) })
		detail := "The Worker's configuration is invalid; see the Worker's log."
		if len(names) > 0 {
			detail = "The Worker's configuration is invalid; an operator must fix: " + strings.Join(names, ", ") + "."
		}
		pe := problem.Wrap(problem.ConfigurationInvalid, detail, err)
		pe.Extra = map[string]any{"variables": names}
		info(r).err = pe
		problem.Write(w, pe, info(r).requestID)
	})
	mux.Handle("/", misconfiguredAnswer)
	return misconfiguredWorker{Handler: lg.middleware(canonicalOnly(mux, misconfiguredAnswer)), log: lg, err: err}
}
