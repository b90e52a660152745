// Package identity tells who is calling the Worker. Each way of identifying a caller is
// an Authenticator; a Chain tries them in order, so OIDC and Cloudflare Access slot in
// beside API keys without touching the handlers.
package identity

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// Kind says how a caller was identified. It is recorded in the audit trail.
type Kind string

// The identification methods.
const (
	KindAPIKey Kind = "api-key"
)

// Permission is something a caller may do.
type Permission string

// The permissions.
const (
	Impersonate Permission = "impersonate"
	Audit       Permission = "audit"
)

// Identity is an authenticated caller.
type Identity struct {
	// Actor names the real human or the key label; it is what the audit trail records.
	Actor       string
	Kind        Kind
	Permissions []Permission
	// Roles are the caller's role names, for per-application policy.
	Roles []string
	// Subject is the caller's user id at their identity provider when known (OIDC:
	// their Bare.ID user UUID), so a caller can be refused impersonating themself.
	Subject string
}

// HasRole reports whether the caller holds one of roles.
func (id Identity) HasRole(roles ...string) bool {
	for _, want := range roles {
		for _, have := range id.Roles {
			if have == want {
				return true
			}
		}
	}
	return false
}

// Grant derives permissions from role names.
func Grant(roles []string, names Roles) []Permission {
	perms := []Permission{}
	id := Identity{Roles: roles}
	if id.HasRole(names.Impersonator) {
		perms = append(perms, Impersonate)
	}
	if id.HasRole(names.Auditor) {
		perms = append(perms, Audit)
	}
	return perms
}

// Can reports whether the caller holds p.
func (id Identity) Can(p Permission) bool {
	for _, have := range id.Permissions {
		if have == p {
			return true
		}
	}
	return false
}

// ErrNoCredentials means the request carried nothing an Authenticator recognises.
var ErrNoCredentials = errors.New("identity: no credentials")

// ErrInvalidCredentials means the request carried credentials that did not verify.
// Its text never says which part failed, so it cannot be used as an oracle.
var ErrInvalidCredentials = errors.New("identity: invalid credentials")

// Authenticator identifies the caller of r. It returns ErrNoCredentials when r carries
// nothing it handles, so a Chain can try the next one. It must be safe for concurrent
// use.
type Authenticator interface {
	Authenticate(r *http.Request) (Identity, error)
}

// Chain tries each Authenticator in turn; the first that recognises the credentials
// decides.
type Chain []Authenticator

// Authenticate implements Authenticator.
func (c Chain) Authenticate(r *http.Request) (Identity, error) {
	for _, a := range c {
		id, err := a.Authenticate(r)
		if errors.Is(err, ErrNoCredentials) {
			continue
		}
		return id, err
	}
	return Identity{}, ErrNoCredentials
}

// BearerToken returns the credentials of an "Authorization: Bearer" header (RFC 6750
// §2.1), or "" when there are none.
func BearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// APIKeys authenticates automation callers by a key sent as a bearer token. Only the
// SHA-256 of each key is configured. JWT-shaped bearer tokens (with dots) are left to
// the token authenticators.
type APIKeys struct {
	Keys  []APIKey
	Roles Roles
}

// Authenticate implements Authenticator.
func (a APIKeys) Authenticate(r *http.Request) (Identity, error) {
	keys := a.Keys
	token := BearerToken(r)
	if token == "" || strings.Contains(token, ".") {
		return Identity{}, ErrNoCredentials
	}
	sum := sha256.Sum256([]byte(token))
	match := -1
	// Compare against every key, always, so the time taken says nothing about which
	// key (or whether any) matched.
	for i := range keys {
		if subtle.ConstantTimeCompare(sum[:], keys[i].Hash[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return Identity{}, ErrInvalidCredentials
	}
	return Identity{
		Actor:       keys[match].Label,
		Kind:        KindAPIKey,
		Roles:       keys[match].Roles,
		Permissions: Grant(keys[match].Roles, a.Roles),
	}, nil
}
