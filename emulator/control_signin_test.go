package main

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

func (e *testEnv) control(method, path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(httptest.NewRequest(method, path, strings.NewReader(body)))
}

func (e *testEnv) jwks() jose.JSONWebKeySet {
	e.t.Helper()
	var set jose.JSONWebKeySet
	rec := e.do(httptest.NewRequest("GET", "/realms/demo/protocol/openid-connect/certs", nil))
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		e.t.Fatal(err)
	}
	return set
}

// verifies reports whether raw verifies against the published JWKS.
func (e *testEnv) verifies(raw string) bool {
	e.t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	if err != nil {
		return false
	}
	set := e.jwks()
	keys := set.Key(tok.Headers[0].KeyID)
	if len(keys) != 1 {
		return false
	}
	var c map[string]any
	return tok.Claims(keys[0].Key, &c) == nil
}

func TestControlSignInRefusesRemote(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct{ method, path, body string }{
		{"POST", "/_control/sign", `{"claims":{"sub":"x"}}`},
		{"POST", "/_control/tokens", `{"username":"ada"}`},
		{"POST", "/_control/rotate-keys", ``},
		{"PUT", "/_control/login", `{"autoLogin":"ada"}`},
		{"GET", "/_control/login", ``},
	} {
		req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
		req.RemoteAddr = "203.0.113.9:5555"
		req.Header.Set("X-Forwarded-For", "127.0.0.1")
		rec := e.do(req)
		if rec.Code != http.StatusForbidden || strings.Contains(rec.Body.String(), "eyJ") {
			t.Errorf("%s %s from afar: status %d", tc.method, tc.path, rec.Code)
		}
	}
	if e.s.login.get() != (LoginMode{}) || len(e.s.keys.kids()) != 1 {
		t.Error("a refused request changed state")
	}
}

func TestRotateKeys(t *testing.T) {
	e := newTestEnv(t)
	before := e.s.keys.current().kid
	old := e.accessToken(testImpID, testImpSecret)

	rec := e.control("POST", "/_control/rotate-keys", "")
	var rr rotateResponse
	decodeJSON(t, rec, &rr)
	if rr.KID == before || !slices.Equal(rr.KIDs, []string{rr.KID, before}) {
		t.Fatalf("rotate: kid %q, kids %v", rr.KID, rr.KIDs)
	}
	if got := e.jwks(); len(got.Keys) != 2 || got.Keys[0].KeyID != rr.KID {
		t.Fatalf("JWKS after rotation: %d keys", len(got.Keys))
	}
	fresh := e.accessToken(testImpID, testImpSecret)
	if jwtPart(t, fresh, 0)["kid"] != rr.KID || !e.verifies(old) || !e.verifies(fresh) {
		t.Fatal("after rotation: new tokens must use the new kid, old tokens still verify")
	}

	decodeJSON(t, e.control("POST", "/_control/rotate-keys", `{"dropOld":true}`), &rr)
	if len(rr.KIDs) != 1 || len(e.jwks().Keys) != 1 {
		t.Fatalf("dropOld kept %v", rr.KIDs)
	}
	if e.verifies(old) || e.verifies(fresh) {
		t.Error("tokens of dropped keys still verify")
	}
	if rec := e.mint(fresh, testInstance, testAlice, "crm"); rec.Code != http.StatusUnauthorized {
		t.Errorf("mint with a dropped key's token: status %d, want 401", rec.Code)
	}

	decodeJSON(t, e.control("POST", "/_control/rotate-keys", `{"alg":"ES256","dropOld":true}`), &rr)
	set := e.jwks()
	if _, ok := set.Keys[0].Key.(*ecdsa.PublicKey); !ok || set.Keys[0].Algorithm != "ES256" {
		t.Fatalf("ES256 rotation: key %T alg %s", set.Keys[0].Key, set.Keys[0].Algorithm)
	}
	tr := e.adminTokens("ada")
	if jwtPart(t, tr.AccessToken, 0)["alg"] != "ES256" || !e.verifies(tr.AccessToken) {
		t.Error("admin token after ES256 rotation does not verify as ES256")
	}

	for _, body := range []string{`{"alg":"HS256"}`, `{"dropold":true}`, `[]`, `{"dropOld":"yes"}`} {
		if rec := e.control("POST", "/_control/rotate-keys", body); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", body, rec.Code)
		}
	}
}

