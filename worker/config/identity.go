package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/actas-dev/actas/worker/identity"
)

// labelRE is what an API key's label may look like: it names the caller in the audit
// trail and in log lines.
var labelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$`)

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

func (l *loader) identity(c *identity.Config, devLoopback bool) {
	c.DevLoopback = devLoopback
	c.Roles.Impersonator = l.role("ACTAS_IMPERSONATOR_ROLE", identity.DefaultImpersonatorRole)
	c.Roles.Auditor = l.role("ACTAS_AUDITOR_ROLE", identity.DefaultAuditorRole)
	c.APIKeys = l.apiKeys("ACTAS_API_KEYS", c.Roles.Impersonator)
	c.OIDC = l.oidc(devLoopback)
	c.Access = l.access(devLoopback)
	c.JWKSRefetchInterval = l.durationIn("ACTAS_JWKS_REFETCH_INTERVAL", identity.DefaultJWKSRefetchInterval, time.Second, time.Hour)
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

// apiKeys reads label:sha256hex[:role|role] entries. A label may appear several times
// with different hashes: during a rotation the old and the new key both work, as the
// same actor (audit trail, rate-limit bucket). Its entries must then grant the same
// roles, so a rotation cannot change what the caller may do.
func (l *loader) apiKeys(name, impersonatorRole string) []identity.APIKey {
	items := list(l.get(name))
	keys := make([]identity.APIKey, 0, len(items))
	rolesOf := map[string]string{}
	hashes := map[[sha256.Size]byte]bool{}
	for i, item := range items {
		label, rest, ok := strings.Cut(item, ":")
		hexHash, roles, hasRoles := strings.Cut(rest, ":")
		label = strings.TrimSpace(label)
		raw, err := hex.DecodeString(strings.TrimSpace(hexHash))
		if !ok || err != nil || len(raw) != sha256.Size || !labelRE.MatchString(label) {
			l.fail(name, fmt.Sprintf("entry %d must be label:sha256hex[:role|role] (64 hex digits; label of letters, digits and ._@+-)", i+1))
			continue
		}
		k := identity.APIKey{Label: label, Roles: []string{impersonatorRole}}
		if hasRoles {
			if k.Roles = roleList(roles); k.Roles == nil {
				l.fail(name, fmt.Sprintf("entry %d has an empty or malformed role list", i+1))
				continue
			}
		}
		copy(k.Hash[:], raw)
		if hashes[k.Hash] {
			l.fail(name, fmt.Sprintf("entry %d repeats a key hash", i+1))
			continue
		}
		joined := strings.Join(k.Roles, "|")
		if prev, seen := rolesOf[label]; seen && prev != joined {
			l.fail(name, fmt.Sprintf("entry %d gives label %s other roles than its earlier entry; all keys of one label hold the same roles", i+1, label))
			continue
		}
		rolesOf[label], hashes[k.Hash] = joined, true
		keys = append(keys, k)
	}
	return keys
}

func (l *loader) oidc(devLoopback bool) *identity.OIDCConfig {
	if l.get("ACTAS_OIDC_ISSUER") == "" {
		for _, n := range []string{"ACTAS_OIDC_AUDIENCE", "ACTAS_OIDC_ROLES_PATH", "ACTAS_OIDC_ACTOR_CLAIM"} {
			if l.get(n) != "" {
				l.fail(n, "is set but ACTAS_OIDC_ISSUER is not")
			}
		}
		return nil
	}
	o := &identity.OIDCConfig{Issuer: l.url("ACTAS_OIDC_ISSUER", "", devLoopback), Audience: l.required("ACTAS_OIDC_AUDIENCE")}
	// Keycloak puts a client's roles under resource_access.<client>.roles; a dot in
	// the client id must be escaped in a gjson path.
	o.RolesPath = l.gjsonPath("ACTAS_OIDC_ROLES_PATH", "resource_access."+strings.ReplaceAll(o.Audience, ".", `\.`)+".roles")
	o.ActorClaim = l.gjsonPath("ACTAS_OIDC_ACTOR_CLAIM", identity.DefaultActorClaim)
	if o.Issuer == nil {
		return nil
	}
	return o
}

func (l *loader) access(devLoopback bool) *identity.AccessConfig {
	team := l.get("ACTAS_ACCESS_TEAM_DOMAIN")
	if team == "" {
		for _, n := range []string{"ACTAS_ACCESS_AUD", "ACTAS_ACCESS_IMPERSONATORS", "ACTAS_ACCESS_AUDITORS"} {
			if l.get(n) != "" {
				l.fail(n, "is set but ACTAS_ACCESS_TEAM_DOMAIN is not")
			}
		}
		return nil
	}
	a := &identity.AccessConfig{AUD: l.required("ACTAS_ACCESS_AUD")}
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
