package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestMintErrors(t *testing.T) {
	e := newTestEnv(t)
	imp := e.accessToken(testImpID, testImpSecret)
	noRole := e.accessToken(testNoRoleID, testNoRoleSec)

	tests := []struct {
		name       string
		bearer     string
		header     string // raw Authorization header, overrides bearer
		instance   string
		user       string
		client     string
		wantStatus int
		wantError  string
	}{
		{name: "no bearer", instance: testInstance, user: testAlice, client: "crm", wantStatus: 401, wantError: "unauthorized"},
		{name: "basic instead of bearer", header: "Basic YTpi", instance: testInstance, user: testAlice, client: "crm", wantStatus: 401, wantError: "unauthorized"},
		{name: "bad bearer", bearer: "not-a-token", instance: testInstance, user: testAlice, client: "crm", wantStatus: 401, wantError: "unauthorized"},
		{name: "tampered bearer", bearer: imp[:len(imp)-4] + "AAAA", instance: testInstance, user: testAlice, client: "crm", wantStatus: 401, wantError: "unauthorized"},
		{name: "no role", bearer: noRole, instance: testInstance, user: testAlice, client: "crm", wantStatus: 403, wantError: "forbidden"},
		{name: "unknown instance", bearer: imp, instance: "00000000-0000-4000-8000-000000000000", user: testAlice, client: "crm", wantStatus: 404, wantError: "instance_not_found"},
		{name: "unknown user", bearer: imp, instance: testInstance, user: "00000000-0000-4000-8000-000000000000", client: "crm", wantStatus: 404, wantError: "user_not_found"},
		{name: "user not a UUID", bearer: imp, instance: testInstance, user: "alice", client: "crm", wantStatus: 404, wantError: "user_not_found"},
		{name: "unknown client", bearer: imp, instance: testInstance, user: testAlice, client: "nope", wantStatus: 404, wantError: "client_not_found"},
		{name: "missing user", bearer: imp, instance: testInstance, client: "crm", wantStatus: 400, wantError: "invalid_request"},
		{name: "missing client", bearer: imp, instance: testInstance, user: testAlice, wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", mintPath(tt.instance, tt.user, tt.client), nil)
			switch {
			case tt.header != "":
				req.Header.Set("Authorization", tt.header)
			case tt.bearer != "":
				req.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			rec := e.do(req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.wantStatus, errorBody(rec))
			}
			var ae apiError
			decodeJSON(t, rec, &ae)
			if ae.Error != tt.wantError || ae.Message == "" {
				t.Errorf("body = %+v, want error %q with a message", ae, tt.wantError)
			}
			if rec.Code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if n := len(e.s.audit.list()); n != 0 {
		t.Errorf("failed mints wrote %d audit events", n)
	}
}

func TestMintExpiredBearer(t *testing.T) {
	e := newTestEnv(t)
	imp := e.accessToken(testImpID, testImpSecret)
	e.clock.advance(accessTokenTTL)
	if rec := e.mint(imp, testInstance, testAlice, "crm"); rec.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", rec.Code)
	}
}

func TestMintSuccess(t *testing.T) {
	e := newTestEnv(t)
	rec := e.mint(e.accessToken(testImpID, testImpSecret), strings.ToUpper(testInstance), strings.ToUpper(testAlice), "crm")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d, body %s", rec.Code, errorBody(rec))
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q", got)
	}
	// Exactly the fields token and url.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &fields); err != nil {
		t.Fatal(err)
	}
	if len(fields) != 2 || fields["token"] == nil || fields["url"] == nil {
		t.Fatalf("body fields = %s, want exactly token and url", errorBody(rec))
	}
	var mr mintResponse
	decodeJSON(t, rec, &mr)
	if mr.URL != testPublic+"/realms/demo/impersonate" {
		t.Errorf("url = %q", mr.URL)
	}
	b, err := base64.RawURLEncoding.DecodeString(mr.Token)
	if err != nil || len(b) != 32 {
		t.Errorf("token is not 32 bytes base64url: %d bytes, %v", len(b), err)
	}
	if other := e.mintOK(); other.Token == mr.Token {
		t.Error("two mints gave the same token")
	}
}

func TestImpersonationTokenStoredHashed(t *testing.T) {
	e := newTestEnv(t)
	mr := e.mintOK()
	e.s.grants.mu.Lock()
	defer e.s.grants.mu.Unlock()
	for h, g := range e.s.grants.grants {
		if bytes.Contains(h[:], []byte(mr.Token)) || strings.Contains(g.Impersonator+g.UserUUID+g.ClientID, mr.Token) {
			t.Fatal("token stored in clear")
		}
	}
	if _, ok := e.s.grants.grants[hashToken(mr.Token)]; !ok {
		t.Fatal("token not stored under its SHA-256")
	}
}

func TestGrantStorePrunesOldTokens(t *testing.T) {
	gs := newGrantStore()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old := gs.issue(grant{Expires: t0.Add(impersonationTTL)}, t0)
	gs.issue(grant{}, t0.Add(impersonationTTL+usedTokenMemory+time.Second))
	if _, err := gs.redeem(old, t0); err != errTokenUnknown {
		t.Errorf("old token: %v, want it forgotten", err)
	}
}