func withBearer(r *http.Request, token string) *http.Request {
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func TestControlSign(t *testing.T) {
	e := newTestEnv(t)
	sign := func(body string) (string, int) {
		rec := e.control("POST", "/_control/sign", body)
		if rec.Code != 200 {
			return "", rec.Code
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Error("sign answer may be cached")
		}
		var jr jwtResponse
		decodeJSON(t, rec, &jr)
		return jr.JWT, rec.Code
	}

	t.Run("claims as given", func(t *testing.T) {
		tok, _ := sign(`{"claims":{"iss":"https://elsewhere.example/realms/demo","aud":"someone-else","exp":1,"custom":{"a":[1]}}}`)
		if !e.verifies(tok) {
			t.Fatal("does not verify against the JWKS")
		}
		c := jwtPart(t, tok, 1)
		if c["iss"] != "https://elsewhere.example/realms/demo" || c["aud"] != "someone-else" || c["exp"] != 1.0 || len(c) != 4 {
			t.Errorf("claims = %v", c)
		}
		if h := jwtPart(t, tok, 0); h["alg"] != "RS256" || h["kid"] != e.s.keys.current().kid || h["typ"] != "JWT" {
			t.Errorf("header = %v", h)
		}
	})
	t.Run("admin claims with overrides", func(t *testing.T) {
		tok, _ := sign(`{"username":"ada","claims":{"aud":"wrong","nbf":4102444800,"resource_access":null}}`)
		c := jwtPart(t, tok, 1)
		if c["sub"] != testAda || c["aud"] != "wrong" || c["nbf"] != 4102444800.0 || c["iss"] != testIssuer {
			t.Errorf("claims: sub %v aud %v nbf %v iss %v", c["sub"], c["aud"], c["nbf"], c["iss"])
		}
		if _, ok := c["resource_access"]; ok {
			t.Error("null did not remove resource_access")
		}
		if !e.verifies(tok) {
			t.Error("does not verify")
		}
	})
	t.Run("unknown kid", func(t *testing.T) {
		tok, _ := sign(`{"username":"ada","header":{"kid":"not-a-key"}}`)
		if jwtPart(t, tok, 0)["kid"] != "not-a-key" || e.verifies(tok) {
			t.Error("kid override not applied")
		}
		tok, _ = sign(`{"username":"ada","header":{"kid":null}}`)
		if _, ok := jwtPart(t, tok, 0)["kid"]; ok {
			t.Error("kid not removed")
		}
	})
	t.Run("other algorithms", func(t *testing.T) {
		pub := e.s.keys.current().priv.Public().(*rsa.PublicKey)
		tok, _ := sign(`{"username":"ada","header":{"alg":"PS256"}}`)
		if parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.PS256}); err != nil {
			t.Error(err)
		} else if err := parsed.Claims(pub, &map[string]any{}); err != nil {
			t.Errorf("PS256 does not verify with the current key: %v", err)
		}
		if e.verifies(tok) {
			t.Error("a PS256 token verified as the realm's")
		}

		tok, _ = sign(`{"username":"ada","header":{"alg":"none"}}`)
		if !strings.HasSuffix(tok, ".") || jwtPart(t, tok, 0)["alg"] != "none" {
			t.Error("alg none: want an empty signature")
		}

		tok, _ = sign(`{"username":"ada","header":{"alg":"HS256"}}`)
		der, _ := x509.MarshalPKIXPublicKey(pub)
		mac := hmac.New(sha256.New, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		parts := strings.Split(tok, ".")
		mac.Write([]byte(parts[0] + "." + parts[1]))
		if base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) != parts[2] {
			t.Error("HS256 is not keyed with the public key PEM")
		}
	})
	t.Run("refused", func(t *testing.T) {
		for _, body := range []string{
			`{}`,
			`{"claims":[]}`,
			`{"username":"mallory"}`,
			`{"username":"ada","clientId":"crm"}`,
			`{"claims":{"a":1},"header":{"alg":"ES256"}}`, // the current key is RSA
			`{"claims":{"a":1},"header":{"alg":"XS1"}}`,
			`{"claim":{"a":1}}`,
			`{"claims":{"a":1}} trailing`,
		} {
			if _, code := sign(body); code != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400", body, code)
			}
		}
	})
}

