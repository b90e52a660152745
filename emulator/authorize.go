package main

// The authorization endpoint (RFC 6749 §3.1, §4.1.1; OpenID Connect Core 1.0
// §3.1.2) for public clients with PKCE S256 (RFC 7636), the login page that
// stands for Keycloak's, and the emulator's admin single sign-on session.
//
// Errors about the client or the redirect URI are shown as a page and never
// redirected (RFC 6749 §4.1.2.1); every other error is redirected to the
// validated redirect URI with error, error_description, state and iss
// (RFC 9207).

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

const (
	// adminSessionCookie names the admin's single sign-on session. It is
	// separate from the impersonation session (BAREID_SESSION) so that
	// impersonating someone in the same browser does not replace the
	// admin's own sign-in; see README.
	adminSessionCookie = "BAREID_ADMIN_SESSION"
	// loginCookie binds a rendered login form to the browser that asked for
	// it (double submit: the form token and this cookie must both match).
	loginCookie = "BAREID_LOGIN"
	// maxAuthParamBytes bounds state, nonce and login_hint.
	maxAuthParamBytes = 1024
)

// grantedScope is what an admin's tokens carry: Keycloak always adds the
// default client scopes profile and email.
const grantedScope = "openid profile email"

// supportedScopes are the scope values a client may ask for.
var supportedScopes = []string{"openid", "profile", "email"}

// pkceChallenge is an S256 code challenge: base64url of a SHA-256, unpadded.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// LoginMode makes sign-in automatic for tests. The zero value shows the login
// page.
type LoginMode struct {
	// AutoLogin, when set, signs every authorization request in as this
	// seeded admin at once, without a page.
	AutoLogin string `json:"autoLogin"`
}

func (m LoginMode) validate(seed *Seed) error {
	if m.AutoLogin != "" {
		if _, ok := seed.adminByUsername(m.AutoLogin); !ok {
			return fmt.Errorf("autoLogin %q is not a seeded admin", m.AutoLogin)
		}
	}
	return nil
}

// authRequest is a validated authorization request.
type authRequest struct {
	ClientID      string
	ClientName    string
	RedirectURI   string
	State         string
	Nonce         string
	CodeChallenge string
	Prompt        []string
	LoginHint     string
}

// authError is a failed authorization request: shown as a page when
// redirect is "", else redirected there.
type authError struct {
	code, description string
	redirect, state   string
}

func (s *server) handleAuth(w http.ResponseWriter, r *http.Request) {
	s.stats.authorizeRequests.Add(1)
	noStore(w)
	params, ok := s.authParams(w, r)
	if !ok {
		return
	}
	req, aerr := s.parseAuthRequest(params)
	if aerr != nil {
		s.authFail(w, r, aerr)
		return
	}
	s.authorize(w, r, req)
}

// authParams reads the request parameters from the query (GET) or the form
// body (POST, OpenID Connect Core §3.1.2.1).
func (s *server) authParams(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	if r.Method == http.MethodGet {
		return r.URL.Query(), true
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if mt != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
		s.renderMessage(w, http.StatusBadRequest, "Bad request",
			"Send the authorization request as a query string or an application/x-www-form-urlencoded form.")
		return nil, false
	}
	return r.PostForm, true
}

