// Command emulator is a stand-in for Bare.ID (hosted Keycloak) as far as
// actas sees it: a realm's OpenID Connect provider (discovery, JWKS, the
// OAuth 2.0 token endpoint with client_credentials for service accounts and
// authorization_code with PKCE plus refresh_token for admins signing in
// through a public client, a login page, userinfo and logout), the
// impersonation-token API, the impersonation URL that starts a browser
// session, a demo admin tool that lists users, demo target applications and
// an audit log. It also has fault switches and a loopback-only control API
// for tests, including a test-signing endpoint.
//
// It is a test double with committed development secrets: it refuses to
// listen beyond loopback unless told to with -allow-remote.
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

	"github.com/go-jose/go-jose/v4"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line flags.
type options struct {
	addr        string
	seedPath    string
	publicURL   string
	allowRemote bool
	latency     time.Duration
	faults      Faults
	login       LoginMode
	rotateEvery time.Duration
}

const usageHeader = `Usage: go run ./emulator [flags]

The Bare.ID emulator for actas. When listening it prints exactly one line to
stdout:
  {"msg":"listening","url":"http://127.0.0.1:PORT"}
and then one JSON log line per request to stderr. SIGINT/SIGTERM stop it
gracefully.

Endpoints (R = /realms/{realm}, realm "demo" in the default seed):
  GET  R/.well-known/openid-configuration   OIDC discovery
  GET  R/protocol/openid-connect/certs       JWKS
  GET  R/protocol/openid-connect/auth        authorization endpoint: code + PKCE S256,
                                              login page listing the seeded admins
  POST R/login-actions/authenticate          the login page's form (CSRF-protected)
  POST R/protocol/openid-connect/token       grants client_credentials,
                                              authorization_code, refresh_token
  GET  R/protocol/openid-connect/userinfo    claims of a bearer access token
  GET  R/protocol/openid-connect/logout      end the sessions (id_token_hint,
                                              post_logout_redirect_uri, state)
  POST /user/v1/{instance}/impersonation-token?userUuid=&clientId=
  GET  R/impersonate?token=   POST R/impersonate (form token=)
  GET  /admin, /admin/users/{uuid}           demo admin tool
  GET  /apps/{clientId}/                      demo target application
  POST /apps/{clientId}/change-password      refused (403) when impersonated
  GET  /audit, /audit.json                    the emulator's audit log

Control API, loopback clients only:
  GET|PUT /_control/faults    GET|PUT /_control/login {"autoLogin","nonInteractive"}
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
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8790", "`host:port` to listen on; port 0 picks a free port")
	fs.StringVar(&o.seedPath, "seed", "", "seed JSON `file` (default: the committed emulator/seed.json, embedded)")
	fs.StringVar(&o.publicURL, "public-url", "", "base `URL` to advertise in issuer, endpoints and redirects (default: http://<actual listen address>)")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow listening on a non-loopback address (this is a test double with public secrets)")
	fs.DurationVar(&o.latency, "latency", 0, "fault: delay the token endpoint and the impersonation-token API by this `duration` (e.g. 250ms)")
	fs.IntVar(&o.faults.MintStatus, "mint-status", 0, "fault: the impersonation-token API answers this `status` (400-599) with a JSON error body")
	fs.BoolVar(&o.faults.MintMalformed, "mint-malformed", false, "fault: the impersonation-token API answers 200 with a body that is not JSON")
	fs.BoolVar(&o.faults.MintMissingFields, "mint-missing-fields", false, "fault: the impersonation-token API answers 200 {}")
	fs.BoolVar(&o.faults.MintUnauthorizedOnce, "mint-unauthorized-once", false, "fault: the next impersonation-token call answers 401, then the fault clears")
	fs.BoolVar(&o.faults.WrongHost, "wrong-host", false, "fault: the impersonation-token API answers a URL on https://evil.example")
	fs.BoolVar(&o.faults.TokenDown, "token-down", false, "fault: the token endpoint answers 503")
	fs.StringVar(&o.login.AutoLogin, "auto-login", "", "sign every authorization request in as this seeded admin `username` at once, without the login page")
	fs.BoolVar(&o.login.NonInteractive, "non-interactive", false, "never show the login page: login_hint=USERNAME signs in as that admin, otherwise error=login_required")
	fs.DurationVar(&o.rotateEvery, "rotate-keys-every", 0, "rotate the signing key every `duration` (e.g. 10m), keeping the previous keys in the JWKS; 0 never")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.latency < 0 {
		return o, errors.New("-latency must not be negative")
	}
	if o.rotateEvery < 0 || (o.rotateEvery > 0 && o.rotateEvery < minRotateEvery) {
		return o, fmt.Errorf("-rotate-keys-every must be 0 or at least %v", minRotateEvery)
	}
	o.faults.LatencyMs = int(o.latency / time.Millisecond)
	if err := o.faults.validate(); err != nil {
		return o, err
	}
	if !o.allowRemote {
		if err := checkLoopback(o.addr); err != nil {
			return o, err
		}
	}
	return o, nil
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
	return fmt.Errorf("-addr %q is not a loopback address; the emulator serves public development secrets, pass -allow-remote to listen there anyway", addr)
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

	seed, err := loadSeed(o.seedPath)
	if err != nil {
		return fail(err)
	}
	if err := o.login.validate(seed); err != nil {
		fmt.Fprintln(stderr, "emulator: -auto-login:", err)
		return 2
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
	publicURL := o.publicURL
	if publicURL == "" {
		publicURL = listenURL
	}
	srv, err := newServer(serverConfig{Seed: seed, PublicURL: publicURL, Keys: keys, Logger: logger,
		Faults: o.faults, Login: o.login})
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

	if o.rotateEvery > 0 {
		go rotateKeysEvery(ctx, keys, o.rotateEvery, logger)
	}

	logger.Info("emulator ready", "publicUrl", srv.public.String(), "realm", seed.Realm,
		"instance", seed.Instance, "faults", o.faults, "login", o.login)
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

// minRotateEvery keeps -rotate-keys-every from turning key generation into a
// busy loop.
const minRotateEvery = time.Second

// rotateKeysEvery rotates the signing key (RS256, keeping the previous keys)
// every d until ctx ends.
func rotateKeysEvery(ctx context.Context, keys *keySet, d time.Duration, logger *slog.Logger) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := keys.rotate(jose.RS256, false); err != nil {
				logger.Error("rotate keys", "err", err)
				continue
			}
			logger.Info("keys rotated", "kid", keys.current().kid)
		}
	}
}
