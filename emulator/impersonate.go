package main

import (
	"errors"
	"mime"
	"net/http"
	"net/url"
)

// sessionCookie is the name of the emulated Bare.ID session cookie. One
// session is valid for every application of the realm.
const sessionCookie = "BAREID_SESSION"

// handleImpersonate redeems an impersonation token, given as ?token= (GET) or
// as a form field (POST, application/x-www-form-urlencoded), starts a session
// and redirects to the client's redirect URL.
//
// Error pages: 400 for a missing, unknown or already used token, 410 Gone for
// an expired one. No cookie is set on error.
func (s *server) handleImpersonate(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")

	var token string
	if r.Method == http.MethodPost {
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt != "application/x-www-form-urlencoded" {
			s.renderMessage(w, http.StatusUnsupportedMediaType, "Unsupported request",
				"Send the token as an application/x-www-form-urlencoded form field named token.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			s.renderMessage(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return
		}
		token = r.PostForm.Get("token")
	} else {
		token = r.URL.Query().Get("token")
	}
	if token == "" {
		s.renderMessage(w, http.StatusBadRequest, "Impersonation failed", "No impersonation token was given.")
		return
	}

	now := s.now()
	g, err := s.grants.redeem(token, now)
	if err != nil {
		s.rejectImpersonation(w, g, err)
		return
	}
	client, ok := s.seed.client(g.ClientID)
	if !ok { // the seed is fixed, so a grant always names a known client
		s.renderMessage(w, http.StatusInternalServerError, "Impersonation failed", "Unknown client.")
		return
	}
	user, _ := s.seed.user(g.UserUUID)

	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.end(c.Value, now) // the new session replaces any previous one
	}
	id := s.sessions.start(session{
		UserUUID:     g.UserUUID,
		Impersonator: g.Impersonator,
		ClientID:     g.ClientID,
		Started:      now,
		Expires:      now.Add(sessionTTL),
	}, now)
	s.stats.impersonationsStarted.Add(1)
	s.audit.record(AuditEvent{
		Time: now, Event: eventSessionStarted, Impersonator: g.Impersonator,
		UserUUID: user.UUID, Username: user.Username, ClientID: g.ClientID,
	})
	http.SetCookie(w, s.newSessionCookie(id))
	http.Redirect(w, r, s.redirectURL(client), http.StatusFound)
}

func (s *server) rejectImpersonation(w http.ResponseWriter, g grant, err error) {
	e := AuditEvent{Time: s.now(), Event: eventTokenRejected, Impersonator: g.Impersonator,
		UserUUID: g.UserUUID, ClientID: g.ClientID, Detail: err.Error()}
	if u, ok := s.seed.user(g.UserUUID); ok {
		e.Username = u.Username
	}
	s.audit.record(e)

	switch {
	case errors.Is(err, errTokenExpired):
		s.renderMessage(w, http.StatusGone, "Impersonation link expired",
			"This impersonation token has expired (tokens are valid for 60 seconds). Request a new one.")
	case errors.Is(err, errTokenReused):
		s.renderMessage(w, http.StatusBadRequest, "Impersonation link already used",
			"This impersonation token has already been used. Each token works once; request a new one.")
	default:
		s.renderMessage(w, http.StatusBadRequest, "Impersonation failed",
			"This impersonation token is not known.")
	}
}

func (s *server) newSessionCookie(id string) *http.Cookie {
	return &http.Cookie{
		Name:     sessionCookie,
		Value:    id,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   s.public.Scheme == "https",
	}
}

// currentSession returns the session named by the request's cookie.
func (s *server) currentSession(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	return s.sessions.get(c.Value, s.now())
}

// handleLogout ends the browser's sessions, the impersonation session
// (BAREID_SESSION) and the admin session (BAREID_ADMIN_SESSION), as
// OpenID Connect RP-Initiated Logout 1.0 describes.
//
// id_token_hint, an ID token issued here (expired ones too), names the
// admin session to end even without its cookie, and the client. The client
// (from the hint or client_id) decides which post_logout_redirect_uri is
// allowed: for a public client one matching its redirect URIs, for a target
// application exactly its redirect URL; without a client, any target
// application's redirect URL. Anything else is refused with 400 before
// anything changes, so the endpoint is no open redirect.
func (s *server) handleLogout(w http.ResponseWriter, r *http.Request) {
	noStore(w)
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	}
	if err := r.ParseForm(); err != nil {
		s.renderMessage(w, http.StatusBadRequest, "Bad request", "The request could not be read.")
		return
	}
	var hintClient, hintSession string
	if hint := r.Form.Get("id_token_hint"); hint != "" {
		var c idTokenClaims
		if err := s.keys.verify(hint, &c); err != nil || c.Issuer != s.issuer() || c.Type != "ID" {
			s.renderMessage(w, http.StatusBadRequest, "Invalid logout request", "id_token_hint is not an ID token issued by this realm.")
			return
		}
		hintClient, hintSession = c.AuthorizedParty, c.SID
	}
	clientID := r.Form.Get("client_id")
	if clientID != "" && hintClient != "" && clientID != hintClient {
		s.renderMessage(w, http.StatusBadRequest, "Invalid logout request", "client_id differs from the id_token_hint's client.")
		return
	}
	if clientID == "" {
		clientID = hintClient
	}
	redirect := r.Form.Get("post_logout_redirect_uri")
	if redirect != "" && !s.logoutRedirectAllowed(clientID, redirect) {
		s.renderMessage(w, http.StatusBadRequest, "Invalid redirect",
			"post_logout_redirect_uri is not registered for this client, nor the redirect URL of any application.")
		return
	}

	now := s.now()
	if c, err := r.Cookie(sessionCookie); err == nil {
		if sess, ok := s.sessions.end(c.Value, now); ok && sess.Impersonator != "" {
			e := AuditEvent{Time: now, Event: eventLogout, Impersonator: sess.Impersonator,
				UserUUID: sess.UserUUID, ClientID: sess.ClientID}
			if u, ok := s.seed.user(sess.UserUUID); ok {
				e.Username = u.Username
			}
			s.audit.record(e)
		}
	}
	adminCookie := ""
	if c, err := r.Cookie(adminSessionCookie); err == nil {
		adminCookie = c.Value
	}
	s.signin.endSession(adminCookie, hintSession)

	expired := s.newSessionCookie("")
	expired.MaxAge = -1
	http.SetCookie(w, expired)
	if adminCookie != "" {
		http.SetCookie(w, s.adminCookie("", -1))
	}

	if redirect != "" {
		if state := r.Form.Get("state"); state != "" {
			redirect = withQuery(redirect, url.Values{"state": {state}})
		}
		http.Redirect(w, r, redirect, http.StatusFound)
		return
	}
	s.renderMessage(w, http.StatusOK, "Signed out", "You have been signed out of all applications.")
}

// logoutRedirectAllowed applies the public client's redirect rules when a
// public client is named, else the target applications' redirect URLs.
func (s *server) logoutRedirectAllowed(clientID, redirect string) bool {
	if pc, ok := s.seed.publicClient(clientID); ok {
		return redirectAllowed(pc.RedirectURIs, redirect)
	}
	if c, ok := s.seed.client(clientID); ok {
		return s.redirectURL(c) == redirect
	}
	return clientID == "" && s.isClientRedirect(redirect)
}

func (s *server) isClientRedirect(u string) bool {
	for _, c := range s.seed.Clients {
		if s.redirectURL(c) == u {
			return true
		}
	}
	return false
}