// parseAuthRequest validates client and redirect URI first (errors there
// are pages), then everything else (errors there are redirects).
func (s *server) parseAuthRequest(p url.Values) (authRequest, *authError) {
	if len(p["client_id"]) > 1 || len(p["redirect_uri"]) > 1 {
		return authRequest{}, &authError{code: "invalid_request", description: "client_id and redirect_uri must not be repeated"}
	}
	client, ok := s.seed.publicClient(p.Get("client_id"))
	if !ok {
		return authRequest{}, &authError{code: "invalid_client", description: "Unknown client: client_id names no client that may sign in here."}
	}
	redirect := p.Get("redirect_uri")
	if redirect == "" {
		return authRequest{}, &authError{code: "invalid_request", description: "redirect_uri is required."}
	}
	if !redirectAllowed(client.RedirectURIs, redirect) {
		return authRequest{}, &authError{code: "invalid_request", description: "Invalid redirect_uri: it is not registered for this client."}
	}
	fail := func(code, description string) (authRequest, *authError) {
		state := ""
		if len(p["state"]) == 1 {
			state = p.Get("state")
		}
		return authRequest{}, &authError{code: code, description: description, redirect: redirect, state: state}
	}
	for name, vals := range p {
		if len(vals) > 1 { // RFC 6749 §3.1: parameters must not be repeated
			return fail("invalid_request", "parameter "+name+" is repeated")
		}
	}
	for _, name := range []string{"state", "nonce", "login_hint"} {
		if len(p.Get(name)) > maxAuthParamBytes {
			return fail("invalid_request", name+" is too long")
		}
	}
	switch {
	case p.Has("request"):
		return fail("request_not_supported", "request objects are not supported")
	case p.Has("request_uri"):
		return fail("request_uri_not_supported", "request_uri is not supported")
	case p.Get("response_type") == "":
		return fail("invalid_request", "response_type is required")
	case p.Get("response_type") != "code":
		return fail("unsupported_response_type", "only response_type=code is supported")
	case p.Get("response_mode") != "" && p.Get("response_mode") != "query":
		return fail("invalid_request", "only response_mode=query is supported")
	}
	scopes := strings.Fields(p.Get("scope"))
	if !slices.Contains(scopes, "openid") {
		return fail("invalid_scope", "scope must include openid")
	}
	for _, sc := range scopes {
		if !slices.Contains(supportedScopes, sc) {
			return fail("invalid_scope", "unsupported scope "+sc)
		}
	}
	switch method := p.Get("code_challenge_method"); {
	case p.Get("code_challenge") == "":
		return fail("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
	case method == "plain":
		return fail("invalid_request", "code_challenge_method=plain is not allowed, use S256")
	case method != "S256":
		return fail("invalid_request", "code_challenge_method must be S256")
	case !pkceChallenge.MatchString(p.Get("code_challenge")):
		return fail("invalid_request", "code_challenge must be 43 base64url characters (S256)")
	}
	prompt := strings.Fields(p.Get("prompt"))
	for _, v := range prompt {
		if !slices.Contains([]string{"none", "login", "consent", "select_account"}, v) {
			return fail("invalid_request", "unsupported prompt value "+v)
		}
	}
	if slices.Contains(prompt, "none") && len(prompt) > 1 {
		return fail("invalid_request", "prompt=none must stand alone")
	}
	return authRequest{
		ClientID:      client.ClientID,
		ClientName:    client.Name,
		RedirectURI:   redirect,
		State:         p.Get("state"),
		Nonce:         p.Get("nonce"),
		CodeChallenge: p.Get("code_challenge"),
		Prompt:        prompt,
		LoginHint:     p.Get("login_hint"),
	}, nil
}

// authFail shows an error page or redirects the error, as authError says.
func (s *server) authFail(w http.ResponseWriter, r *http.Request, e *authError) {
	if e.redirect == "" {
		s.renderMessage(w, http.StatusBadRequest, "Sign-in request refused", e.description)
		return
	}
	q := url.Values{"error": {e.code}, "error_description": {e.description}, "iss": {s.issuer()}}
	if e.state != "" {
		q.Set("state", e.state)
	}
	http.Redirect(w, r, withQuery(e.redirect, q), http.StatusFound)
}

// authorize decides who signs in: the auto-login admin, the browser's admin
// session (unless prompt asks for a login), or else the login page.
func (s *server) authorize(w http.ResponseWriter, r *http.Request, req authRequest) {
	if mode := s.login.get(); mode.AutoLogin != "" {
		admin, _ := s.seed.adminByUsername(mode.AutoLogin) // validated when set
		s.signIn(w, r, req, admin)
		return
	}
	forceLogin := slices.Contains(req.Prompt, "login") || slices.Contains(req.Prompt, "select_account")
	if sess, ok := s.adminSession(r); ok && !forceLogin {
		s.issueCode(w, r, req, sess)
		return
	}
	if slices.Contains(req.Prompt, "none") {
		s.authFail(w, r, &authError{code: "login_required", description: "no admin session and prompt=none",
			redirect: req.RedirectURI, state: req.State})
		return
	}
	s.showLogin(w, req)
}

// signIn starts (or keeps) the browser's admin session for admin and
// answers the authorization request with a code.
func (s *server) signIn(w http.ResponseWriter, r *http.Request, req authRequest, admin Admin) {
	now := s.now()
	sess, ok := s.adminSession(r)
	if !ok || sess.AdminUUID != admin.UUID {
		if c, err := r.Cookie(adminSessionCookie); err == nil {
			s.signin.endSession(c.Value, "") // signing in as someone else replaces the session
		}
		var cookie string
		sess, cookie = s.signin.startSession(admin.UUID, now)
		http.SetCookie(w, s.adminCookie(cookie, int(sessionTTL/time.Second)))
	}
	s.issueCode(w, r, req, sess)
}

// issueCode redirects with a fresh authorization code for sess.
func (s *server) issueCode(w http.ResponseWriter, r *http.Request, req authRequest, sess adminSession) {
	now := s.now()
	code := s.signin.issueCode(authCode{
		ClientID:      req.ClientID,
		RedirectURI:   req.RedirectURI,
		CodeChallenge: req.CodeChallenge,
		Nonce:         req.Nonce,
		Scope:         grantedScope,
		AdminUUID:     sess.AdminUUID,
		SessionID:     sess.ID,
		AuthTime:      sess.AuthTime,
		Expires:       now.Add(authCodeTTL),
	}, now)
	q := url.Values{"code": {code}, "session_state": {sess.ID}, "iss": {s.issuer()}}
	if req.State != "" {
		q.Set("state", req.State)
	}
	http.Redirect(w, r, withQuery(req.RedirectURI, q), http.StatusFound)
}

// adminSession returns the live admin session named by the request's cookie.
func (s *server) adminSession(r *http.Request) (adminSession, bool) {
	c, err := r.Cookie(adminSessionCookie)
	if err != nil {
		return adminSession{}, false
	}
	return s.signin.session(c.Value, s.now())
}

func (s *server) adminCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: adminSessionCookie, Value: value, Path: "/realms/" + s.seed.Realm + "/",
		MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.public.Scheme == "https",
	}
}

