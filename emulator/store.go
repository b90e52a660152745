package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// impersonationTTL is how long an impersonation token may be redeemed, as
// Bare.ID documents ("short-lived (60s)").
const impersonationTTL = 60 * time.Second

// usedTokenMemory is how long a redeemed or expired token is remembered, so
// that a late reuse is reported as reused or expired rather than unknown.
const usedTokenMemory = 10 * time.Minute

// sessionTTL is how long an emulated Bare.ID browser session lasts.
const sessionTTL = 10 * time.Hour

// randomToken returns 32 random bytes, base64url without padding.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenHash is the key under which a token is stored: the token itself is
// never kept.
type tokenHash [sha256.Size]byte

func hashToken(token string) tokenHash { return sha256.Sum256([]byte(token)) }

// grant is what an impersonation token stands for.
type grant struct {
	Impersonator string // the service account's clientId
	UserUUID     string
	ClientID     string
	Expires      time.Time
	used         bool
}

var (
	errTokenUnknown = errors.New("unknown impersonation token")
	errTokenReused  = errors.New("impersonation token already used")
	errTokenExpired = errors.New("impersonation token expired")
)

// grantStore keeps issued impersonation tokens by hash. Safe for concurrent
// use.
type grantStore struct {
	mu     sync.Mutex
	grants map[tokenHash]*grant
}

func newGrantStore() *grantStore { return &grantStore{grants: map[tokenHash]*grant{}} }

// issue stores g under a fresh token and returns the token.
func (s *grantStore) issue(g grant, now time.Time) string {
	token := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	s.grants[hashToken(token)] = &g
	return token
}

// redeem consumes token: the first caller with a known, unexpired token gets
// its grant; everyone after gets errTokenReused. For a known token the grant
// is returned with the error too, so that a rejection can be audited.
func (s *grantStore) redeem(token string, now time.Time) (grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.grants[hashToken(token)]
	switch {
	case !ok:
		return grant{}, errTokenUnknown
	case g.used:
		return *g, errTokenReused
	case !now.Before(g.Expires):
		return *g, errTokenExpired
	}
	g.used = true
	return *g, nil
}

// prune forgets tokens long past their expiry. Callers hold s.mu.
func (s *grantStore) prune(now time.Time) {
	for h, g := range s.grants {
		if now.Sub(g.Expires) > usedTokenMemory {
			delete(s.grants, h)
		}
	}
}

func (s *grantStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.grants)
}

// session is an emulated Bare.ID browser session, shared by all clients of
// the realm.
type session struct {
	UserUUID string
	// Impersonator is the service account that started the session, or ""
	// for a normal sign-in.
	Impersonator string
	// ClientID is the application the session was started for.
	ClientID string
	Started  time.Time
	Expires  time.Time
}

// sessionStore keeps sessions by the hash of their cookie value. Safe for
// concurrent use.
type sessionStore struct {
	mu       sync.Mutex
	sessions map[tokenHash]*session
}

func newSessionStore() *sessionStore { return &sessionStore{sessions: map[tokenHash]*session{}} }

// start stores sess under a fresh id and returns the id (the cookie value).
func (s *sessionStore) start(sess session, now time.Time) string {
	id := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	for h, old := range s.sessions {
		if !now.Before(old.Expires) {
			delete(s.sessions, h)
		}
	}
	s.sessions[hashToken(id)] = &sess
	return id
}

// get returns the live session with this id.
func (s *sessionStore) get(id string, now time.Time) (session, bool) {
	if id == "" {
		return session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[hashToken(id)]
	if !ok || !now.Before(sess.Expires) {
		return session{}, false
	}
	return *sess, true
}

// end removes the session and returns it if it was live.
func (s *sessionStore) end(id string, now time.Time) (session, bool) {
	sess, ok := s.get(id, now)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, hashToken(id))
	return sess, ok
}

func (s *sessionStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
}
