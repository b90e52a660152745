package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// Seeded sign-in values the tests rely on (see seed.json).
const (
	testExtClient  = "actas-extension"
	testAda        = "277d9440-2424-476b-8fa3-56b1776b89f8"
	testGrace      = "dee16ed7-01c3-454c-a139-6a792701419f"
	testAuthPath   = "/realms/demo/protocol/openid-connect/auth"
	testLoginPath  = "/realms/demo/login-actions/authenticate"
	testLogoutPath = "/realms/demo/protocol/openid-connect/logout"
	testRedirect   = "https://abcdefghijklmnopabcdefghijklmnop.chromiumapp.org/cb"
	testIssuer     = testPublic + "/realms/demo"
)

// newPKCE returns a fresh RFC 7636 verifier and its S256 challenge,
// computed here independently of the emulator.
func newPKCE() (verifier, challenge string) {
	verifier = randomToken() // 43 base64url characters
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authQuery is a valid authorization request for challenge.
func authQuery(challenge string) url.Values {
	return url.Values{
		"response_type":         {"code"},
		"client_id":             {testExtClient},
		"redirect_uri":          {testRedirect},
		"scope":                 {"openid"},
		"state":                 {"st-123"},
		"nonce":                 {"n-456"},
		"code_challenge":        {challenge},
		"code_challenge_method": {"S256"},
	}
}

// authorize sends a GET authorization request with cookies.
func (e *testEnv) authorize(q url.Values, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest("GET", testAuthPath+"?"+q.Encode(), nil)
	for _, c := range cookies {
		withCookie(req, c)
	}
	return e.do(req)
}

// redirectParams checks that rec redirects to testRedirect and returns the
// parameters. It never prints the Location, which may hold a code.
func redirectParams(t *testing.T, rec *httptest.ResponseRecorder) url.Values {
	t.Helper()
	if rec.Code != http.StatusFound {
		t.Fatalf("status %d, want 302", rec.Code)
	}
	u, err := url.Parse(rec.Header().Get("Location"))
	if err != nil {
		t.Fatal("unparsable Location")
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != testRedirect {
		t.Fatalf("redirected to %q, want %q", got, testRedirect)
	}
	return u.Query()
}

func (e *testEnv) setLogin(m LoginMode) {
	e.t.Helper()
	body, _ := json.Marshal(m)
	if rec := e.do(httptest.NewRequest("PUT", "/_control/login", bytes.NewReader(body))); rec.Code != http.StatusOK {
		e.t.Fatalf("put login: status %d, body %s", rec.Code, errorBody(rec))
	}
}

// signInCode runs the authorization request for username with auto-login
// and returns the code, its verifier and the admin session cookie.
func (e *testEnv) signInCode(username string) (code, verifier string, session *http.Cookie) {
	e.t.Helper()
	e.setLogin(LoginMode{AutoLogin: username})
	defer e.setLogin(LoginMode{})
	verifier, challenge := newPKCE()
	rec := e.authorize(authQuery(challenge))
	p := redirectParams(e.t, rec)
	if p.Get("code") == "" {
		e.t.Fatalf("no code; error=%q", p.Get("error"))
	}
	return p.Get("code"), verifier, cookieNamed(rec, adminSessionCookie)
}

// redeem posts an authorization_code grant; extra replaces form fields
// (an empty value removes one).
func (e *testEnv) redeem(code, verifier string, extra url.Values) *httptest.ResponseRecorder {
	e.t.Helper()
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {testExtClient},
		"code":          {code},
		"redirect_uri":  {testRedirect},
		"code_verifier": {verifier},
	}
	for k, v := range extra {
		if v[0] == "" {
			delete(form, k)
		} else {
			form[k] = v
		}
	}
	return e.do(formRequest("POST", testTokenPath, form))
}

// adminTokens signs username in through the code flow and returns the token
// response.
func (e *testEnv) adminTokens(username string) tokenResponse {
	e.t.Helper()
	code, verifier, _ := e.signInCode(username)
	rec := e.redeem(code, verifier, nil)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("redeem: status %d, body %s", rec.Code, errorBody(rec))
	}
	var tr tokenResponse
	decodeJSON(e.t, rec, &tr)
	return tr
}

func (e *testEnv) refresh(token string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(formRequest("POST", testTokenPath, url.Values{
		"grant_type": {"refresh_token"}, "client_id": {testExtClient}, "refresh_token": {token},
	}))
}

func cookieNamed(rec *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range rec.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func wantOAuthError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d; body %s", rec.Code, status, errorBody(rec))
	}
	var oe oauthError
	decodeJSON(t, rec, &oe)
	if oe.Code != code {
		t.Errorf("error = %q (%s), want %q", oe.Code, oe.Description, code)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
}

var formTokenPattern = regexp.MustCompile(`name="form" value="([^"]+)"`)

// loginForm renders the login page for q and returns the form token and the
// CSRF cookie.
func (e *testEnv) loginForm(q url.Values) (string, *http.Cookie) {
	e.t.Helper()
	rec := e.authorize(q)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("login page: status %d", rec.Code)
	}
	m := formTokenPattern.FindStringSubmatch(rec.Body.String())
	c := cookieNamed(rec, loginCookie)
	if m == nil || c == nil {
		e.t.Fatal("login page lacks the form token or the CSRF cookie")
	}
	return m[1], c
}

// jwtPart decodes part i (0 header, 1 claims) of a compact JWS without
// verifying it.
func jwtPart(t *testing.T, raw string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatalf("decode token part %d: %v", i, err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode token part %d: %v", i, err)
	}
	return m
}

// sessionIDs lists the live admin session ids (tests only).
func (st *signInStore) sessionIDs() []string {
	st.mu.Lock()
	defer st.mu.Unlock()
	var ids []string
	for id := range st.sessionByID {
		ids = append(ids, id)
	}
	return ids
}

// errorBody is the body of an error answer, for test failure messages; the
// body of a successful answer may hold tokens and is never printed.
func errorBody(rec *httptest.ResponseRecorder) string {
	if rec.Code < 400 {
		return "(withheld: may hold tokens)"
	}
	return rec.Body.String()
}
