package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestImpersonatePostStartsSession(t *testing.T) {
	e := newTestEnv(t)
	rec := e.impersonate(e.mintOK().Token)
	if rec.Code != http.StatusFound {
		t.Fatalf("status %d, body %s", rec.Code, errorBody(rec))
	}
	if loc := rec.Header().Get("Location"); loc != testPublic+"/apps/crm/" {
		t.Errorf("Location = %q", loc)
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
		if got := rec.Header().Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	c := sessionCookieOf(rec)
	if c == nil {
		t.Fatal("no session cookie")
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie attributes: HttpOnly=%v SameSite=%v Path=%q Secure=%v", c.HttpOnly, c.SameSite, c.Path, c.Secure)
	}

	// The session is valid for every app of the realm.
	for _, app := range []struct{ path, name string }{{"/apps/crm/", "Customer CRM"}, {"/apps/wiki/", "Team Wiki"}} {
		page := e.do(withCookie(httptest.NewRequest("GET", app.path, nil), c))
		body := page.Body.String()
		if page.Code != http.StatusOK {
			t.Fatalf("%s: status %d", app.path, page.Code)
		}
		for _, want := range []string{app.name, "Signed in as Alice Archer", "alice@example.com",
			"Impersonated session (by service account <code>actas-impersonator</code>)"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: page lacks %q", app.path, want)
			}
		}
	}
	if st := e.stats(); st.ImpersonationsStarted != 1 {
		t.Errorf("impersonationsStarted = %d", st.ImpersonationsStarted)
	}
}

func TestImpersonateGet(t *testing.T) {
	e := newTestEnv(t)
	rec := e.do(httptest.NewRequest("GET", testImpersonate+"?token="+url.QueryEscape(e.mintOK().Token), nil))
	if rec.Code != http.StatusFound || sessionCookieOf(rec) == nil {
		t.Fatalf("status %d, cookie %v", rec.Code, sessionCookieOf(rec))
	}
}

func TestImpersonateSecureCookieOnHTTPS(t *testing.T) {
	e := newTestEnvWith(t, "https://id.example.test", nil)
	rec := e.impersonate(e.mintOK().Token)
	if c := sessionCookieOf(rec); c == nil || !c.Secure {
		t.Fatalf("cookie %+v, want Secure", c)
	}
	if loc := rec.Header().Get("Location"); loc != "https://id.example.test/apps/crm/" {
		t.Errorf("Location = %q", loc)
	}
}

func TestImpersonateRefused(t *testing.T) {
	tests := []struct {
		name       string
		req        func(e *testEnv) *http.Request
		wantStatus int
		wantText   string
	}{
		{
			name: "reused",
			req: func(e *testEnv) *http.Request {
				tok := e.mintOK().Token
				if rec := e.impersonate(tok); rec.Code != http.StatusFound {
					e.t.Fatalf("first use: %d", rec.Code)
				}
				return formRequest("POST", testImpersonate, url.Values{"token": {tok}})
			},
			wantStatus: 400, wantText: "already been used",
		},
		{
			name: "expired",
			req: func(e *testEnv) *http.Request {
				tok := e.mintOK().Token
				e.clock.advance(impersonationTTL)
				return formRequest("POST", testImpersonate, url.Values{"token": {tok}})
			},
			wantStatus: 410, wantText: "expired",
		},
		{
			name: "unknown",
			req: func(e *testEnv) *http.Request {
				return formRequest("POST", testImpersonate, url.Values{"token": {randomToken()}})
			},
			wantStatus: 400, wantText: "not known",
		},
		{
			name:       "missing",
			req:        func(e *testEnv) *http.Request { return httptest.NewRequest("GET", testImpersonate, nil) },
			wantStatus: 400, wantText: "No impersonation token",
		},
		{
			name: "POST not a form",
			req: func(e *testEnv) *http.Request {
				r := httptest.NewRequest("POST", testImpersonate, strings.NewReader(`{"token":"x"}`))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			wantStatus: 415, wantText: "x-www-form-urlencoded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			rec := e.do(tt.req(e))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if !strings.Contains(rec.Body.String(), tt.wantText) {
				t.Errorf("page lacks %q", tt.wantText)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q", ct)
			}
			if len(rec.Result().Cookies()) != 0 {
				t.Error("error response sets a cookie")
			}
			if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Referrer-Policy") != "no-referrer" {
				t.Error("missing no-store or no-referrer")
			}
		})
	}
}

