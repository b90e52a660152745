package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func TestDiscovery(t *testing.T) {
	e := newTestEnv(t)
	rec := e.do(httptest.NewRequest("GET", "/realms/demo/.well-known/openid-configuration", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	var d discovery
	decodeJSON(t, rec, &d)
	const iss = testPublic + "/realms/demo"
	for name, got := range map[string]string{
		"issuer":                 d.Issuer,
		"token_endpoint":         d.TokenEndpoint,
		"jwks_uri":               d.JWKSURI,
		"authorization_endpoint": d.AuthorizationEndpoint,
		"end_session_endpoint":   d.EndSessionEndpoint,
	} {
		want := map[string]string{
			"issuer":                 iss,
			"token_endpoint":         iss + "/protocol/openid-connect/token",
			"jwks_uri":               iss + "/protocol/openid-connect/certs",
			"authorization_endpoint": iss + "/protocol/openid-connect/auth",
			"end_session_endpoint":   iss + "/protocol/openid-connect/logout",
		}[name]
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !slices.Equal(d.IDTokenSigningAlgValuesSupported, []string{"RS256", "ES256"}) {
		t.Errorf("id_token_signing_alg_values_supported = %v", d.IDTokenSigningAlgValuesSupported)
	}
	if !slices.Equal(d.GrantTypesSupported, []string{"authorization_code", "client_credentials", "refresh_token"}) {
		t.Errorf("grant_types_supported = %v", d.GrantTypesSupported)
	}
	if !slices.Equal(d.ResponseTypesSupported, []string{"code"}) || !slices.Equal(d.CodeChallengeMethodsSupported, []string{"S256"}) {
		t.Errorf("response_types_supported = %v, code_challenge_methods_supported = %v",
			d.ResponseTypesSupported, d.CodeChallengeMethodsSupported)
	}
	if !d.AuthorizationResponseISSSupported {
		t.Error("iss parameter not supported")
	}

	if rec := e.do(httptest.NewRequest("GET", "/realms/other/.well-known/openid-configuration", nil)); rec.Code != http.StatusNotFound {
		t.Errorf("unknown realm: status %d, want 404", rec.Code)
	}
}

func TestCertsVerifyIssuedToken(t *testing.T) {
	e := newTestEnv(t)
	rec := e.do(httptest.NewRequest("GET", "/realms/demo/protocol/openid-connect/certs", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Keys) != 1 {
		t.Fatalf("%d keys, want 1", len(raw.Keys))
	}
	k := raw.Keys[0]
	for field, want := range map[string]string{"kty": "RSA", "alg": "RS256", "use": "sig"} {
		if k[field] != want {
			t.Errorf("key %s = %v, want %s", field, k[field], want)
		}
	}
	if k["kid"] == "" || k["n"] == nil || k["e"] == nil {
		t.Errorf("key lacks kid, n or e: %v", k)
	}
	if _, ok := k["d"]; ok {
		t.Fatal("JWKS leaks the private exponent")
	}

	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(e.accessToken(testImpID, testImpSecret), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Headers[0].KeyID != set.Keys[0].KeyID {
		t.Errorf("token kid %q, JWKS kid %q", tok.Headers[0].KeyID, set.Keys[0].KeyID)
	}
	var c accessClaims
	if err := tok.Claims(set.Keys[0].Key, &c); err != nil {
		t.Fatalf("token does not verify against the JWKS: %v", err)
	}
}

func TestKeyRotationKeepsOldTokensValid(t *testing.T) {
	e := newTestEnv(t)
	old := e.accessToken(testImpID, testImpSecret)
	if err := e.s.keys.rotate(jose.RS256, false); err != nil {
		t.Fatal(err)
	}
	if n := len(e.s.keys.publicJWKS().Keys); n != 2 {
		t.Fatalf("%d keys after rotation, want 2", n)
	}
	if _, err := e.s.verifyAccessToken(old); err != nil {
		t.Errorf("token from before rotation: %v", err)
	}
	if _, err := e.s.verifyAccessToken(e.accessToken(testImpID, testImpSecret)); err != nil {
		t.Errorf("token from after rotation: %v", err)
	}
}

func TestClientCredentials(t *testing.T) {
	basic := func(id, secret string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(id, secret) }
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	with := func(extra url.Values) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}
	tests := []struct {
		name        string
		form        url.Values
		auth        func(*http.Request)
		contentType string
		wantStatus  int
		wantError   string
		wantClient  string
	}{
		{name: "basic", form: cc, auth: basic(testImpID, testImpSecret), wantStatus: 200, wantClient: testImpID},
		{name: "post", form: with(url.Values{"client_id": {testImpID}, "client_secret": {testImpSecret}}), wantStatus: 200, wantClient: testImpID},
		{name: "basic without role", form: cc, auth: basic(testNoRoleID, testNoRoleSec), wantStatus: 200, wantClient: testNoRoleID},
		{name: "basic with matching client_id in body", form: with(url.Values{"client_id": {testImpID}}), auth: basic(testImpID, testImpSecret), wantStatus: 200, wantClient: testImpID},
		{name: "wrong secret basic", form: cc, auth: basic(testImpID, "wrong"), wantStatus: 401, wantError: "invalid_client"},
		{name: "wrong secret post", form: with(url.Values{"client_id": {testImpID}, "client_secret": {"wrong"}}), wantStatus: 401, wantError: "invalid_client"},
		{name: "other client's secret", form: cc, auth: basic(testImpID, testNoRoleSec), wantStatus: 401, wantError: "invalid_client"},
		{name: "unknown client", form: cc, auth: basic("nobody", testImpSecret), wantStatus: 401, wantError: "invalid_client"},
		{name: "empty secret", form: with(url.Values{"client_id": {testImpID}, "client_secret": {""}}), wantStatus: 401, wantError: "invalid_client"},
		{name: "no client authentication", form: cc, wantStatus: 401, wantError: "invalid_client"},
		{name: "bearer instead of basic", form: cc, auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer x") }, wantStatus: 401, wantError: "invalid_client"},
		{name: "mismatched client_id in body", form: with(url.Values{"client_id": {testNoRoleID}}), auth: basic(testImpID, testImpSecret), wantStatus: 401, wantError: "invalid_client"},
		{name: "two authentication methods", form: with(url.Values{"client_id": {testImpID}, "client_secret": {testImpSecret}}), auth: basic(testImpID, testImpSecret), wantStatus: 400, wantError: "invalid_request"},
		{name: "wrong grant", form: url.Values{"grant_type": {"password"}}, auth: basic(testImpID, testImpSecret), wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "implicit", form: url.Values{"grant_type": {"implicit"}}, auth: basic(testImpID, testImpSecret), wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "missing grant", form: url.Values{}, auth: basic(testImpID, testImpSecret), wantStatus: 400, wantError: "invalid_request"},
		{name: "repeated parameter", form: url.Values{"grant_type": {"client_credentials", "client_credentials"}}, auth: basic(testImpID, testImpSecret), wantStatus: 400, wantError: "invalid_request"},
		{name: "JSON body", form: cc, auth: basic(testImpID, testImpSecret), contentType: "application/json", wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			req := formRequest("POST", testTokenPath, tt.form)
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			if tt.auth != nil {
				tt.auth(req)
			}
			rec := e.do(req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.wantStatus, errorBody(rec))
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
			if tt.wantError != "" {
				var oe oauthError
				decodeJSON(t, rec, &oe)
				if oe.Code != tt.wantError {
					t.Errorf("error = %q, want %q", oe.Code, tt.wantError)
				}
				if wa := rec.Header().Get("WWW-Authenticate"); (rec.Code == 401) != (wa != "") {
					t.Errorf("WWW-Authenticate = %q with status %d", wa, rec.Code)
				}
				if strings.Contains(rec.Body.String(), "secret") {
					t.Errorf("error body mentions a secret: %s", errorBody(rec))
				}
				return
			}
			var tr tokenResponse
			decodeJSON(t, rec, &tr)
			if tr.TokenType != "Bearer" || tr.ExpiresIn != 300 || tr.Scope == "" || tr.AccessToken == "" {
				t.Errorf("token response = %+v", tr)
			}
			c, err := e.s.verifyAccessToken(tr.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if c.AuthorizedParty != tt.wantClient {
				t.Errorf("azp = %q, want %q", c.AuthorizedParty, tt.wantClient)
			}
		})
	}
}

func TestAccessTokenClaims(t *testing.T) {
	e := newTestEnv(t)
	raw := e.accessToken(testImpID, testImpSecret)
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"iss": testPublic + "/realms/demo",
		"sub": "1ec72a3f-c9c3-4a13-b04e-beef8897dad4",
		"azp": testImpID,
		"typ": "Bearer",
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("%s = %v, want %v", k, c[k], v)
		}
	}
	if c["exp"].(float64)-c["iat"].(float64) != 300 {
		t.Errorf("exp - iat = %v, want 300", c["exp"].(float64)-c["iat"].(float64))
	}
	if c["jti"] == "" || c["jti"] == nil {
		t.Error("no jti")
	}
	ra, _ := json.Marshal(c["resource_access"])
	if string(ra) != `{"realm-management":{"roles":["impersonation"]}}` {
		t.Errorf("resource_access = %s", ra)
	}
	if tok.Headers[0].Algorithm != "RS256" || tok.Headers[0].KeyID == "" {
		t.Errorf("header = %+v", tok.Headers[0])
	}
}

// RFC 6749 §2.3.1: client_secret_basic form-urlencodes id and secret before
// base64, so a secret with reserved characters must arrive intact.
func TestClientSecretBasicFormEncoding(t *testing.T) {
	seed, err := loadSeed()
	if err != nil {
		t.Fatal(err)
	}
	const secret = "p@ss:w rd+/%&="
	seed.ServiceAccounts = append(seed.ServiceAccounts, ServiceAccount{
		ID: "00000000-0000-4000-8000-000000000001", ClientID: "odd.client", Secret: secret,
	})
	e := newTestEnvWith(t, testPublic, seed)

	req := formRequest("POST", testTokenPath, url.Values{"grant_type": {"client_credentials"}})
	req.SetBasicAuth(url.QueryEscape("odd.client"), url.QueryEscape(secret))
	if rec := e.do(req); rec.Code != http.StatusOK {
		t.Fatalf("encoded secret: status %d, body %s", rec.Code, errorBody(rec))
	}
	// '+' decodes to a space, so the raw secret (with '+' and '%') is wrong.
	req = formRequest("POST", testTokenPath, url.Values{"grant_type": {"client_credentials"}})
	req.SetBasicAuth("odd.client", secret)
	if rec := e.do(req); rec.Code != http.StatusUnauthorized {
		t.Fatalf("unencoded secret: status %d, want 401", rec.Code)
	}
}

func TestVerifyAccessTokenRejects(t *testing.T) {
	e := newTestEnv(t)
	good := e.accessToken(testImpID, testImpSecret)

	otherKey, err := newRSAKey()
	if err != nil {
		t.Fatal(err)
	}
	foreignKeys, _ := newKeySet(otherKey)
	foreign, _ := foreignKeys.sign(e.s.serviceAccountClaims(ServiceAccount{ID: "x", ClientID: testImpID,
		Roles: []string{"realm-management/impersonation"}}, e.clock.now()))

	wrongIss := e.s.serviceAccountClaims(ServiceAccount{ID: "x", ClientID: testImpID}, e.clock.now())
	wrongIss.Issuer = "https://elsewhere.example/realms/demo"
	wrongIssTok, _ := e.s.keys.sign(wrongIss)

	tests := []struct {
		name  string
		token string
		after time.Duration
	}{
		{"garbage", "not-a-jwt", 0},
		{"tampered", good[:len(good)-4] + "AAAA", 0},
		{"foreign key", foreign, 0},
		{"wrong issuer", wrongIssTok, 0},
		{"expired", good, accessTokenTTL + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.advance(tt.after)
			defer e.clock.advance(-tt.after)
			if _, err := e.s.verifyAccessToken(tt.token); err == nil {
				t.Error("accepted")
			}
		})
	}
}
