package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Defaults for callers and policy.
const (
	DefaultImpersonatorRole = "actas-impersonator"
	DefaultAuditorRole      = "actas-auditor"
	DefaultActorClaim       = "email"
	DefaultRateLimit        = "20/1h"
	// DefaultJWKSRefetchInterval keeps unknown-kid refetches rare but lets a rotated
	// key be picked up within seconds.
	DefaultJWKSRefetchInterval = 30 * time.Second
)

// Roles maps role names (as OIDC claims, API key entries and Access lists grant them)
// to the Worker's permissions.
type Roles struct {
	Impersonator string
	Auditor      string
}

// OIDC accepts access tokens of the Bare.ID instance (RFC 7519 JWTs verified against
// the issuer's JWKS, found by OpenID Connect discovery).
type OIDC struct {
	Issuer *url.URL
	// Audience is the client the admins sign in with; a token's aud or azp must name it.
	Audience string
	// RolesPath is a gjson path into the token's claims yielding the caller's roles.
	RolesPath string
	// ActorClaim names the claim recorded as the actor (falling back to
	// preferred_username, then sub).
	ActorClaim string
}

// Access accepts Cloudflare Access application tokens.
type Access struct {
	// TeamURL is https://<team>.cloudflareaccess.com: the issuer, and the certs'
	// origin (/cdn-cgi/access/certs).
	TeamURL *url.URL
	// AUD is the Access application's audience tag.
	AUD string
	// Impersonators and Auditors are e-mail patterns ("ada@example.com",
	// "*@support.example.com") granted each permission.
	Impersonators []string
	Auditors      []string
}

// Policy is what decides whether a caller may impersonate a user in an application.
type Policy struct {
	// Clients are the target applications, in configured order.
	Clients []Client
	// ProtectedUsers can never be impersonated (lower-case UUIDs).
	ProtectedUsers map[string]bool
	ReasonRequired bool
	// ReasonMinLength applies only when ReasonRequired (counted in characters).
	ReasonMinLength int
	// ReasonPattern, when set, must match the reason (e.g. a ticket id).
	ReasonPattern *regexp.Regexp
	// RateLimit is at most RateLimit.Count impersonations per RateLimit.Window per
	// actor; zero Count means no limit.
	RateLimit RateLimit
}

// RateLimit is N impersonations per window.
type RateLimit struct {
	Count  int
	Window time.Duration
}

func (r RateLimit) String() string {
	if r.Count == 0 {
		return "off"
	}
	return strconv.Itoa(r.Count) + "/" + r.Window.String()
}

var roleRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$`)

// roleList parses "a|b|c"; nil when any name is malformed or the list is empty.
func roleList(v string) []string {
	var out []string
	for _, r := range strings.Split(v, "|") {
		r = strings.TrimSpace(r)
		if !roleRE.MatchString(r) {
			return nil
		}
		out = append(out, r)
	}
	return out
}

func (l *loader) callers(c *Config) {
	c.Roles.Impersonator = l.role("ACTAS_IMPERSONATOR_ROLE", DefaultImpersonatorRole)
	c.Roles.Auditor = l.role("ACTAS_AUDITOR_ROLE", DefaultAuditorRole)
	c.APIKeys = l.apiKeys("ACTAS_API_KEYS", c.Roles.Impersonator)
	c.OIDC = l.oidc(c.DevLoopback)
	c.Access = l.access(c.DevLoopback)
	c.JWKSRefetchInterval = l.durationIn("ACTAS_JWKS_REFETCH_INTERVAL", DefaultJWKSRefetchInterval, time.Second, time.Hour)
	if len(c.APIKeys) == 0 && c.OIDC == nil && c.Access == nil &&
		!l.failed("ACTAS_API_KEYS") && !l.failed("ACTAS_OIDC_ISSUER") && !l.failed("ACTAS_ACCESS_TEAM_DOMAIN") {
		// With no way to authenticate callers the Worker refuses everything rather
		// than run open.
		l.fail("ACTAS_API_KEYS", "no caller authentication is configured: set ACTAS_API_KEYS, ACTAS_OIDC_ISSUER or ACTAS_ACCESS_TEAM_DOMAIN")
	}
}

func (l *loader) role(name, def string) string {
	v := l.get(name)
	if v == "" {
		return def
	}
	if !roleRE.MatchString(v) {
		l.fail(name, "must be one role name (letters, digits and ._:/@-)")
		return def
	}
	return v
}

func (l *loader) oidc(devLoopback bool) *OIDC {
	if l.get("ACTAS_OIDC_ISSUER") == "" {
		for _, n := range []string{"ACTAS_OIDC_AUDIENCE", "ACTAS_OIDC_ROLES_PATH", "ACTAS_OIDC_ACTOR_CLAIM"} {
			if l.get(n) != "" {
				l.fail(n, "is set but ACTAS_OIDC_ISSUER is not")
			}
		}
		return nil
	}
	o := &OIDC{Issuer: l.url("ACTAS_OIDC_ISSUER", "", devLoopback), Audience: l.required("ACTAS_OIDC_AUDIENCE")}
	// Keycloak puts a client's roles under resource_access.<client>.roles; a dot in
	// the client id must be escaped in a gjson path.
	o.RolesPath = l.gjsonPath("ACTAS_OIDC_ROLES_PATH", "resource_access."+strings.ReplaceAll(o.Audience, ".", `\.`)+".roles")
	o.ActorClaim = l.gjsonPath("ACTAS_OIDC_ACTOR_CLAIM", DefaultActorClaim)
	if o.Issuer == nil {
		return nil
	}
	return o
}

func (l *loader) access(devLoopback bool) *Access {
	team := l.get("ACTAS_ACCESS_TEAM_DOMAIN")
	if team == "" {
		for _, n := range []string{"ACTAS_ACCESS_AUD", "ACTAS_ACCESS_IMPERSONATORS", "ACTAS_ACCESS_AUDITORS"} {
			if l.get(n) != "" {
				l.fail(n, "is set but ACTAS_ACCESS_TEAM_DOMAIN is not")
			}
		}
		return nil
	}
	a := &Access{AUD: l.required("ACTAS_ACCESS_AUD")}
	if !strings.Contains(team, "://") {
		team = "https://" + team
	}
	a.TeamURL = l.urlValue("ACTAS_ACCESS_TEAM_DOMAIN", team, devLoopback)
	if a.TeamURL != nil && a.TeamURL.Path != "" {
		l.fail("ACTAS_ACCESS_TEAM_DOMAIN", "must be a host name such as myteam.cloudflareaccess.com")
	}
	a.Impersonators = l.emailPatterns("ACTAS_ACCESS_IMPERSONATORS")
	a.Auditors = l.emailPatterns("ACTAS_ACCESS_AUDITORS")
	if a.TeamURL == nil {
		return nil
	}
	return a
}

var emailPatternRE = regexp.MustCompile(`^(\*|[^@\s*]+)@[A-Za-z0-9.-]+$`)

func (l *loader) emailPatterns(name string) []string {
	var out []string
	for i, p := range list(l.get(name)) {
		if !emailPatternRE.MatchString(p) {
			l.fail(name, fmt.Sprintf("entry %d must be an e-mail address or *@domain", i+1))
			continue
		}
		out = append(out, strings.ToLower(p))
	}
	return out
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

func (l *loader) policy(c *Config) {
	p := &c.Policy
	p.Clients = l.clients("ACTAS_CLIENTS")
	l.clientRoles("ACTAS_CLIENT_ROLES", p.Clients)
	p.ProtectedUsers = l.uuidSet("ACTAS_PROTECTED_USERS")
	p.ReasonRequired = l.boolean("ACTAS_REASON_REQUIRED", true)
	p.ReasonMinLength = l.integer("ACTAS_REASON_MIN_LENGTH", DefaultReasonMinLength, 1, maxReasonMinLength)
	if v := l.get("ACTAS_REASON_PATTERN"); v != "" {
		re, err := regexp.Compile(v)
		if err != nil {
			l.fail("ACTAS_REASON_PATTERN", "must be a valid regular expression (RE2 syntax)")
		}
		p.ReasonPattern = re
	}
	p.RateLimit = l.rateLimit("ACTAS_RATE_LIMIT")
}

// clientRoles reads "crm=support|admins,wiki=wiki-editors" onto the clients.
func (l *loader) clientRoles(name string, clients []Client) {
	for i, item := range list(l.get(name)) {
		id, roles, ok := strings.Cut(item, "=")
		rs := roleList(roles)
		idx := -1
		for j := range clients {
			if clients[j].ID == strings.TrimSpace(id) {
				idx = j
			}
		}
		if !ok || rs == nil || idx < 0 {
			l.fail(name, fmt.Sprintf("entry %d must be clientId=role|role with a client from ACTAS_CLIENTS", i+1))
			continue
		}
		clients[idx].Roles = rs
	}
}

func (l *loader) rateLimit(name string) RateLimit {
	v := l.get(name)
	if v == "" {
		v = DefaultRateLimit
	}
	if v == "off" {
		return RateLimit{}
	}
	n, w, ok := strings.Cut(v, "/")
	count, err := strconv.Atoi(n)
	window, err2 := time.ParseDuration(w)
	if !ok || err != nil || err2 != nil || count < 1 || count > 100000 || window < time.Second || window > 31*24*time.Hour {
		l.fail(name, "must be COUNT/DURATION such as 10/1h, or off")
		return RateLimit{}
	}
	return RateLimit{Count: count, Window: window}
}
