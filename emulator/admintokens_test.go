package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// seedWithSecondClient adds a second public client with the same redirect
// rules, to get codes redeemed by the wrong client.
func seedWithSecondClient(t *testing.T) *Seed {
	t.Helper()
	seed, err := loadSeed()
	if err != nil {
		t.Fatal(err)
	}
	seed.PublicClients = append(seed.PublicClients, PublicClient{
		ClientID: "other-extension", Name: "Other", RedirectURIs: seed.PublicClients[0].RedirectURIs,
	})
	return seed
}

func TestAuthorizationCodeGrantErrors(t *testing.T) {
	tests := []struct {
		name       string
		prepare    func(e *testEnv) // before the redemption
		extra      url.Values
		wantStatus int
		wantError  string
	}{
		{name: "wrong verifier", extra: url.Values{"code_verifier": {randomToken()}}, wantStatus: 400, wantError: "invalid_grant"},
		{name: "verifier is the challenge", extra: url.Values{"code_verifier": {"CHALLENGE"}}, wantStatus: 400, wantError: "invalid_grant"},
		{name: "short verifier", extra: url.Values{"code_verifier": {"abc"}}, wantStatus: 400, wantError: "invalid_grant"},
		{name: "missing verifier", extra: url.Values{"code_verifier": {""}}, wantStatus: 400, wantError: "invalid_request"},
		{name: "other redirect_uri", extra: url.Values{"redirect_uri": {"https://abcdefghijklmnopabcdefghijklmnop.chromiumapp.org/other"}}, wantStatus: 400, wantError: "invalid_grant"},
		{name: "missing redirect_uri", extra: url.Values{"redirect_uri": {""}}, wantStatus: 400, wantError: "invalid_request"},
		{name: "other client", extra: url.Values{"client_id": {"other-extension"}}, wantStatus: 400, wantError: "invalid_grant"},
		{name: "unknown client", extra: url.Values{"client_id": {"nobody"}}, wantStatus: 401, wantError: "invalid_client"},
		{name: "service account as client", extra: url.Values{"client_id": {testImpID}}, wantStatus: 401, wantError: "invalid_client"},
		{name: "public client with a secret", extra: url.Values{"client_secret": {"x"}}, wantStatus: 401, wantError: "invalid_client"},
		{name: "missing client_id", extra: url.Values{"client_id": {""}}, wantStatus: 400, wantError: "invalid_request"},
		{name: "missing code", extra: url.Values{"code": {""}}, wantStatus: 400, wantError: "invalid_request"},
		{name: "made-up code", extra: url.Values{"code": {randomToken()}}, wantStatus: 400, wantError: "invalid_grant"},
		{name: "expired code", prepare: func(e *testEnv) { e.clock.advance(authCodeTTL) }, wantStatus: 400, wantError: "invalid_grant"},
		{name: "code after logout", prepare: func(e *testEnv) { e.s.signin.reset() }, wantStatus: 400, wantError: "invalid_grant"},
		{name: "just in time", prepare: func(e *testEnv) { e.clock.advance(authCodeTTL - time.Second) }, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnvWith(t, testPublic, seedWithSecondClient(t))
			code, verifier, _ := e.signInCode("ada")
			if tt.prepare != nil {
				tt.prepare(e)
			}
			extra := tt.extra
			if extra.Get("code_verifier") == "CHALLENGE" {
				sum := sha256.Sum256([]byte(verifier))
				extra = url.Values{"code_verifier": {base64.RawURLEncoding.EncodeToString(sum[:])}}
			}
			rec := e.redeem(code, verifier, extra)
			if tt.wantStatus == 200 {
				if rec.Code != 200 {
					t.Fatalf("status %d, body %s", rec.Code, errorBody(rec))
				}
				return
			}
			wantOAuthError(t, rec, tt.wantStatus, tt.wantError)
			// Whatever went wrong, the code is spent.
			if tt.wantError == "invalid_grant" && tt.name != "made-up code" {
				wantOAuthError(t, e.redeem(code, verifier, nil), 400, "invalid_grant")
			}
		})
	}
}

