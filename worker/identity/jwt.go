package identity

// Why not github.com/coreos/go-oidc (its RemoteKeySet and IDTokenVerifier), which does
// what this file does:
//
//   - RemoteKeySet fetches keys through an *http.Client taken from the context. Inside
//     workerd there is none that works (outbound calls must go through the Fetch API,
//     wasm/fetch.go), and linking net/http's client transport adds about 1.2 MB gzip to
//     the wasm.
//   - workerd refuses I/O on behalf of another request and cancels I/O whose request
//     has ended. RemoteKeySet lets concurrent verifications wait on one shared fetch
//     started by whichever request came first; here every fetch runs with the context
//     of the request that needs it.
//   - go-oidc verifies ID tokens; the Worker verifies access tokens (aud or azp names
//     the extension's client) and Cloudflare Access tokens with the same code, and
//     throttles refetches prompted by unknown key ids, which RemoteKeySet does not.
//   - Its errors can carry parts of the fetched documents; these carry none.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/actas-dev/actas/worker/internal/outbound"
)

// Limits of JWT verification (RFC 7519, RFC 7515, RFC 7517).
const (
	// clockSkew is how far exp, nbf and iat may be off: small, since both sides are
	// NTP-synchronised servers.
	clockSkew = 30 * time.Second
	// maxTokenLen refuses oversized bearer tokens before any parsing.
	maxTokenLen = 16 << 10
	// maxKeySetBody bounds a JWKS or discovery document.
	maxKeySetBody = 256 << 10
	// keySetMaxAge is how long a fetched key set is used before it is refreshed even
	// without an unknown kid, so a removed (compromised) key stops verifying.
	keySetMaxAge = time.Hour
	// fetchTimeout bounds one fetch of a key set or discovery document.
	fetchTimeout = 5 * time.Second
)

// allowedAlgs are the only signature algorithms accepted. go-jose refuses any other
// before looking at a key, so "none" and HMAC (an HS256 token signed with the RSA
// public key as its secret) never verify.
var allowedAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// Doer sends one outbound HTTP request (the Fetch API in workerd).
type Doer = outbound.Doer

// keySet caches a remote JWKS. Safe for concurrent use; concurrent misses share one
// fetch because the mutex is held across it.
type keySet struct {
	mu          sync.Mutex
	fetch       func(ctx context.Context) (*jose.JSONWebKeySet, error)
	keys        *jose.JSONWebKeySet
	fetchedAt   time.Time
	lastAttempt time.Time
	minInterval time.Duration // between fetches prompted by an unknown kid
	now         func() time.Time
}

// errUnknownKey means no key in the (refreshed) set has the token's kid.
var errUnknownKey = errors.New("identity: unknown signing key")

// key returns the key with kid, refetching the set when the kid is unknown (at most
// once per minInterval, so a flood of made-up kids costs one fetch) or the set is
// older than keySetMaxAge.
func (k *keySet) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	fresh := k.keys != nil && now.Sub(k.fetchedAt) < keySetMaxAge
	if fresh {
		if key := lookup(k.keys, kid); key != nil {
			return key, nil
		}
	}
	if k.keys != nil && now.Sub(k.lastAttempt) < k.minInterval {
		if !fresh {
			return nil, errors.New("identity: signing keys are stale and refetched too recently")
		}
		return nil, errUnknownKey
	}
	k.lastAttempt = now
	set, err := k.fetch(ctx)
	if err != nil {
		return nil, err
	}
	k.keys, k.fetchedAt = set, now
	if key := lookup(set, kid); key != nil {
		return key, nil
	}
	return nil, errUnknownKey
}

// lookup finds the public signing key with kid; an empty kid matches only a set with
// exactly one signing key.
func lookup(set *jose.JSONWebKeySet, kid string) *jose.JSONWebKey {
	var found *jose.JSONWebKey
	n := 0
	for i := range set.Keys {
		key := &set.Keys[i]
		if key.Use == "enc" || !key.IsPublic() || !key.Valid() {
			continue
		}
		n++
		if kid != "" && key.KeyID == kid {
			return key
		}
		found = key
	}
	if kid == "" && n == 1 {
		return found
	}
	return nil
}

// fetchJSON GETs url and decodes its JSON answer into v.
func fetchJSON(ctx context.Context, d Doer, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	status, body, err := outbound.Do(ctx, d, req, maxKeySetBody)
	if err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("identity: GET %s: status %d", req.URL.Redacted(), status)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("identity: GET %s: %w", req.URL.Redacted(), err)
	}
	return nil
}

func fetchKeySet(d Doer, url string) func(ctx context.Context) (*jose.JSONWebKeySet, error) {
	return func(ctx context.Context) (*jose.JSONWebKeySet, error) {
		var set jose.JSONWebKeySet
		if err := fetchJSON(ctx, d, url, &set); err != nil {
			return nil, err
		}
		return &set, nil
	}
}

// verifier checks a JWT's signature against a key set and its registered claims
// against what is expected, and returns its verified claims as raw JSON.
type verifier struct {
	keys   *keySet
	issuer string
	// audience must be in aud, or equal azp when acceptAZP (OIDC: Keycloak access
	// tokens name the client in azp).
	audience  string
	acceptAZP bool
	now       func() time.Time
}

// registered are the claims checked for every token.
type registered struct {
	jwt.Claims
	AuthorizedParty string `json:"azp"`
	// Type is Keycloak's token type claim: "Bearer" for access tokens, "ID" for ID
	// tokens, which must not be accepted as credentials.
	Type string `json:"typ"`
}

// verify returns the verified claims of raw. Its errors are for the log; callers
// answer every one of them the same way.
func (v *verifier) verify(ctx context.Context, raw string) (json.RawMessage, registered, error) {
	var reg registered
	if len(raw) > maxTokenLen {
		return nil, reg, errors.New("identity: token too long")
	}
	tok, err := jwt.ParseSigned(raw, allowedAlgs)
	if err != nil {
		return nil, reg, fmt.Errorf("identity: parse: %w", err)
	}
	if len(tok.Headers) != 1 {
		return nil, reg, errors.New("identity: token must carry exactly one signature")
	}
	h := tok.Headers[0]
	key, err := v.keys.key(ctx, h.KeyID)
	if err != nil {
		return nil, reg, err
	}
	if key.Algorithm != "" && key.Algorithm != h.Algorithm {
		return nil, reg, fmt.Errorf("identity: key %q is for %s, token uses %s", key.KeyID, key.Algorithm, h.Algorithm)
	}
	var claims json.RawMessage
	if err := tok.Claims(key.Key, &claims, &reg); err != nil {
		return nil, reg, fmt.Errorf("identity: signature or claims: %w", err)
	}
	if reg.Expiry == nil {
		return nil, reg, errors.New("identity: token has no exp")
	}
	if err := reg.ValidateWithLeeway(jwt.Expected{Issuer: v.issuer, Time: v.now()}, clockSkew); err != nil {
		return nil, reg, fmt.Errorf("identity: %w", err)
	}
	if !reg.Audience.Contains(v.audience) && !(v.acceptAZP && reg.AuthorizedParty == v.audience) {
		return nil, reg, errors.New("identity: token is not for this audience")
	}
	if reg.Type != "" && !strings.EqualFold(reg.Type, "Bearer") {
		return nil, reg, fmt.Errorf("identity: token type %q is not an access token", reg.Type)
	}
	return claims, reg, nil
}
