package identity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/tidwall/gjson"

	"github.com/actas-dev/actas/worker/internal/outbound"
)

// KindOIDC and KindAccess are the token-based identification methods.
const (
	KindOIDC   Kind = "oidc"
	KindAccess Kind = "access"
)

// OIDC authenticates admins by access tokens of the Bare.ID instance (OpenID Connect
// Core 1.0; Keycloak-shaped claims). The signing keys come from the issuer's JWKS,
// found by discovery (OpenID Connect Discovery 1.0 §4) and cached.
type OIDC struct {
	cfg    OIDCConfig
	roles  Roles
	verify *verifier
}

// NewOIDC returns the OIDC authenticator. devLoopback allows an http loopback
// jwks_uri (the emulator); d sends the discovery and JWKS requests.
func NewOIDC(cfg OIDCConfig, roles Roles, devLoopback bool, refetch time.Duration, d Doer, now func() time.Time) *OIDC {
	issuer := cfg.Issuer.String()
	var (
		mu      sync.Mutex
		jwksURI string
	)
	fetch := func(ctx context.Context) ([]jwk, error) {
		mu.Lock()
		uri := jwksURI
		mu.Unlock()
		if uri == "" {
			var err error
			if uri, err = discover(ctx, d, issuer, devLoopback); err != nil {
				return nil, err
			}
			mu.Lock()
			jwksURI = uri
			mu.Unlock()
		}
		return fetchKeySet(d, uri)(ctx)
	}
	return &OIDC{cfg: cfg, roles: roles, verify: &verifier{
		keys:   &keySet{fetch: fetch, minInterval: refetch, now: now},
		issuer: issuer, audience: cfg.Audience, acceptAZP: true, now: now,
	}}
}

// discover reads the issuer's discovery document and returns its jwks_uri, after
// checking that the document names this very issuer (§4.3) and that the key set is
// served over https (or loopback in development).
func discover(ctx context.Context, d Doer, issuer string, devLoopback bool) (string, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	body, err := fetchJSON(ctx, d, issuer+"/.well-known/openid-configuration")
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", errors.New("identity: discovery document is not a JSON object")
	}
	if doc.Issuer != issuer {
		return "", errors.New("identity: discovery document names another issuer")
	}
	u, err := url.Parse(doc.JWKSURI)
	if err != nil || u.Host == "" || u.User != nil ||
		!(u.Scheme == "https" || (devLoopback && u.Scheme == "http" && outbound.IsLoopback(u.Hostname()))) {
		return "", errors.New("identity: discovery document's jwks_uri is not an https URL")
	}
	return u.String(), nil
}

// Authenticate implements Authenticator for JWT-shaped bearer tokens.
func (o *OIDC) Authenticate(r *http.Request) (Identity, error) {
	token := BearerToken(r)
	if strings.Count(token, ".") != 2 {
		return Identity{}, ErrNoCredentials
	}
	claims, reg, err := o.verify.verify(r.Context(), token)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %v", ErrInvalidCredentials, err)
	}
	actor := actorOf(claims, o.cfg.ActorClaim)
	if actor == "" {
		return Identity{}, fmt.Errorf("%w: token names no actor", ErrInvalidCredentials)
	}
	roles := stringsAt(claims, o.cfg.RolesPath)
	return Identity{
		Actor:       actor,
		Kind:        KindOIDC,
		Subject:     reg.Subject,
		Roles:       roles,
		Permissions: Grant(roles, o.roles),
	}, nil
}

// actorOf returns the audit trail's name for the caller: the configured claim, else
// preferred_username, else sub. An e-mail address is used only if the issuer verified
// it (email_verified is JSON true, OpenID Connect Core §5.1): an address anyone can
// type into their profile must not become the name of the human in the audit trail.
func actorOf(claims json.RawMessage, actorClaim string) string {
	for _, p := range []string{actorClaim, "preferred_username", "sub"} {
		if p == "email" && gjson.GetBytes(claims, "email_verified").Type != gjson.True {
			continue
		}
		if v := firstString(claims, p); v != "" {
			return v
		}
	}
	return ""
}

// firstString returns the first non-empty string claim among the gjson paths.
func firstString(claims json.RawMessage, paths ...string) string {
	for _, p := range paths {
		if v := gjson.GetBytes(claims, p); v.Type == gjson.String && strings.TrimSpace(v.Str) != "" {
			return strings.TrimSpace(v.Str)
		}
	}
	return ""
}

// stringsAt returns the strings at a gjson path: an array of strings, or one string.
func stringsAt(claims json.RawMessage, path string) []string {
	v := gjson.GetBytes(claims, path)
	var out []string
	if v.Type == gjson.String {
		return []string{v.Str}
	}
	v.ForEach(func(_, item gjson.Result) bool {
		if item.Type == gjson.String {
			out = append(out, item.Str)
		}
		return true
	})
	return out
}
