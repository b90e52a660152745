package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestAuditTrail(t *testing.T) {
	e := newTestEnv(t)
	at := e.accessToken(testImpID, testImpSecret)
	mr := e.mintOK()
	c := sessionCookieOf(e.impersonate(mr.Token))
	e.impersonate(mr.Token) // reuse: rejected
	e.do(httptest.NewRequest("GET", testImpersonate+"?token="+url.QueryEscape(mr.Token), nil))
	e.do(withCookie(httptest.NewRequest("GET", "/realms/demo/protocol/openid-connect/logout", nil), c))

	var events []string
	for _, ev := range e.s.audit.list() {
		events = append(events, ev.Event)
		if ev.Impersonator != testImpID {
			t.Errorf("%s: impersonator = %q, want the service account", ev.Event, ev.Impersonator)
		}
		if ev.UserUUID != testAlice || ev.Username != "alice" || ev.ClientID != "crm" {
			t.Errorf("%s: user %q %q client %q", ev.Event, ev.UserUUID, ev.Username, ev.ClientID)
		}
		if ev.Time.IsZero() {
			t.Errorf("%s: no time", ev.Event)
		}
	}
	want := []string{eventTokenIssued, eventSessionStarted, eventTokenRejected, eventTokenRejected, eventLogout}
	if !slices.Equal(events, want) {
		t.Errorf("events = %v, want %v", events, want)
	}

	html := e.do(httptest.NewRequest("GET", "/audit", nil))
	if html.Code != http.StatusOK || !strings.Contains(html.Body.String(), testImpID) {
		t.Errorf("audit page: status %d", html.Code)
	}

	c = sessionCookieOf(e.impersonate(e.mintOK().Token))
	secrets := map[string]string{
		"impersonation token": mr.Token,
		"access token":        at,
		"session cookie":      c.Value,
		"client secret":       testImpSecret,
	}
	for where, body := range map[string]string{
		"audit page":  html.Body.String(),
		"request log": e.logs.String(),
	} {
		for what, secret := range secrets {
			if strings.Contains(body, secret) {
				t.Errorf("%s contains the %s", where, what)
			}
		}
	}
	if !strings.Contains(e.logs.String(), `"path":"/realms/demo/impersonate"`) {
		t.Error("request log lacks the impersonate request")
	}
}

func TestAuditPageEscapes(t *testing.T) {
	e := newTestEnv(t)
	e.s.audit.record(AuditEvent{Event: "x", Detail: `<script>alert(1)</script>`})
	body := e.do(httptest.NewRequest("GET", "/audit", nil)).Body.String()
	if strings.Contains(body, "<script>") {
		t.Error("audit page does not escape")
	}
}

func TestAuditLogBounded(t *testing.T) {
	var a auditLog
	for i := range maxAuditEvents + 5 {
		a.record(AuditEvent{Detail: string(rune('a' + i%26))})
	}
	if n := len(a.list()); n != maxAuditEvents {
		t.Errorf("%d events, want %d", n, maxAuditEvents)
	}
}

func TestAdminPages(t *testing.T) {
	e := newTestEnv(t)
	rec := e.do(httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/admin" {
		t.Errorf("/: status %d Location %q", rec.Code, rec.Header().Get("Location"))
	}
	list := e.do(httptest.NewRequest("GET", "/admin", nil))
	if list.Code != http.StatusOK {
		t.Fatalf("/admin: status %d", list.Code)
	}
	for _, u := range e.s.seed.Users {
		if !strings.Contains(list.Body.String(), `href="/admin/users/`+u.UUID+`"`) {
			t.Errorf("/admin lacks a link for %s", u.Username)
		}
	}
	detail := e.do(httptest.NewRequest("GET", "/admin/users/"+testBob, nil))
	if detail.Code != http.StatusOK || !strings.Contains(detail.Body.String(), "bob@example.com") {
		t.Errorf("detail: status %d", detail.Code)
	}
	if rec := e.do(httptest.NewRequest("GET", "/admin/users/nobody", nil)); rec.Code != http.StatusNotFound {
		t.Errorf("unknown user: status %d", rec.Code)
	}
	if csp := list.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q", csp)
	}
}
