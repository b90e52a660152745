package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestCodeFlowInteractive walks the whole sign-in as a browser would: the
// login page, the admin's choice, the redirect with a code, the token
// request with the PKCE verifier.
func TestCodeFlowInteractive(t *testing.T) {
	e := newTestEnv(t)
	verifier, challenge := newPKCE()
	rec := e.authorize(authQuery(challenge))
	if rec.Code != http.StatusOK {
		t.Fatalf("login page: status %d", rec.Code)
	}
	page := rec.Body.String()
	for _, want := range []string{"Ada Support", "actas-impersonator", "Grace Auditor", "actas-auditor", "Nora Noroles",
		`value="ada"`, "https://abcdefghijklmnopabcdefghijklmnop.chromiumapp.org"} {
		if !strings.Contains(page, want) {
			t.Errorf("login page lacks %q", want)
		}
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action 'self' https://abcdefghijklmnopabcdefghijklmnop.chromiumapp.org;") {
		t.Errorf("CSP = %q, want form-action allowing the redirect origin", csp)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Error("login page may be cached")
	}
	// Under no-referrer, browsers post the form with "Origin: null", which the
	// login action refuses as cross-site.
	if rp := rec.Header().Get("Referrer-Policy"); rp != "same-origin" {
		t.Errorf("login page Referrer-Policy = %q, want same-origin", rp)
	}

	formToken, csrf := e.loginForm(authQuery(challenge))
	post := formRequest("POST", testLoginPath, url.Values{"form": {formToken}, "username": {"ada"}})
	post.Header.Set("Origin", testPublic)
	rec = e.do(withCookie(post, csrf))
	p := redirectParams(t, rec)
	if p.Get("state") != "st-123" || p.Get("iss") != testIssuer || p.Get("code") == "" || p.Get("session_state") == "" {
		t.Fatalf("redirect parameters: state=%q iss=%q code present=%v session_state present=%v",
			p.Get("state"), p.Get("iss"), p.Get("code") != "", p.Get("session_state") != "")
	}
	session := cookieNamed(rec, adminSessionCookie)
	if session == nil || !session.HttpOnly || session.Path != "/realms/demo/" || session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("admin session cookie = %+v", session != nil)
	}

	rec = e.redeem(p.Get("code"), verifier, nil)
	if rec.Code != http.StatusOK {
		t.Fatalf("token: status %d, body %s", rec.Code, errorBody(rec))
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Error("token response may be cached")
	}
	var tr tokenResponse
	decodeJSON(t, rec, &tr)
	if tr.TokenType != "Bearer" || tr.ExpiresIn != 300 || tr.RefreshExpiresIn != 1800 || tr.Scope != "openid profile email" ||
		tr.AccessToken == "" || tr.RefreshToken == "" || tr.IDToken == "" {
		t.Errorf("token response: type %q, expires_in %d, refresh_expires_in %d, scope %q, tokens present %v/%v/%v",
			tr.TokenType, tr.ExpiresIn, tr.RefreshExpiresIn, tr.Scope, tr.AccessToken != "", tr.RefreshToken != "", tr.IDToken != "")
	}
	if c := jwtPart(t, tr.AccessToken, 1); c["sub"] != testAda || c["sid"] != p.Get("session_state") {
		t.Errorf("access token sub = %v, sid matches session_state: %v", c["sub"], c["sid"] == p.Get("session_state"))
	}
	if c := jwtPart(t, tr.IDToken, 1); c["nonce"] != "n-456" || c["aud"] != testExtClient || c["typ"] != "ID" {
		t.Errorf("id token nonce %v, aud %v, typ %v", c["nonce"], c["aud"], c["typ"])
	}
}