func TestAuthorizationCodeReplayRevokesTokens(t *testing.T) {
	e := newTestEnv(t)
	code, verifier, _ := e.signInCode("ada")
	rec := e.redeem(code, verifier, nil)
	if rec.Code != 200 {
		t.Fatalf("first redemption: status %d", rec.Code)
	}
	var tr tokenResponse
	decodeJSON(t, rec, &tr)
	wantOAuthError(t, e.redeem(code, verifier, nil), 400, "invalid_grant")
	wantOAuthError(t, e.refresh(tr.RefreshToken), 400, "invalid_grant")
}

func TestRefreshRotation(t *testing.T) {
	e := newTestEnv(t)
	first := e.adminTokens("ada")

	rec := e.refresh(first.RefreshToken)
	if rec.Code != 200 {
		t.Fatalf("refresh: status %d, body %s", rec.Code, errorBody(rec))
	}
	var second tokenResponse
	decodeJSON(t, rec, &second)
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken ||
		second.IDToken == "" || second.RefreshExpiresIn != 1800 {
		t.Fatal("refresh did not rotate: same or missing tokens")
	}
	if c := jwtPart(t, second.IDToken, 1); c["nonce"] != "n-456" {
		t.Errorf("refreshed id token nonce = %v, want the original", c["nonce"])
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Error("refresh answer may be cached")
	}

	// Reusing the first token is refused and revokes the family.
	wantOAuthError(t, e.refresh(first.RefreshToken), 400, "invalid_grant")
	wantOAuthError(t, e.refresh(second.RefreshToken), 400, "invalid_grant")

	// Another sign-in is a new family, untouched.
	third := e.adminTokens("ada")
	if rec := e.refresh(third.RefreshToken); rec.Code != 200 {
		t.Errorf("new family: status %d", rec.Code)
	}
}

func TestRefreshErrors(t *testing.T) {
	tests := []struct {
		name      string
		do        func(e *testEnv, rt string) *httptest.ResponseRecorder
		wantCode  int
		wantError string
		stillGood bool // the token may still be used afterwards
	}{
		{"expired", func(e *testEnv, rt string) *httptest.ResponseRecorder {
			e.clock.advance(refreshTokenTTL)
			return e.refresh(rt)
		}, 400, "invalid_grant", false},
		{"other client", func(e *testEnv, rt string) *httptest.ResponseRecorder {
			return e.do(formRequest("POST", testTokenPath, url.Values{
				"grant_type": {"refresh_token"}, "client_id": {"other-extension"}, "refresh_token": {rt}}))
		}, 400, "invalid_grant", true},
		{"made-up token", func(e *testEnv, _ string) *httptest.ResponseRecorder {
			return e.refresh(randomToken())
		}, 400, "invalid_grant", true},
		{"missing token", func(e *testEnv, _ string) *httptest.ResponseRecorder {
			return e.do(formRequest("POST", testTokenPath, url.Values{"grant_type": {"refresh_token"}, "client_id": {testExtClient}}))
		}, 400, "invalid_request", true},
		{"wider scope", func(e *testEnv, rt string) *httptest.ResponseRecorder {
			return e.do(formRequest("POST", testTokenPath, url.Values{
				"grant_type": {"refresh_token"}, "client_id": {testExtClient}, "refresh_token": {rt}, "scope": {"openid offline_access"}}))
		}, 400, "invalid_scope", false},
		{"session ended by logout", func(e *testEnv, rt string) *httptest.ResponseRecorder {
			e.s.signin.endSession("", e.s.signin.sessionIDs()[0])
			return e.refresh(rt)
		}, 400, "invalid_grant", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnvWith(t, testPublic, seedWithSecondClient(t))
			tr := e.adminTokens("ada")
			wantOAuthError(t, tt.do(e, tr.RefreshToken), tt.wantCode, tt.wantError)
			if tt.stillGood {
				if rec := e.refresh(tr.RefreshToken); rec.Code != 200 {
					t.Errorf("token unusable after a refused request: status %d", rec.Code)
				}
			}
		})
	}
}

