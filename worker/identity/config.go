package identity

import (
	"crypto/sha256"
	"net/url"
	"time"
)

// Defaults for the optional settings of Config.
const (
	DefaultImpersonatorRole = "actas-impersonator"
	DefaultAuditorRole      = "actas-auditor"
	DefaultActorClaim       = "email"
	// DefaultJWKSRefetchInterval keeps unknown-kid refetches rare but lets a rotated
	// key be picked up within seconds.
	DefaultJWKSRefetchInterval = 30 * time.Second
)

// Config is how callers are identified. package config fills it from the environment.
type Config struct {
	// APIKeys are the automation callers, by label.
	APIKeys []APIKey
	// OIDC, when set, accepts bearer tokens from the Bare.ID instance's admins.
	OIDC *OIDCConfig
	// Access, when set, accepts Cloudflare Access's Cf-Access-Jwt-Assertion.
	Access *AccessConfig
	// Roles names the roles that grant each permission.
	Roles Roles
	// JWKSRefetchInterval is the least time between two fetches of a signing-key set
	// prompted by an unknown key id, so a flood of made-up ids costs at most one
	// fetch per interval.
	JWKSRefetchInterval time.Duration
	// DevLoopback accepts an http:// jwks_uri on a loopback host (the emulator).
	//
	// Warning: development only; never set it in a deployment.
	DevLoopback bool
}

// Roles maps role names (as OIDC claims, API key entries and Access lists grant them)
// to the Worker's permissions.
type Roles struct {
	Impersonator string
	Auditor      string
}

// APIKey is one automation caller: a label (the actor in the audit trail) and the
// SHA-256 of its key. The key itself is never configured anywhere.
type APIKey struct {
	Label string
	Hash  [sha256.Size]byte
	// Roles the key holds; by default just the impersonator role.
	Roles []string
}

// OIDCConfig accepts access tokens of the Bare.ID instance (RFC 7519 JWTs verified
// against the issuer's JWKS, found by OpenID Connect discovery).
type OIDCConfig struct {
	Issuer *url.URL
	// Audience is the client the admins sign in with; a token's aud or azp must name it.
	Audience string
	// RolesPath is a gjson path into the token's claims yielding the caller's roles.
	RolesPath string
	// ActorClaim names the claim recorded as the actor (falling back to
	// preferred_username, then sub).
	ActorClaim string
}

// AccessConfig accepts Cloudflare Access application tokens.
type AccessConfig struct {
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

// New returns the configured ways of identifying callers, explicit bearer credentials
// first: an admin's own token wins over a Cloudflare Access header. d sends the
// discovery and key-set requests; now may be nil (time.Now).
func New(cfg Config, d Doer, now func() time.Time) Chain {
	if now == nil {
		now = time.Now
	}
	chain := Chain{APIKeys{Keys: cfg.APIKeys, Roles: cfg.Roles}}
	if cfg.OIDC != nil {
		chain = append(chain, NewOIDC(*cfg.OIDC, cfg.Roles, cfg.DevLoopback, cfg.JWKSRefetchInterval, d, now))
	}
	if cfg.Access != nil {
		chain = append(chain, NewAccess(*cfg.Access, cfg.Roles, cfg.JWKSRefetchInterval, d, now))
	}
	return chain
}
