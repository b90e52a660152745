package main

import (
	"errors"
	"mime"
	"net/http"
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