// TestAdminAccessTokenClaims pins the claim layout the Worker relies on:
// roles at resource_access.<client>.roles and realm_access.roles.
func TestAdminAccessTokenClaims(t *testing.T) {
	tests := []struct {
		username   string
		sub        string
		clientRole []string // nil: no resource_access entry for the client
	}{
		{"ada", testAda, []string{"actas-impersonator"}},
		{"grace", testGrace, []string{"actas-auditor"}},
		{"nora", "7b701d10-650f-44cc-8047-31ddf8787f54", nil},
	}
	for _, tt := range tests {
		t.Run(tt.username, func(t *testing.T) {
			e := newTestEnv(t)
			tr := e.adminTokens(tt.username)

			// Verify against the published JWKS, as the Worker will.
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(e.do(httptest.NewRequest("GET", "/realms/demo/protocol/openid-connect/certs", nil)).Body.Bytes(), &set); err != nil {
				t.Fatal(err)
			}
			tok, err := jwt.ParseSigned(tr.AccessToken, []jose.SignatureAlgorithm{jose.RS256})
			if err != nil {
				t.Fatal(err)
			}
			if keys := set.Key(tok.Headers[0].KeyID); len(keys) != 1 {
				t.Fatalf("kid not in the JWKS")
			} else {
				var c jwt.Claims
				if err := tok.Claims(keys[0].Key, &c); err != nil {
					t.Fatalf("does not verify: %v", err)
				}
				if err := c.ValidateWithLeeway(jwt.Expected{Issuer: testIssuer, AnyAudience: jwt.Audience{testExtClient}, Time: e.clock.now()}, 0); err != nil {
					t.Errorf("standard claims: %v", err)
				}
			}

			c := jwtPart(t, tr.AccessToken, 1)
			wantKeys := []string{"exp", "iat", "auth_time", "jti", "iss", "aud", "sub", "typ", "azp", "session_state", "acr",
				"realm_access", "resource_access", "scope", "sid", "email_verified", "name", "preferred_username",
				"given_name", "family_name", "email"}
			if got := slices.Sorted(maps.Keys(c)); !slices.Equal(got, slices.Sorted(slices.Values(wantKeys))) {
				t.Errorf("claims = %v\nwant %v", got, slices.Sorted(slices.Values(wantKeys)))
			}
			for k, want := range map[string]any{
				"iss": testIssuer, "sub": tt.sub, "azp": testExtClient, "typ": "Bearer",
				"preferred_username": tt.username, "email": tt.username + "@example.com", "scope": "openid profile email",
			} {
				if c[k] != want {
					t.Errorf("%s = %v, want %v", k, c[k], want)
				}
			}
			if c["sid"] != c["session_state"] || c["sid"] == "" {
				t.Errorf("sid %v, session_state %v", c["sid"], c["session_state"])
			}
			if c["exp"].(float64)-c["iat"].(float64) != 300 {
				t.Error("exp - iat != 300")
			}
			aud, _ := json.Marshal(c["aud"])
			if string(aud) != `["actas-extension","account"]` {
				t.Errorf("aud = %s", aud)
			}
			realm, _ := json.Marshal(c["realm_access"])
			wantRealm, _ := json.Marshal(map[string]any{"roles": append(slices.Clone(tt.clientRole),
				"default-roles-demo", "offline_access", "uma_authorization")})
			if string(realm) != string(wantRealm) {
				t.Errorf("realm_access = %s, want %s", realm, wantRealm)
			}
			resource := map[string]any{"account": map[string]any{"roles": []any{"manage-account", "manage-account-links", "view-profile"}}}
			if tt.clientRole != nil {
				resource[testExtClient] = map[string]any{"roles": []any{tt.clientRole[0]}}
			}
			got, _ := json.Marshal(c["resource_access"])
			want, _ := json.Marshal(resource)
			if string(got) != string(want) {
				t.Errorf("resource_access = %s, want %s", got, want)
			}
			h := jwtPart(t, tr.AccessToken, 0)
			if h["alg"] != "RS256" || h["kid"] != e.s.keys.current().kid || h["typ"] != "JWT" {
				t.Errorf("header = %v", h)
			}

			// The ID token names the same person and binds the access token.
			id := jwtPart(t, tr.IDToken, 1)
			sum := sha256.Sum256([]byte(tr.AccessToken))
			if id["at_hash"] != base64.RawURLEncoding.EncodeToString(sum[:16]) || id["sub"] != tt.sub ||
				id["azp"] != testExtClient || id["sid"] != c["sid"] {
				t.Errorf("id token: at_hash ok %v, sub %v, azp %v", id["at_hash"] == base64.RawURLEncoding.EncodeToString(sum[:16]), id["sub"], id["azp"])
			}

			// An admin token is no service-account token: the mint API refuses it.
			if rec := e.mint(tr.AccessToken, testInstance, testAlice, "crm"); rec.Code != http.StatusForbidden {
				t.Errorf("mint with an admin token: status %d, want 403", rec.Code)
			}
		})
	}
}