func TestImpersonateExpiryBoundary(t *testing.T) {
	e := newTestEnv(t)
	tok := e.mintOK().Token
	e.clock.advance(impersonationTTL - time.Millisecond)
	if rec := e.impersonate(tok); rec.Code != http.StatusFound {
		t.Fatalf("just before expiry: status %d", rec.Code)
	}
}

// Concurrent redemptions of one token: exactly one wins.
func TestImpersonateSingleUseUnderRace(t *testing.T) {
	e := newTestEnv(t)
	tok := e.mintOK().Token
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 16 {
		wg.Go(func() {
			rec := httptest.NewRecorder()
			e.s.ServeHTTP(rec, formRequest("POST", testImpersonate, url.Values{"token": {tok}}))
			if rec.Code == http.StatusFound {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d redemptions succeeded, want 1", wins)
	}
}

func TestAppWithoutSession(t *testing.T) {
	e := newTestEnv(t)
	for _, c := range []*http.Cookie{nil, {Name: sessionCookie, Value: "forged"}} {
		rec := e.do(withCookie(httptest.NewRequest("GET", "/apps/crm/", nil), c))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Not signed in") {
			t.Errorf("cookie %v: status %d, want 200 with Not signed in", c, rec.Code)
		}
	}
	if rec := e.do(httptest.NewRequest("GET", "/apps/nope/", nil)); rec.Code != http.StatusNotFound {
		t.Errorf("unknown app: status %d", rec.Code)
	}
	if rec := e.do(httptest.NewRequest("GET", "/apps/crm", nil)); rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != "/apps/crm/" {
		t.Errorf("/apps/crm: status %d, Location %q", rec.Code, rec.Header().Get("Location"))
	}
}

func TestLogout(t *testing.T) {
	const logout = "/realms/demo/protocol/openid-connect/logout"
	tests := []struct {
		name         string
		query        string
		wantStatus   int
		wantLocation string
		wantEnded    bool
	}{
		{"no redirect", "", 200, "", true},
		{"client redirect", "?post_logout_redirect_uri=" + url.QueryEscape(testPublic+"/apps/wiki/"), 302, testPublic + "/apps/wiki/", true},
		{"foreign redirect", "?post_logout_redirect_uri=" + url.QueryEscape("https://evil.example/"), 400, "", false},
		{"prefix of a client redirect", "?post_logout_redirect_uri=" + url.QueryEscape(testPublic+"/apps/wiki/../../evil"), 400, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			c := sessionCookieOf(e.impersonate(e.mintOK().Token))
			rec := e.do(withCookie(httptest.NewRequest("GET", logout+tt.query, nil), c))
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if loc := rec.Header().Get("Location"); loc != tt.wantLocation {
				t.Errorf("Location = %q, want %q", loc, tt.wantLocation)
			}
			page := e.do(withCookie(httptest.NewRequest("GET", "/apps/crm/", nil), c)).Body.String()
			if ended := strings.Contains(page, "Not signed in"); ended != tt.wantEnded {
				t.Errorf("session ended = %v, want %v", ended, tt.wantEnded)
			}
			if tt.wantEnded {
				if cleared := sessionCookieOf(rec); cleared == nil || cleared.MaxAge >= 0 {
					t.Errorf("cookie not cleared: %+v", cleared)
				}
				events := e.s.audit.list()
				if last := events[len(events)-1]; last.Event != eventLogout || last.Impersonator != testImpID {
					t.Errorf("last audit event = %+v", last)
				}
			}
		})
	}
}
