package main

// Logout: OpenID Connect RP-Initiated Logout 1.0 for both kinds of browser
// session, the impersonation session and the admin's sign-in.

import (
	"net/http"
	"net/url"
)

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
