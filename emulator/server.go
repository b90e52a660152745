package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// server is the emulated Bare.ID: one instance, one realm, in memory.
type server struct {
	seed   *Seed
	public *url.URL // base URL advertised in issuer, endpoints and redirects
	keys   *keySet
	log    *slog.Logger

	// now is the clock; tests replace it to expire tokens.
	now func() time.Time

	faults   guarded[Faults]
	stats    counters
	grants   *grantStore
	sessions *sessionStore
	audit    auditLog

	// signin holds admin sessions, codes and refresh tokens; login is the
	// sign-in mode tests switch.
	signin *signInStore
	login  guarded[LoginMode]

	// grantTypes maps a token endpoint grant_type to its handler; discovery
	// lists its keys.
	grantTypes map[string]grantHandler

	mux *http.ServeMux
}

// serverConfig is what newServer needs.
type serverConfig struct {
	Seed      *Seed
	PublicURL string
	Keys      *keySet
	Logger    *slog.Logger
}

func newServer(cfg serverConfig) (*server, error) {
	pub, err := parsePublicURL(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &server{
		seed:     cfg.Seed,
		public:   pub,
		keys:     cfg.Keys,
		log:      logger,
		now:      time.Now,
		grants:   newGrantStore(),
		sessions: newSessionStore(),
		signin:   newSignInStore(),
		mux:      http.NewServeMux(),
	}
	s.grantTypes = map[string]grantHandler{
		"client_credentials": s.clientCredentials,
		"authorization_code": s.authorizationCode,
		"refresh_token":      s.refreshTokenGrant,
	}
	s.routes()
	return s, nil
}

// parsePublicURL checks the advertised base URL: absolute http(s), no path
// beyond "/", no query or fragment.
func parsePublicURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSuffix(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("public URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("public URL %q must be http(s)://host[:port] with nothing after it", raw)
	}
	return u, nil
}

func (s *server) routes() {
	realm := "/realms/" + s.seed.Realm
	oidc := realm + "/protocol/openid-connect"
	m := s.mux

	m.HandleFunc("GET "+realm+"/.well-known/openid-configuration", s.handleDiscovery)
	m.HandleFunc("GET "+oidc+"/certs", s.handleCerts)
	m.HandleFunc("POST "+oidc+"/token", s.handleToken)
	m.HandleFunc("GET "+oidc+"/auth", s.handleAuth)
	m.HandleFunc("POST "+oidc+"/auth", s.handleAuth)
	m.HandleFunc("POST "+realm+"/login-actions/authenticate", s.handleLoginAction)
	m.HandleFunc("GET "+oidc+"/logout", s.handleLogout)
	m.HandleFunc("POST "+oidc+"/logout", s.handleLogout)

	m.HandleFunc("POST /user/v1/{instance}/impersonation-token", s.handleMint)
	m.HandleFunc("GET "+realm+"/impersonate", s.handleImpersonate)
	m.HandleFunc("POST "+realm+"/impersonate", s.handleImpersonate)

	m.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin", http.StatusFound)
	})
	m.HandleFunc("GET /admin", s.handleAdmin)
	m.HandleFunc("GET /admin/users/{uuid}", s.handleAdminUser)
	m.HandleFunc("GET /apps/{clientId}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/apps/"+url.PathEscape(r.PathValue("clientId"))+"/", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /apps/{clientId}/{$}", s.handleApp)
	m.HandleFunc("GET /audit", s.handleAuditHTML)

	m.Handle("/_control/", loopbackOnly(s.controlRoutes()))
}

// realmURL is the public URL of a path under the realm, e.g. "/impersonate".
func (s *server) realmURL(path string) string {
	return s.public.String() + "/realms/" + s.seed.Realm + path
}

func (s *server) issuer() string { return s.realmURL("") }

// redirectURL resolves a client's redirect URL against the public URL.
func (s *server) redirectURL(c Client) string {
	ref, err := url.Parse(c.RedirectURL)
	if err != nil { // validated at seed load
		return s.public.String() + "/"
	}
	return s.public.ResolveReference(ref).String()
}

// ServeHTTP logs one line per request: never the query string, headers or
// body, which may carry tokens and secrets.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.mux.ServeHTTP(rec, r)
	s.log.Info("request",
		"method", r.Method,
		"path", r.URL.Path,
		"status", rec.status,
		"durationMs", float64(time.Since(start).Microseconds())/1000,
	)
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// maxFormBytes bounds request bodies; every legitimate one is tiny.
const maxFormBytes = 64 << 10

// writeJSON writes v with status. Headers must be set before calling.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// apiError is the Bare.ID API's error body.
type apiError struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func writeAPIError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, apiError{Error: code, Message: message})
}