func TestAuthorizeErrorPages(t *testing.T) {
	_, challenge := newPKCE()
	with := func(k, v string) url.Values {
		q := authQuery(challenge)
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	repeated := authQuery(challenge)
	repeated.Add("redirect_uri", "https://evil.example/")
	tests := []struct {
		name string
		q    url.Values
	}{
		{"unknown client", with("client_id", "nobody")},
		{"target app is no public client", with("client_id", "crm")},
		{"service account is no public client", with("client_id", testImpID)},
		{"missing client", with("client_id", "")},
		{"missing redirect_uri", with("redirect_uri", "")},
		{"unregistered redirect_uri", with("redirect_uri", "https://evil.example/cb")},
		{"look-alike path", with("redirect_uri", "https://evil.example/chromiumapp.org/")},
		{"look-alike suffix", with("redirect_uri", "https://x.chromiumapp.org.evil.example/")},
		{"userinfo trick", with("redirect_uri", "https://x.chromiumapp.org@evil.example/")},
		{"repeated redirect_uri", repeated},
		// errors that would otherwise redirect still do not, when the redirect is bad
		{"bad redirect and no PKCE", func() url.Values {
			q := with("redirect_uri", "https://evil.example/")
			q.Del("code_challenge")
			return q
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			rec := e.authorize(tt.q)
			if rec.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", rec.Code)
			}
			if loc := rec.Header().Get("Location"); loc != "" {
				t.Fatalf("redirected to %q", loc)
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type = %q, want an HTML page", rec.Header().Get("Content-Type"))
			}
			if strings.Contains(rec.Body.String(), "evil.example") {
				t.Error("error page echoes the redirect URI")
			}
		})
	}
}

func TestAuthorizeErrorRedirects(t *testing.T) {
	_, challenge := newPKCE()
	with := func(k, v string) url.Values {
		q := authQuery(challenge)
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
		return q
	}
	repeatedNonce := authQuery(challenge)
	repeatedNonce.Add("nonce", "again")
	tests := []struct {
		name      string
		q         url.Values
		wantError string
	}{
		{"missing code_challenge", with("code_challenge", ""), "invalid_request"},
		{"missing code_challenge_method", with("code_challenge_method", ""), "invalid_request"},
		{"plain method", with("code_challenge_method", "plain"), "invalid_request"},
		{"unknown method", with("code_challenge_method", "S512"), "invalid_request"},
		{"malformed challenge", with("code_challenge", "short"), "invalid_request"},
		{"missing response_type", with("response_type", ""), "invalid_request"},
		{"implicit", with("response_type", "token"), "unsupported_response_type"},
		{"hybrid", with("response_type", "code id_token"), "unsupported_response_type"},
		{"no openid scope", with("scope", "profile"), "invalid_scope"},
		{"missing scope", with("scope", ""), "invalid_scope"},
		{"unknown scope", with("scope", "openid admin"), "invalid_scope"},
		{"fragment response mode", with("response_mode", "fragment"), "invalid_request"},
		{"prompt none without session", with("prompt", "none"), "login_required"},
		{"prompt none with login", with("prompt", "none login"), "invalid_request"},
		{"unknown prompt", with("prompt", "bogus"), "invalid_request"},
		{"request object", with("request", "eyJ"), "request_not_supported"},
		{"repeated nonce", repeatedNonce, "invalid_request"},
		{"long state", with("state", strings.Repeat("s", maxAuthParamBytes+1)), "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			p := redirectParams(t, e.authorize(tt.q))
			if p.Get("error") != tt.wantError {
				t.Errorf("error = %q (%s), want %q", p.Get("error"), p.Get("error_description"), tt.wantError)
			}
			if p.Get("iss") != testIssuer {
				t.Errorf("iss = %q", p.Get("iss"))
			}
			if p.Has("code") {
				t.Error("error redirect carries a code")
			}
			if tt.q.Get("state") == "st-123" && p.Get("state") != "st-123" {
				t.Errorf("state = %q, want it echoed", p.Get("state"))
			}
		})
	}
}