func (s *server) loginCSRFCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: loginCookie, Value: value, Path: s.loginActionPath(),
		MaxAge: maxAge, HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.public.Scheme == "https",
	}
}

func (s *server) loginActionPath() string {
	return "/realms/" + s.seed.Realm + "/login-actions/authenticate"
}

// loginPage is the data of templates/login.html.
type loginPage struct {
	page
	ClientName     string
	RedirectOrigin string
	Action         string
	FormToken      string
	Admins         []Admin
	LoginHint      string
}

func (s *server) showLogin(w http.ResponseWriter, req authRequest) {
	origin, err := redirectOrigin(req.RedirectURI)
	if err != nil { // validated already
		s.renderMessage(w, http.StatusBadRequest, "Sign-in request refused", "Invalid redirect_uri.")
		return
	}
	formToken, cookie := s.signin.newForm(req, s.now())
	http.SetCookie(w, s.loginCSRFCookie(cookie, int(loginFormTTL/time.Second)))
	// Browsers send "Origin: null" on a form post from a page whose policy is
	// no-referrer, which handleLoginAction refuses; same-origin lets the
	// emulator's own origin through and still sends nothing to other sites.
	w.Header().Set("Referrer-Policy", "same-origin")
	// The form posts here, and its answer redirects to the client: both
	// must be allowed as form actions, or browsers block the redirect.
	csp := "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' " + origin +
		"; frame-ancestors 'none'; base-uri 'none'"
	s.renderCSP(w, http.StatusOK, "login", csp, loginPage{
		page:           s.page("Sign in"),
		ClientName:     req.ClientName,
		RedirectOrigin: origin,
		Action:         s.loginActionPath(),
		FormToken:      formToken,
		Admins:         s.seed.Admins,
		LoginHint:      req.LoginHint,
	})
}

// handleLoginAction takes the login page's choice: a seeded admin's username
// or cancel. The form token must be one this emulator rendered, unexpired and
// unused, sent together with the cookie set beside it; a cross-site post
// carries neither the token nor (SameSite=Strict) the cookie.
func (s *server) handleLoginAction(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	if origin := r.Header.Get("Origin"); origin != "" && origin != s.public.String() {
		s.renderMessage(w, http.StatusForbidden, "Sign-in refused", "The sign-in form was posted from another site.")
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if mt != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
		s.renderMessage(w, http.StatusBadRequest, "Bad request", "The sign-in form could not be read.")
		return
	}
	cookie := ""
	if c, err := r.Cookie(loginCookie); err == nil {
		cookie = c.Value
	}
	req, ok := s.signin.takeForm(r.PostForm.Get("form"), cookie, s.now())
	if !ok {
		s.renderMessage(w, http.StatusForbidden, "Sign-in form expired",
			"This sign-in form has expired, was already used or was not issued to this browser. Start the sign-in again from the application.")
		return
	}
	http.SetCookie(w, s.loginCSRFCookie("", -1))
	if r.PostForm.Has("cancel") {
		s.authFail(w, r, &authError{code: "access_denied", description: "the admin cancelled the sign-in",
			redirect: req.RedirectURI, state: req.State})
		return
	}
	admin, ok := s.seed.adminByUsername(r.PostForm.Get("username"))
	if !ok {
		s.renderMessage(w, http.StatusBadRequest, "Unknown admin", "Choose one of the listed admins. Start the sign-in again.")
		return
	}
	s.signIn(w, r, req, admin)
}

func noStore(w http.ResponseWriter) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
}
