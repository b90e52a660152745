// Command emulator is a stand-in for Bare.ID (hosted Keycloak) as far as
// actas sees it: a realm's OpenID Connect provider (discovery, JWKS, the
// OAuth 2.0 token endpoint with client_credentials for service accounts and
// authorization_code with PKCE plus refresh_token for admins signing in
// through a public client, a login page and logout), the
// impersonation-token API, the impersonation URL that starts a browser
// session, a demo admin tool that lists users, demo target applications and
// an audit log. It also has fault switches and a loopback-only control API
// for tests, including a test-signing endpoint.
//
// It is a test double with committed development secrets: it listens on
// loopback only.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line flags.
type options struct {
	addr string
}

const usageHeader = `Usage: go run ./emulator [-addr host:port]

The Bare.ID emulator for actas. When listening it prints exactly one line to
stdout:
  {"msg":"listening","url":"http://127.0.0.1:PORT"}
and then one JSON log line per request to stderr. SIGINT/SIGTERM stop it
gracefully. It listens on loopback only.

Endpoints (R = /realms/{realm}, realm "demo" in the seed):
  GET  R/.well-known/openid-configuration   OIDC discovery
  GET  R/protocol/openid-connect/certs       JWKS
  GET  R/protocol/openid-connect/auth        authorization endpoint: code + PKCE S256,
                                              login page listing the seeded admins
  POST R/login-actions/authenticate          the login page's form (CSRF-protected)
  POST R/protocol/openid-connect/token       grants client_credentials,
                                              authorization_code, refresh_token
  GET  R/protocol/openid-connect/logout      end the sessions (id_token_hint,
                                              post_logout_redirect_uri, state)
  POST /user/v1/{instance}/impersonation-token?userUuid=&clientId=
  GET  R/impersonate?token=   POST R/impersonate (form token=)
  GET  /admin, /admin/users/{uuid}           demo admin tool
  GET  /apps/{clientId}/                      demo target application
  GET  /audit                                 the emulator's audit log

Control API, loopback clients only:
  GET|PUT /_control/faults    GET|PUT /_control/login {"autoLogin"}
  GET /_control/stats         POST /_control/reset
  POST /_control/rotate-keys {"dropOld":bool,"alg":"RS256"|"ES256"}
  POST /_control/tokens {"username":"ada"}   an admin's token response, no browser
  POST /_control/sign {"username","claims","header"}   test double: signs any claims

Flags:
`

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHeader)
		fs.PrintDefaults()
		fmt.Fprintln(fs.Output(), "\nSee emulator/README.md for response shapes, the seed and curl examples.")
	}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8790", "`host:port` to listen on (loopback only); port 0 picks a free port")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return o, checkLoopback(o.addr)
}

// checkLoopback refuses listen addresses that reach beyond this machine.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-addr %q is not a loopback address; the emulator serves public development secrets", addr)
}

// run starts the emulator and serves until ctx ends. It returns the exit
// code: 0 after a clean shutdown or -h, 2 for bad flags, 1 otherwise.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "emulator:", err)
		return 2
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	fail := func(err error) int {
		logger.Error("emulator stopped", "err", err)
		return 1
	}

	seed, err := loadSeed()
	if err != nil {
		return fail(err)
	}
	priv, err := newRSAKey()
	if err != nil {
		return fail(err)
	}
	keys, err := newKeySet(priv)
	if err != nil {
		return fail(err)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fail(err)
	}
	listenURL := "http://" + ln.Addr().String()
	srv, err := newServer(serverConfig{Seed: seed, PublicURL: listenURL, Keys: keys, Logger: logger})
	if err != nil {
		ln.Close()
		return fail(err)
	}

	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(ln) }()

	logger.Info("emulator ready", "publicUrl", srv.public.String(), "realm", seed.Realm,
		"instance", seed.Instance)
	ready, _ := json.Marshal(struct {
		Msg string `json:"msg"`
		URL string `json:"url"`
	}{"listening", listenURL})
	fmt.Fprintf(stdout, "%s\n", ready)

	select {
	case err := <-served:
		return fail(err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		return fail(err)
	}
	logger.Info("emulator stopped")
	return 0
}
