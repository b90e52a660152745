package identity

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// accessHeader carries the Cloudflare Access application token.
const accessHeader = "Cf-Access-Jwt-Assertion"

// Access authenticates people Cloudflare Access let through, by verifying the token
// Access adds to every request against the team's certs and the application's AUD
// tag. The header is never trusted unverified: workers.dev and preview URLs bypass
// Access, so anyone can send it there.
type Access struct {
	cfg    AccessConfig
	roles  Roles
	verify *verifier
}

// NewAccess returns the Cloudflare Access authenticator.
func NewAccess(cfg AccessConfig, roles Roles, refetch time.Duration, d Doer, now func() time.Time) *Access {
	team := cfg.TeamURL.String()
	return &Access{cfg: cfg, roles: roles, verify: &verifier{
		keys:   &keySet{fetch: fetchKeySet(d, team+"/cdn-cgi/access/certs"), minInterval: refetch, now: now},
		issuer: team, audience: cfg.AUD, now: now,
	}}
}

// Authenticate implements Authenticator.
func (a *Access) Authenticate(r *http.Request) (Identity, error) {
	token := strings.TrimSpace(r.Header.Get(accessHeader))
	if token == "" {
		return Identity{}, ErrNoCredentials
	}
	claims, reg, err := a.verify.verify(r.Context(), token)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalidCredentials, err)
	}
	email := firstString(claims, "email")
	if email == "" {
		// Service tokens carry no e-mail; they are not people and get no role here.
		return Identity{}, fmt.Errorf("%w: Access token names no e-mail", ErrInvalidCredentials)
	}
	var roles []string
	if MatchEmail(a.cfg.Impersonators, email) {
		roles = append(roles, a.roles.Impersonator)
	}
	if MatchEmail(a.cfg.Auditors, email) {
		roles = append(roles, a.roles.Auditor)
	}
	return Identity{
		Actor:       strings.ToLower(email),
		Kind:        KindAccess,
		Subject:     reg.Subject,
		Roles:       roles,
		Permissions: Grant(roles, a.roles),
	}, nil
}

// MatchEmail reports whether email matches one of the patterns (exact address, or
// *@domain for a whole domain; case-insensitive).
func MatchEmail(patterns []string, email string) bool {
	email = strings.ToLower(email)
	for _, p := range patterns {
		if p == email || (strings.HasPrefix(p, "*@") && strings.HasSuffix(email, p[1:]) && len(email) > len(p)-1) {
			return true
		}
	}
	return false
}