func TestControlTokens(t *testing.T) {
	e := newTestEnv(t)
	rec := e.control("POST", "/_control/tokens", `{"username":"grace"}`)
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, Cache-Control %q", rec.Code, rec.Header().Get("Cache-Control"))
	}
	var tr tokenResponse
	decodeJSON(t, rec, &tr)
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 300 || tr.RefreshExpiresIn != 1800 || tr.IDToken == "" || tr.RefreshToken == "" {
		t.Fatal("token response incomplete")
	}
	c := jwtPart(t, tr.AccessToken, 1)
	ra, _ := json.Marshal(c["resource_access"].(map[string]any)[testExtClient])
	if c["sub"] != testGrace || string(ra) != `{"roles":["actas-auditor"]}` || !e.verifies(tr.AccessToken) {
		t.Errorf("sub %v, client roles %s", c["sub"], ra)
	}
	if rec := e.refresh(tr.RefreshToken); rec.Code != 200 {
		t.Errorf("refresh of a control-API token: status %d", rec.Code)
	}
	for _, body := range []string{`{"username":"mallory"}`, `{}`, `{"user":"ada"}`, `{"username":"ada","clientId":"wiki"}`} {
		if rec := e.control("POST", "/_control/tokens", body); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", body, rec.Code)
		}
	}
	if e.stats().TokenRequests != 1 {
		t.Errorf("tokenRequests = %d, want 1 (the refresh only)", e.stats().TokenRequests)
	}
}

func TestControlLogin(t *testing.T) {
	e := newTestEnv(t)
	var m LoginMode
	decodeJSON(t, e.control("PUT", "/_control/login", `{"autoLogin":"ada"}`), &m)
	if m != (LoginMode{AutoLogin: "ada"}) {
		t.Errorf("answer = %+v", m)
	}
	decodeJSON(t, e.control("GET", "/_control/login", ""), &m)
	if m != (LoginMode{AutoLogin: "ada"}) {
		t.Errorf("GET = %+v", m)
	}
	for _, body := range []string{`{"autoLogin":"mallory"}`, `{"autologin":"ada"}`, `{"nonInteractive":"yes"}`, ``} {
		if rec := e.control("PUT", "/_control/login", body); rec.Code != http.StatusBadRequest {
			t.Errorf("%q: status %d, want 400", body, rec.Code)
		}
	}
	if e.s.login.get() != (LoginMode{AutoLogin: "ada"}) {
		t.Error("a refused PUT changed the mode")
	}
	e.control("POST", "/_control/reset", "")
	if e.s.login.get() != (LoginMode{}) {
		t.Error("reset did not restore the configured (default) mode")
	}
}

func TestJWKSRequestsCounter(t *testing.T) {
	e := newTestEnv(t)
	for range 3 {
		e.jwks()
	}
	e.do(httptest.NewRequest("GET", "/realms/demo/.well-known/openid-configuration", nil))
	if st := e.stats(); st.JWKSRequests != 3 || st.AuthorizeRequests != 0 {
		t.Errorf("stats = %+v, want jwksRequests 3", st)
	}
	e.control("POST", "/_control/reset", "")
	if st := e.stats(); st.JWKSRequests != 0 {
		t.Errorf("after reset: %+v", st)
	}
}
