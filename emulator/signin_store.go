package main

// In-memory state of admin sign-in: admin sessions (the browser's single
// sign-on), login forms waiting for a choice, authorization codes and
// refresh tokens. Every secret value is stored only as its SHA-256.

import (
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
)

const (
	// authCodeTTL is how long an authorization code may be redeemed;
	// Keycloak's default is 60 s.
	authCodeTTL = 60 * time.Second
	// refreshTokenTTL is a refresh token's lifetime, Keycloak's SSO idle
	// timeout (30 min).
	refreshTokenTTL = 1800 * time.Second
	// loginFormTTL is how long a rendered login page may be submitted.
	loginFormTTL = 10 * time.Minute
)

// adminSession is an admin's single sign-on session. ID is public (the
// tokens' sid and session_state); the cookie value that names it is secret.
type adminSession struct {
	ID        string
	AdminUUID string
	AuthTime  time.Time
	Expires   time.Time
}

// authCode is what an authorization code stands for (RFC 6749 §4.1.2).
type authCode struct {
	ClientID      string
	RedirectURI   string
	CodeChallenge string // S256
	Nonce         string
	Scope         string
	AdminUUID     string
	SessionID     string
	AuthTime      time.Time
	Expires       time.Time
	used          bool
	family        string // refresh token family issued from it, once redeemed
}

// refreshToken is what a refresh token stands for. Tokens issued from one
// code form a family; rotation moves along it, and reusing a rotated token
// revokes the whole family (OAuth 2.0 Security BCP, RFC 9700 §4.14.2).
type refreshToken struct {
	Family    string
	ClientID  string
	AdminUUID string
	SessionID string
	Scope     string
	Nonce     string
	AuthTime  time.Time
	Expires   time.Time
	used      bool
}

// loginForm is a rendered login page: the validated authorization request
// and the hash of the browser's CSRF cookie.
type loginForm struct {
	Request authRequest
	Cookie  tokenHash
	Expires time.Time
}

var (
	errCodeUnknown   = errors.New("unknown code")
	errCodeReused    = errors.New("code already used")
	errCodeExpired   = errors.New("code expired")
	errRefreshReused = errors.New("refresh token already used")
	errRefreshGone   = errors.New("refresh token unknown, expired or revoked")
)

// signInStore holds the admin sign-in state. Safe for concurrent use.
type signInStore struct {
	mu          sync.Mutex
	sessions    map[tokenHash]*adminSession // by cookie hash
	codes       map[tokenHash]*authCode
	refresh     map[tokenHash]*refreshToken
	revoked     map[string]bool // refresh token families
	forms       map[tokenHash]*loginForm
	sessionByID map[string]*adminSession
}

func newSignInStore() *signInStore {
	st := &signInStore{}
	st.reset()
	return st
}

func (st *signInStore) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.sessions = map[tokenHash]*adminSession{}
	st.codes = map[tokenHash]*authCode{}
	st.refresh = map[tokenHash]*refreshToken{}
	st.revoked = map[string]bool{}
	st.forms = map[tokenHash]*loginForm{}
	st.sessionByID = map[string]*adminSession{}
}

// prune forgets what has long expired. Callers hold st.mu.
func (st *signInStore) prune(now time.Time) {
	for h, s := range st.sessions {
		if !now.Before(s.Expires) {
			delete(st.sessions, h)
			delete(st.sessionByID, s.ID)
		}
	}
	for h, c := range st.codes {
		if now.Sub(c.Expires) > usedTokenMemory {
			delete(st.codes, h)
		}
	}
	for h, r := range st.refresh {
		if now.Sub(r.Expires) > usedTokenMemory {
			delete(st.refresh, h)
		}
	}
	for h, f := range st.forms {
		if !now.Before(f.Expires) {
			delete(st.forms, h)
		}
	}
}

// startSession signs admin in and returns the session and its cookie value.
func (st *signInStore) startSession(adminUUID string, now time.Time) (adminSession, string) {
	cookie := randomToken()
	sess := &adminSession{ID: uuid.NewString(), AdminUUID: adminUUID, AuthTime: now, Expires: now.Add(sessionTTL)}
	st.mu.Lock()
	defer st.mu.Unlock()
	st.prune(now)
	st.sessions[hashToken(cookie)] = sess
	st.sessionByID[sess.ID] = sess
	return *sess, cookie
}

