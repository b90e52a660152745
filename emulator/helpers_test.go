package main

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Seeded values the tests rely on (see seed.json).
const (
	testPublic      = "http://emu.test"
	testInstance    = "61b8c676-840b-4055-96ca-27f796193707"
	testImpID       = "actas-impersonator"
	testImpSecret   = "dev-impersonator-secret"
	testNoRoleID    = "actas-no-role"
	testNoRoleSec   = "dev-no-role-secret"
	testAlice       = "c55d7ef7-1618-4ebe-941d-14dd61aa5d40"
	testBob         = "ddf6e29c-c191-4e27-9793-e67cfb2a85f2"
	testTokenPath   = "/realms/demo/protocol/openid-connect/token"
	testImpersonate = "/realms/demo/impersonate"
)

// RSA key generation is slow; all tests share one key.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := newRSAKey()
	if err != nil {
		panic(err)
	}
	return k
})

// testClock is a settable clock for expiry tests.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type testEnv struct {
	t     *testing.T
	s     *server
	clock *testClock
	logs  *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for concurrent writes by handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// newTestEnv builds a server on the embedded seed with a fake clock and a
// captured request log.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnvWith(t, testPublic, nil)
}

func newTestEnvWith(t *testing.T, public string, seed *Seed) *testEnv {
	t.Helper()
	if seed == nil {
		var err error
		if seed, err = loadSeed(); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := newKeySet(testKey())
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s, err := newServer(serverConfig{
		Seed: seed, PublicURL: public, Keys: keys,
		Logger: slog.New(slog.NewJSONHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)}
	s.now = clock.now
	return &testEnv{t: t, s: s, clock: clock, logs: logs}
}

// do serves req from a loopback client unless req.RemoteAddr was set.
func (e *testEnv) do(req *http.Request) *httptest.ResponseRecorder {
	e.t.Helper()
	if req.RemoteAddr == "192.0.2.1:1234" { // httptest.NewRequest's default
		req.RemoteAddr = "127.0.0.1:40000"
	}
	rec := httptest.NewRecorder()
	e.s.ServeHTTP(rec, req)
	return rec
}

func formRequest(method, target string, form url.Values) *http.Request {
	req := httptest.NewRequest(method, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// accessToken gets a client_credentials token or fails the test.
func (e *testEnv) accessToken(clientID, secret string) string {
	e.t.Helper()
	req := formRequest("POST", testTokenPath, url.Values{"grant_type": {"client_credentials"}})
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	rec := e.do(req)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("token: status %d, body %s", rec.Code, errorBody(rec))
	}
	var tr tokenResponse
	decodeJSON(e.t, rec, &tr)
	return tr.AccessToken
}

func mintPath(instance, user, client string) string {
	return "/user/v1/" + instance + "/impersonation-token?" +
		url.Values{"userUuid": {user}, "clientId": {client}}.Encode()
}

// mint calls the impersonation-token API with bearer (none when "").
func (e *testEnv) mint(bearer, instance, user, client string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest("POST", mintPath(instance, user, client), nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return e.do(req)
}

// mintOK mints a token for alice in crm and returns the answer.
func (e *testEnv) mintOK() mintResponse {
	e.t.Helper()
	rec := e.mint(e.accessToken(testImpID, testImpSecret), testInstance, testAlice, "crm")
	if rec.Code != http.StatusOK {
		e.t.Fatalf("mint: status %d, body %s", rec.Code, errorBody(rec))
	}
	var mr mintResponse
	decodeJSON(e.t, rec, &mr)
	return mr
}

// impersonate redeems token by POST form.
func (e *testEnv) impersonate(token string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(formRequest("POST", testImpersonate, url.Values{"token": {token}}))
}

func (e *testEnv) putFaults(f Faults) {
	e.t.Helper()
	body, _ := json.Marshal(f)
	rec := e.do(httptest.NewRequest("PUT", "/_control/faults", bytes.NewReader(body)))
	if rec.Code != http.StatusOK {
		e.t.Fatalf("put faults: status %d, body %s", rec.Code, errorBody(rec))
	}
}

func (e *testEnv) stats() Stats {
	e.t.Helper()
	var st Stats
	decodeJSON(e.t, e.do(httptest.NewRequest("GET", "/_control/stats", nil)), &st)
	return st
}

func decodeJSON(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json (body %s)", ct, errorBody(rec))
	}
	dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", errorBody(rec), err)
	}
}

func sessionCookieOf(rec *httptest.ResponseRecorder) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	return nil
}

// withCookie returns req carrying c.
func withCookie(req *http.Request, c *http.Cookie) *http.Request {
	if c != nil {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	return req
}