func TestLogoutAdminSession(t *testing.T) {
	logout := func(e *testEnv, q url.Values, c *http.Cookie) *httptest.ResponseRecorder {
		return e.do(withCookie(httptest.NewRequest("GET", testLogoutPath+"?"+q.Encode(), nil), c))
	}
	otherKey, err := newRSAKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		query      func(tr tokenResponse) url.Values
		useCookie  bool
		wantStatus int
		wantLoc    string
		wantEnded  bool
	}{
		{"cookie only", func(tokenResponse) url.Values { return url.Values{} }, true, 200, "", true},
		{"id_token_hint without cookie", func(tr tokenResponse) url.Values {
			return url.Values{"id_token_hint": {tr.IDToken}}
		}, false, 200, "", true},
		{"hint and registered redirect", func(tr tokenResponse) url.Values {
			return url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {testRedirect}, "state": {"bye"}}
		}, false, 302, testRedirect + "?state=bye", true},
		{"client_id and registered redirect", func(tokenResponse) url.Values {
			return url.Values{"client_id": {testExtClient}, "post_logout_redirect_uri": {"http://127.0.0.1:9999/out"}}
		}, true, 302, "http://127.0.0.1:9999/out", true},
		{"hint and foreign redirect", func(tr tokenResponse) url.Values {
			return url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {"https://x.chromiumapp.org.evil.example/"}}
		}, true, 400, "", false},
		{"extension redirect without a client", func(tokenResponse) url.Values {
			return url.Values{"post_logout_redirect_uri": {testRedirect}}
		}, true, 400, "", false},
		{"client_id differs from hint", func(tr tokenResponse) url.Values {
			return url.Values{"id_token_hint": {tr.IDToken}, "client_id": {"crm"}}
		}, true, 400, "", false},
		{"access token as hint", func(tr tokenResponse) url.Values {
			return url.Values{"id_token_hint": {tr.AccessToken}}
		}, true, 400, "", false},
		{"hint signed elsewhere", func(tr tokenResponse) url.Values {
			ks, _ := newKeySet(otherKey)
			var c idTokenClaims
			_ = json.Unmarshal(mustJSON(jwtPart(t, tr.IDToken, 1)), &c)
			forged, _ := ks.sign(c)
			return url.Values{"id_token_hint": {forged}}
		}, true, 400, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			code, verifier, cookie := e.signInCode("ada")
			rec := e.redeem(code, verifier, nil)
			var tr tokenResponse
			decodeJSON(t, rec, &tr)
			if !tt.useCookie {
				cookie = nil
			}
			rec = logout(e, tt.query(tr), cookie)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if loc := rec.Header().Get("Location"); loc != tt.wantLoc {
				t.Errorf("Location = %q, want %q", loc, tt.wantLoc)
			}
			refreshed := e.refresh(tr.RefreshToken).Code == 200
			if refreshed == tt.wantEnded {
				t.Errorf("refresh after logout works: %v, want session ended %v", refreshed, tt.wantEnded)
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
