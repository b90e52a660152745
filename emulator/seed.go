package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/uuid"
)

// defaultSeed is the committed development seed, embedded so that
// `go run ./emulator` works from any directory.
//
//go:embed seed.json
var defaultSeed []byte

// Seed is the emulator's fixed world: one Bare.ID instance with one realm, its
// service accounts, users, target applications and the admins who sign in to
// actas. All secrets in it are development secrets.
type Seed struct {
	Comment         string           `json:"_comment,omitempty"`
	Instance        string           `json:"instance"`
	Realm           string           `json:"realm"`
	ServiceAccounts []ServiceAccount `json:"serviceAccounts"`
	Users           []User           `json:"users"`
	Clients         []Client         `json:"clients"`
	PublicClients   []PublicClient   `json:"publicClients"`
	Admins          []Admin          `json:"admins"`
}

// ServiceAccount is a confidential OAuth2 client that may use the
// client_credentials grant. Roles are Keycloak client roles written
// "client/role", e.g. "realm-management/impersonation".
type ServiceAccount struct {
	ID       string   `json:"id"`
	ClientID string   `json:"clientId"`
	Secret   string   `json:"secret"`
	Roles    []string `json:"roles"`
}

// User is an end user who can be impersonated.
type User struct {
	UUID     string `json:"uuid"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Email    string `json:"email"`
}

// Client is a target application. RedirectURL may be relative; it is
// resolved against the emulator's public URL.
type Client struct {
	ClientID    string `json:"clientId"`
	Name        string `json:"name"`
	RedirectURL string `json:"redirectUrl"`
}

// PublicClient is an OpenID Connect client without a secret that signs admins
// in with the authorization code grant and PKCE S256 (RFC 7636), such as the
// actas browser extension. RedirectURIs are exact URIs or the narrow patterns
// described in redirect.go.
type PublicClient struct {
	ClientID     string   `json:"clientId"`
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirectUris"`
}