// session returns the live session named by a cookie value.
func (st *signInStore) session(cookie string, now time.Time) (adminSession, bool) {
	if cookie == "" {
		return adminSession{}, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.sessions[hashToken(cookie)]
	if !ok || !now.Before(s.Expires) {
		return adminSession{}, false
	}
	return *s, true
}

// sessionAlive reports whether the session with this id is live.
func (st *signInStore) sessionAlive(id string, now time.Time) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	s, ok := st.sessionByID[id]
	return ok && now.Before(s.Expires)
}

// endSession ends the session named by a cookie value or by its id (either
// may be ""), so its refresh tokens stop working. It reports whether one was
// live.
func (st *signInStore) endSession(cookie, id string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	ended := false
	if cookie != "" {
		if s, ok := st.sessions[hashToken(cookie)]; ok {
			delete(st.sessions, hashToken(cookie))
			delete(st.sessionByID, s.ID)
			ended = true
		}
	}
	if id != "" {
		if _, ok := st.sessionByID[id]; ok {
			delete(st.sessionByID, id)
			for h, s := range st.sessions {
				if s.ID == id {
					delete(st.sessions, h)
				}
			}
			ended = true
		}
	}
	return ended
}

// newForm stores a login form and returns its form token and CSRF cookie.
func (st *signInStore) newForm(req authRequest, now time.Time) (formToken, cookie string) {
	formToken, cookie = randomToken(), randomToken()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.prune(now)
	st.forms[hashToken(formToken)] = &loginForm{Request: req, Cookie: hashToken(cookie), Expires: now.Add(loginFormTTL)}
	return formToken, cookie
}

// takeForm consumes a login form if its token is known, unexpired and the
// cookie is the one set with it. A form with a wrong cookie stays, so that a
// forged post cannot spend a real admin's form.
func (st *signInStore) takeForm(formToken, cookie string, now time.Time) (authRequest, bool) {
	if formToken == "" || cookie == "" {
		return authRequest{}, false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	h := hashToken(formToken)
	f, ok := st.forms[h]
	if !ok || !now.Before(f.Expires) || hashToken(cookie) != f.Cookie {
		return authRequest{}, false
	}
	delete(st.forms, h)
	return f.Request, true
}

// issueCode stores c under a fresh code and returns the code.
func (st *signInStore) issueCode(c authCode, now time.Time) string {
	code := randomToken()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.prune(now)
	st.codes[hashToken(code)] = &c
	return code
}

// redeemCode consumes a code: the first attempt gets it (whatever the
// attempt's other parameters, so a code cannot be guessed against), every
// later one gets errCodeReused and revokes the refresh tokens issued from it
// (RFC 6749 §4.1.2).
func (st *signInStore) redeemCode(code string, now time.Time) (authCode, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	c, ok := st.codes[hashToken(code)]
	switch {
	case !ok:
		return authCode{}, errCodeUnknown
	case c.used:
		if c.family != "" {
			st.revoked[c.family] = true
		}
		return authCode{}, errCodeReused
	}
	c.used = true
	if !now.Before(c.Expires) {
		return authCode{}, errCodeExpired
	}
	c.family = uuid.NewString()
	return *c, nil
}

// issueRefresh stores rt under a fresh refresh token and returns the token.
func (st *signInStore) issueRefresh(rt refreshToken, now time.Time) string {
	token := randomToken()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.prune(now)
	st.refresh[hashToken(token)] = &rt
	return token
}

// useRefresh consumes a refresh token of clientID for rotation. Reusing a
// consumed one revokes its whole family. A token presented by another client
// is refused without being consumed.
func (st *signInStore) useRefresh(token, clientID string, now time.Time) (refreshToken, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	rt, ok := st.refresh[hashToken(token)]
	switch {
	case !ok || rt.ClientID != clientID:
		return refreshToken{}, errRefreshGone
	case rt.used:
		st.revoked[rt.Family] = true
		return refreshToken{}, errRefreshReused
	case st.revoked[rt.Family] || !now.Before(rt.Expires):
		return refreshToken{}, errRefreshGone
	}
	rt.used = true
	return *rt, nil
}