func TestLoginFormCSRF(t *testing.T) {
	_, challenge := newPKCE()
	post := func(e *testEnv, form url.Values, cookie *http.Cookie, origin string) *httptest.ResponseRecorder {
		req := formRequest("POST", testLoginPath, form)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		return e.do(withCookie(req, cookie))
	}
	tests := []struct {
		name string
		// attack gets a real form token and cookie and returns the response
		// to the forged or broken post.
		attack func(e *testEnv, token string, cookie *http.Cookie) *httptest.ResponseRecorder
	}{
		{"no form token", func(e *testEnv, _ string, c *http.Cookie) *httptest.ResponseRecorder {
			return post(e, url.Values{"username": {"ada"}}, c, "")
		}},
		{"made-up form token", func(e *testEnv, _ string, c *http.Cookie) *httptest.ResponseRecorder {
			return post(e, url.Values{"form": {randomToken()}, "username": {"ada"}}, c, "")
		}},
		{"no cookie (cross-site post)", func(e *testEnv, tok string, _ *http.Cookie) *httptest.ResponseRecorder {
			return post(e, url.Values{"form": {tok}, "username": {"ada"}}, nil, "")
		}},
		{"another browser's cookie", func(e *testEnv, tok string, _ *http.Cookie) *httptest.ResponseRecorder {
			_, other := e.loginForm(authQuery(challenge))
			return post(e, url.Values{"form": {tok}, "username": {"ada"}}, other, "")
		}},
		{"cross-site origin", func(e *testEnv, tok string, c *http.Cookie) *httptest.ResponseRecorder {
			return post(e, url.Values{"form": {tok}, "username": {"ada"}}, c, "https://evil.example")
		}},
		{"form used twice", func(e *testEnv, tok string, c *http.Cookie) *httptest.ResponseRecorder {
			if rec := post(e, url.Values{"form": {tok}, "username": {"ada"}}, c, ""); rec.Code != http.StatusFound {
				t.Fatalf("first post: status %d", rec.Code)
			}
			return post(e, url.Values{"form": {tok}, "username": {"ada"}}, c, "")
		}},
		{"expired form", func(e *testEnv, tok string, c *http.Cookie) *httptest.ResponseRecorder {
			e.clock.advance(loginFormTTL + time.Second)
			return post(e, url.Values{"form": {tok}, "username": {"ada"}}, c, "")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			tok, cookie := e.loginForm(authQuery(challenge))
			rec := tt.attack(e, tok, cookie)
			if rec.Code != http.StatusForbidden {
				t.Fatalf("status %d, want 403", rec.Code)
			}
			if rec.Header().Get("Location") != "" || cookieNamed(rec, adminSessionCookie) != nil {
				t.Error("refused post redirected or signed in")
			}
		})
	}

	t.Run("a refused post does not spend the form", func(t *testing.T) {
		e := newTestEnv(t)
		tok, cookie := e.loginForm(authQuery(challenge))
		_, other := e.loginForm(authQuery(challenge))
		if rec := post(e, url.Values{"form": {tok}, "username": {"ada"}}, other, ""); rec.Code != http.StatusForbidden {
			t.Fatalf("forged post: status %d", rec.Code)
		}
		if p := redirectParams(t, post(e, url.Values{"form": {tok}, "username": {"ada"}}, cookie, testPublic)); p.Get("code") == "" {
			t.Error("the real admin's post got no code")
		}
	})
	t.Run("unknown admin", func(t *testing.T) {
		e := newTestEnv(t)
		tok, cookie := e.loginForm(authQuery(challenge))
		if rec := post(e, url.Values{"form": {tok}, "username": {"root-admin"}}, cookie, ""); rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", rec.Code)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		e := newTestEnv(t)
		tok, cookie := e.loginForm(authQuery(challenge))
		p := redirectParams(t, post(e, url.Values{"form": {tok}, "cancel": {"1"}}, cookie, ""))
		if p.Get("error") != "access_denied" || p.Get("state") != "st-123" {
			t.Errorf("error = %q, state = %q", p.Get("error"), p.Get("state"))
		}
	})
}