// Admin is a person who signs in to actas through OIDC. Roles are the roles
// actas checks, such as "actas-impersonator" or "actas-auditor"; an admin's
// access token carries them both as realm roles and as client roles of the
// public client that asked.
type Admin struct {
	UUID     string   `json:"uuid"`
	Username string   `json:"username"`
	Name     string   `json:"name"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
}

// maxSeedBytes bounds the seed file; a real seed is a few kilobytes.
const maxSeedBytes = 1 << 20

var (
	realmPattern    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

// loadSeed reads the embedded seed (emulator/seed.json).
func loadSeed() (*Seed, error) {
	return parseSeed(bytes.NewReader(defaultSeed))
}

// parseSeed decodes and validates a seed. Unknown fields are errors so that
// a typo in a hand-edited seed is caught at startup.
func parseSeed(r io.Reader) (*Seed, error) {
	dec := json.NewDecoder(io.LimitReader(r, maxSeedBytes))
	dec.DisallowUnknownFields()
	var s Seed
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	return &s, nil
}

func (s *Seed) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if !isCanonicalUUID(s.Instance) {
		bad("instance %q is not a lower-case UUID", s.Instance)
	}
	if !realmPattern.MatchString(s.Realm) {
		bad("realm %q must be 1-64 letters, digits, '-' or '_'", s.Realm)
	}
	if len(s.ServiceAccounts) == 0 {
		bad("no serviceAccounts")
	}
	ids := map[string]bool{}
	for i, sa := range s.ServiceAccounts {
		if !clientIDPattern.MatchString(sa.ClientID) {
			bad("serviceAccounts[%d].clientId %q is invalid", i, sa.ClientID)
		}
		if ids[sa.ClientID] {
			bad("serviceAccounts[%d].clientId %q is duplicated", i, sa.ClientID)
		}
		ids[sa.ClientID] = true
		if !isCanonicalUUID(sa.ID) {
			bad("serviceAccounts[%d].id %q is not a lower-case UUID", i, sa.ID)
		}
		if sa.Secret == "" {
			bad("serviceAccounts[%d].secret is empty", i)
		}
		for _, role := range sa.Roles {
			if c, r, ok := strings.Cut(role, "/"); !ok || c == "" || r == "" {
				bad("serviceAccounts[%d] role %q is not written client/role", i, role)
			}
		}
	}
	users := map[string]bool{}
	for i, u := range s.Users {
		if !isCanonicalUUID(u.UUID) {
			bad("users[%d].uuid %q is not a lower-case UUID", i, u.UUID)
		}
		if users[u.UUID] {
			bad("users[%d].uuid %q is duplicated", i, u.UUID)
		}
		users[u.UUID] = true
		if u.Username == "" {
			bad("users[%d].username is empty", i)
		}
	}
	clients := map[string]bool{}
	for i, c := range s.Clients {
		if !clientIDPattern.MatchString(c.ClientID) {
			bad("clients[%d].clientId %q is invalid", i, c.ClientID)
		}
		if clients[c.ClientID] {
			bad("clients[%d].clientId %q is duplicated", i, c.ClientID)
		}
		clients[c.ClientID] = true
		if u, err := url.Parse(c.RedirectURL); err != nil || c.RedirectURL == "" {
			bad("clients[%d].redirectUrl %q is not a URL", i, c.RedirectURL)
		} else if u.IsAbs() && u.Scheme != "http" && u.Scheme != "https" {
			bad("clients[%d].redirectUrl %q must be http(s) or relative", i, c.RedirectURL)
		}
	}
	for i, pc := range s.PublicClients {
		if !clientIDPattern.MatchString(pc.ClientID) {
			bad("publicClients[%d].clientId %q is invalid", i, pc.ClientID)
		}
		if clients[pc.ClientID] || ids[pc.ClientID] {
			bad("publicClients[%d].clientId %q is already a client or service account", i, pc.ClientID)
		}
		clients[pc.ClientID] = true
		if len(pc.RedirectURIs) == 0 {
			bad("publicClients[%d] has no redirectUris", i)
		}
		for _, p := range pc.RedirectURIs {
			if _, err := parseRedirectPattern(p); err != nil {
				bad("publicClients[%d]: %v", i, err)
			}
		}
	}
	admins := map[string]bool{}
	for i, a := range s.Admins {
		if !isCanonicalUUID(a.UUID) {
			bad("admins[%d].uuid %q is not a lower-case UUID", i, a.UUID)
		}
		if a.Username == "" {
			bad("admins[%d].username is empty", i)
		}
		if admins[a.Username] {
			bad("admins[%d].username %q is duplicated", i, a.Username)
		}
		admins[a.Username] = true
	}
	return errors.Join(errs...)
}

// isCanonicalUUID reports whether s is a UUID in its lower-case, hyphenated
// form, the only form the emulator stores and compares.
func isCanonicalUUID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

func (s *Seed) serviceAccount(clientID string) (ServiceAccount, bool) {
	for _, sa := range s.ServiceAccounts {
		if sa.ClientID == clientID {
			return sa, true
		}
	}
	return ServiceAccount{}, false
}

func (s *Seed) user(id string) (User, bool) {
	for _, u := range s.Users {
		if u.UUID == id {
			return u, true
		}
	}
	return User{}, false
}

func (s *Seed) client(clientID string) (Client, bool) {
	for _, c := range s.Clients {
		if c.ClientID == clientID {
			return c, true
		}
	}
	return Client{}, false
}

func (s *Seed) publicClient(clientID string) (PublicClient, bool) {
	for _, c := range s.PublicClients {
		if c.ClientID == clientID {
			return c, true
		}
	}
	return PublicClient{}, false
}

func (s *Seed) adminByUsername(username string) (Admin, bool) {
	for _, a := range s.Admins {
		if a.Username == username {
			return a, true
		}
	}
	return Admin{}, false
}

func (s *Seed) adminByUUID(id string) (Admin, bool) {
	for _, a := range s.Admins {
		if a.UUID == id {
			return a, true
		}
	}
	return Admin{}, false
}
