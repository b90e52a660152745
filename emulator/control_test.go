package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestFaultSwitches(t *testing.T) {
	tests := []struct {
		name  string
		fault Faults
		check func(t *testing.T, e *testEnv)
	}{
		{
			name:  "tokenDown",
			fault: Faults{TokenDown: true},
			check: func(t *testing.T, e *testEnv) {
				req := formRequest("POST", testTokenPath, url.Values{"grant_type": {"client_credentials"}})
				req.SetBasicAuth(testImpID, testImpSecret)
				rec := e.do(req)
				if rec.Code != http.StatusServiceUnavailable {
					t.Fatalf("status %d, want 503", rec.Code)
				}
			},
		},
		{
			name:  "mintStatus",
			fault: Faults{MintStatus: 503},
			check: func(t *testing.T, e *testEnv) {
				rec := e.mint(e.accessToken(testImpID, testImpSecret), testInstance, testAlice, "crm")
				if rec.Code != 503 {
					t.Fatalf("status %d, want 503", rec.Code)
				}
				var ae apiError
				decodeJSON(t, rec, &ae)
				if ae.Error == "" {
					t.Error("no error in body")
				}
			},
		},
		{
			name:  "mintMalformed",
			fault: Faults{MintMalformed: true},
			check: func(t *testing.T, e *testEnv) {
				rec := e.mint(e.accessToken(testImpID, testImpSecret), testInstance, testAlice, "crm")
				if rec.Code != 200 {
					t.Fatalf("status %d, want 200", rec.Code)
				}
				if json.Valid(rec.Body.Bytes()) {
					t.Errorf("body is valid JSON: %s", errorBody(rec))
				}
			},
		},
		{
			name:  "mintMissingFields",
			fault: Faults{MintMissingFields: true},
			check: func(t *testing.T, e *testEnv) {
				rec := e.mint(e.accessToken(testImpID, testImpSecret), testInstance, testAlice, "crm")
				if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "{}" {
					t.Fatalf("status %d body %s, want 200 {}", rec.Code, errorBody(rec))
				}
			},
		},
		{
			name:  "wrongHost",
			fault: Faults{WrongHost: true},
			check: func(t *testing.T, e *testEnv) {
				mr := e.mintOK()
				if !strings.HasPrefix(mr.URL, "https://evil.example/") {
					t.Fatalf("url = %q", mr.URL)
				}
				// The token itself is valid at the real impersonation URL.
				if rec := e.impersonate(mr.Token); rec.Code != http.StatusFound {
					t.Errorf("token from wrongHost answer: status %d", rec.Code)
				}
			},
		},
		{
			name:  "mintUnauthorizedOnce",
			fault: Faults{MintUnauthorizedOnce: true},
			check: func(t *testing.T, e *testEnv) {
				at := e.accessToken(testImpID, testImpSecret)
				if rec := e.mint(at, testInstance, testAlice, "crm"); rec.Code != http.StatusUnauthorized {
					t.Fatalf("first call: status %d, want 401", rec.Code)
				}
				if f := e.s.faults.get(); f.MintUnauthorizedOnce {
					t.Error("fault did not reset itself")
				}
				if rec := e.mint(at, testInstance, testAlice, "crm"); rec.Code != http.StatusOK {
					t.Fatalf("second call: status %d, want 200", rec.Code)
				}
			},
		},
		{
			name:  "latencyMs",
			fault: Faults{LatencyMs: 60},
			check: func(t *testing.T, e *testEnv) {
				start := time.Now()
				at := e.accessToken(testImpID, testImpSecret)
				if d := time.Since(start); d < 60*time.Millisecond {
					t.Errorf("token endpoint took %v, want >= 60ms", d)
				}
				start = time.Now()
				e.mint(at, testInstance, testAlice, "crm")
				if d := time.Since(start); d < 60*time.Millisecond {
					t.Errorf("mint took %v, want >= 60ms", d)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			e.putFaults(tt.fault)
			tt.check(t, e)
		})
	}
}

func TestControlFaultsAPI(t *testing.T) {
	e := newTestEnv(t)
	put := func(body string) *httptest.ResponseRecorder {
		return e.do(httptest.NewRequest("PUT", "/_control/faults", strings.NewReader(body)))
	}
	tests := []struct {
		name       string
		body       string
		wantStatus int
	}{
		{"valid", `{"latencyMs":5,"mintStatus":500}`, 200},
		{"empty object clears", `{}`, 200},
		{"unknown field", `{"latencyMS":5}`, 400},
		{"wrong type", `{"tokenDown":"yes"}`, 400},
		{"not JSON", `tokenDown`, 400},
		{"trailing data", `{} {}`, 400},
		{"null", `null`, 400},
		{"array", `[]`, 400},
		{"negative latency", `{"latencyMs":-1}`, 400},
		{"huge latency", `{"latencyMs":600000}`, 400},
		{"status out of range", `{"mintStatus":302}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if rec := put(tt.body); rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d; body %s", rec.Code, tt.wantStatus, errorBody(rec))
			}
		})
	}

	// PUT is a full replace; GET shows the current faults.
	put(`{"tokenDown":true,"wrongHost":true}`)
	put(`{"wrongHost":true}`)
	var f Faults
	decodeJSON(t, e.do(httptest.NewRequest("GET", "/_control/faults", nil)), &f)
	if f != (Faults{WrongHost: true}) {
		t.Errorf("faults = %+v", f)
	}
	// A rejected PUT leaves the faults as they were.
	put(`{"bogus":1}`)
	if got := e.s.faults.get(); got != f {
		t.Errorf("faults changed by a rejected PUT: %+v", got)
	}
}

func TestControlStatsAndReset(t *testing.T) {
	e := newTestEnv(t)
	e.impersonate(e.mintOK().Token)
	bad := formRequest("POST", testTokenPath, url.Values{"grant_type": {"password"}})
	e.do(bad)
	e.mint("", testInstance, testAlice, "crm")

	if st := e.stats(); st != (Stats{TokenRequests: 2, MintRequests: 2, ImpersonationsStarted: 1}) {
		t.Errorf("stats = %+v", st)
	}

	tok := e.mintOK().Token
	c := sessionCookieOf(e.impersonate(e.mintOK().Token))
	e.putFaults(Faults{TokenDown: true})
	if rec := e.do(httptest.NewRequest("POST", "/_control/reset", nil)); rec.Code != http.StatusNoContent {
		t.Fatalf("reset: status %d", rec.Code)
	}
	if st := e.stats(); st != (Stats{}) {
		t.Errorf("stats after reset = %+v", st)
	}
	if f := e.s.faults.get(); f != (Faults{}) {
		t.Errorf("faults after reset = %+v", f)
	}
	if n := len(e.s.audit.list()); n != 0 {
		t.Errorf("%d audit events after reset", n)
	}
	if rec := e.impersonate(tok); rec.Code != http.StatusBadRequest {
		t.Errorf("token minted before reset: status %d, want 400", rec.Code)
	}
	page := e.do(withCookie(httptest.NewRequest("GET", "/apps/crm/", nil), c)).Body.String()
	if !strings.Contains(page, "Not signed in") {
		t.Error("session survived reset")
	}
}

func TestControlRefusesNonLoopback(t *testing.T) {
	e := newTestEnv(t)
	for _, remote := range []string{"192.0.2.10:5555", "10.0.0.1:80", "[2001:db8::1]:443", "garbage"} {
		for _, r := range []struct{ method, path string }{
			{"GET", "/_control/faults"}, {"PUT", "/_control/faults"}, {"POST", "/_control/reset"}, {"GET", "/_control/stats"},
		} {
			req := httptest.NewRequest(r.method, r.path, strings.NewReader(`{"tokenDown":true}`))
			req.RemoteAddr = remote
			req.Header.Set("X-Forwarded-For", "127.0.0.1")
			if rec := e.do(req); rec.Code != http.StatusForbidden {
				t.Errorf("%s %s from %s: status %d, want 403", r.method, r.path, remote, rec.Code)
			}
		}
	}
	if e.s.faults.get().TokenDown {
		t.Error("a refused PUT changed the faults")
	}
	for _, remote := range []string{"127.0.0.1:1", "[::1]:1", "127.1.2.3:1"} {
		req := httptest.NewRequest("GET", "/_control/stats", nil)
		req.RemoteAddr = remote
		if rec := e.do(req); rec.Code != http.StatusOK {
			t.Errorf("from %s: status %d, want 200", remote, rec.Code)
		}
	}
}