func TestAutoLogin(t *testing.T) {
	_, challenge := newPKCE()
	hinted := func(user string) url.Values {
		q := authQuery(challenge)
		q.Set("login_hint", user)
		return q
	}
	tests := []struct {
		name      string
		mode      LoginMode
		q         url.Values
		wantAdmin string // sub of the signed-in admin, or "" for the login page
	}{
		{"autoLogin", LoginMode{AutoLogin: "ada"}, authQuery(challenge), testAda},
		{"autoLogin beats the hint", LoginMode{AutoLogin: "ada"}, hinted("grace"), testAda},
		{"autoLogin with prompt=none", LoginMode{AutoLogin: "ada"}, func() url.Values {
			q := authQuery(challenge)
			q.Set("prompt", "none")
			return q
		}(), testAda},
		{"interactive marks the hinted admin", LoginMode{}, hinted("grace"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.setLogin(tt.mode)
			rec := e.authorize(tt.q)
			if tt.wantAdmin == "" {
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `class="hinted"`) {
					t.Fatalf("status %d, want the login page with the hinted admin marked", rec.Code)
				}
				return
			}
			p := redirectParams(t, rec)
			if p.Get("error") != "" {
				t.Fatalf("error = %q (%s)", p.Get("error"), p.Get("error_description"))
			}
			sess, ok := e.s.signin.session(cookieNamed(rec, adminSessionCookie).Value, e.clock.now())
			if !ok || sess.AdminUUID != tt.wantAdmin {
				t.Errorf("signed in as %q, want %q", sess.AdminUUID, tt.wantAdmin)
			}
		})
	}
}

func TestResetClearsLoginMode(t *testing.T) {
	e := newTestEnv(t)
	e.setLogin(LoginMode{AutoLogin: "ada"})
	e.s.reset()
	if got := e.s.login.get(); got != (LoginMode{}) {
		t.Errorf("after reset: %+v, want the login page", got)
	}
}

func TestAdminSessionSingleSignOn(t *testing.T) {
	e := newTestEnv(t)
	_, _, session := e.signInCode("ada")
	e.setLogin(LoginMode{}) // interactive again: only the session can skip the page
	_, challenge := newPKCE()

	p := redirectParams(t, e.authorize(authQuery(challenge), session))
	if p.Get("code") == "" {
		t.Fatalf("with a session: error %q, want a code", p.Get("error"))
	}
	none := authQuery(challenge)
	none.Set("prompt", "none")
	if p := redirectParams(t, e.authorize(none, session)); p.Get("code") == "" {
		t.Errorf("prompt=none with a session: error %q", p.Get("error"))
	}
	login := authQuery(challenge)
	login.Set("prompt", "login")
	if rec := e.authorize(login, session); rec.Code != http.StatusOK {
		t.Errorf("prompt=login with a session: status %d, want the login page", rec.Code)
	}
	if rec := e.authorize(authQuery(challenge), &http.Cookie{Name: adminSessionCookie, Value: "made-up"}); rec.Code != http.StatusOK {
		t.Errorf("unknown session cookie: status %d, want the login page", rec.Code)
	}
	// The impersonation session cookie is a different thing.
	if rec := e.authorize(authQuery(challenge), &http.Cookie{Name: sessionCookie, Value: session.Value}); rec.Code != http.StatusOK {
		t.Errorf("admin session value under the impersonation cookie: status %d, want the login page", rec.Code)
	}
}

func TestAuthorizeRequestsCounter(t *testing.T) {
	e := newTestEnv(t)
	_, challenge := newPKCE()
	e.authorize(authQuery(challenge))
	e.authorize(url.Values{"client_id": {"nobody"}})
	e.do(formRequest("POST", testAuthPath, authQuery(challenge)))
	if n := e.stats().AuthorizeRequests; n != 3 {
		t.Errorf("authorizeRequests = %d, want 3", n)
	}
	e.do(httptest.NewRequest("POST", "/_control/reset", nil))
	if n := e.stats().AuthorizeRequests; n != 0 {
		t.Errorf("after reset: %d", n)
	}
}
