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
//     with no bound; here waiters share a fetch's result but never depend on the
//     request that started it for longer than fetchTimeout (see keySet).
//   - go-oidc verifies ID tokens; the Worker verifies access tokens (aud or azp names
//     the extension's client) and Cloudflare Access tokens with the same code, and
//     throttles refetches prompted by unknown key ids, which RemoteKeySet does not.
//   - Its errors can carry parts of the fetched documents; these carry none.
//
// Why not github.com/go-jose/go-jose: the Worker verifies only compact JWS with RS256
// or ES256, which crypto/rsa, crypto/ecdsa and crypto/sha256 (linked anyway) do in a
// page of code, while go-jose added about 370 KB gzip to the wasm that every cold
// start compiles. The checks it made are kept here: only RS256 and ES256, the key's
// type, curve and alg must match the token's alg, exactly one signature, no critical
// header extensions, and the registered claims with the same leeway.

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

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

// The only signature algorithms accepted (RFC 7518 §3). Any other, "none" and HMAC
// (an HS256 token signed with the RSA public key as its secret) included, is refused
// before a key is looked up.
const (
	algRS256 = "RS256"
	algES256 = "ES256"
)

// Doer sends one outbound HTTP request (the Fetch API in workerd).
type Doer = outbound.Doer

// keySet caches a remote JWKS. Safe for concurrent use.
//
// The mutex guards only the cached state and is never held across a fetch, so a token
// whose kid is cached verifies at once while a refetch is under way. Requests that
// need a fetch while one is in flight wait for that one instead of starting their own.
// In workerd the fetch belongs to the request that started it (wasm/worker.mjs runs
// each request's I/O in its own context); what the others wait for is only its result,
// plain Go data, which is safe to share across requests. Should the starting request
// go away before its fetch completes, a waiter stops waiting after fetchTimeout and
// fetches itself, so no request hangs on another.
type keySet struct {
	mu          sync.Mutex
	fetch       func(ctx context.Context) ([]jwk, error)
	keys        []jwk
	fetchedAt   time.Time // zero until a fetch succeeded
	lastAttempt time.Time // of the last fetch started, successful or not
	attempted   bool
	inflight    *keyFetch
	minInterval time.Duration // between fetches not forced by a stale set
	now         func() time.Time
}

// keyFetch is one fetch in flight; done is closed when keys and err are set.
type keyFetch struct {
	done chan struct{}
	keys []jwk
	err  error
}

// errUnknownKey means no key in the (refreshed) set has the token's kid.
var errUnknownKey = errors.New("identity: unknown signing key")

// key returns the key with kid. An unknown kid refetches the set at most once per
// minInterval, counted from the first attempt (successful or not), so a flood of
// made-up kids costs one fetch even while the issuer is failing; a set older than
// keySetMaxAge is refreshed first.
func (k *keySet) key(ctx context.Context, kid string) (jwk, error) {
	k.mu.Lock()
	now := k.now()
	fresh := !k.fetchedAt.IsZero() && now.Sub(k.fetchedAt) < keySetMaxAge
	if fresh {
		if key, ok := lookup(k.keys, kid); ok {
			k.mu.Unlock()
			return key, nil
		}
	}
	f := k.inflight
	if f == nil {
		if k.attempted && now.Sub(k.lastAttempt) < k.minInterval {
			k.mu.Unlock()
			if fresh {
				return jwk{}, errUnknownKey
			}
			return jwk{}, errors.New("identity: signing keys could not be fetched; retrying later")
		}
		f = k.start(ctx, now)
	}
	k.mu.Unlock()

	keys, err := k.wait(ctx, f)
	if err != nil {
		return jwk{}, err
	}
	if key, ok := lookup(keys, kid); ok {
		return key, nil
	}
	return jwk{}, errUnknownKey
}

// start begins a fetch with ctx's request and returns it (the caller holds mu).
func (k *keySet) start(ctx context.Context, now time.Time) *keyFetch {
	f := &keyFetch{done: make(chan struct{})}
	k.inflight, k.lastAttempt, k.attempted = f, now, true
	go func() {
		keys, err := k.fetch(ctx)
		k.mu.Lock()
		if err == nil {
			k.keys, k.fetchedAt = keys, k.now()
		}
		if k.inflight == f {
			k.inflight = nil
		}
		f.keys, f.err = keys, err
		k.mu.Unlock()
		close(f.done)
	}()
	return f
}

// wait returns f's outcome. If f does not finish within fetchTimeout (the request that
// started it is gone), the waiter fetches with its own request.
func (k *keySet) wait(ctx context.Context, f *keyFetch) ([]jwk, error) {
	timer := time.NewTimer(fetchTimeout + time.Second)
	defer timer.Stop()
	select {
	case <-f.done:
		return f.keys, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-timer.C:
	}
	k.mu.Lock()
	if k.inflight == f {
		k.inflight = nil
	}
	own := k.start(ctx, k.now())
	k.mu.Unlock()
	select {
	case <-own.done:
		return own.keys, own.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// lookup finds the key with kid; an empty kid matches only a set with exactly one key.
func lookup(keys []jwk, kid string) (jwk, bool) {
	if kid == "" {
		if len(keys) == 1 {
			return keys[0], true
		}
		return jwk{}, false
	}
	for _, key := range keys {
		if key.kid == kid {
			return key, true
		}
	}
	return jwk{}, false
}

// fetchJSON GETs url and returns its body, which must be JSON.
func fetchJSON(ctx context.Context, d Doer, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	status, body, err := outbound.Do(ctx, d, req, maxKeySetBody)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("identity: GET %s: status %d", req.URL.Redacted(), status)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("identity: GET %s: not JSON", req.URL.Redacted())
	}
	return body, nil
}

func fetchKeySet(d Doer, url string) func(ctx context.Context) ([]jwk, error) {
	return func(ctx context.Context) ([]jwk, error) {
		body, err := fetchJSON(ctx, d, url)
		if err != nil {
			return nil, err
		}
		return parseJWKS(body)
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

// registered are the claims checked for every token (RFC 7519 §4.1).
type registered struct {
	Issuer          string       `json:"iss"`
	Subject         string       `json:"sub"`
	Audience        audience     `json:"aud"`
	Expiry          *numericDate `json:"exp"`
	NotBefore       *numericDate `json:"nbf"`
	IssuedAt        *numericDate `json:"iat"`
	AuthorizedParty string       `json:"azp"`
	// Type is Keycloak's token type claim: "Bearer" for access tokens, "ID" for ID
	// tokens, which must not be accepted as credentials.
	Type string `json:"typ"`
}

// audience is aud: one string or an array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud must be a string or an array of strings")
	}
	*a = many
	return nil
}

func (a audience) contains(s string) bool {
	for _, v := range a {
		if v == s {
			return true
		}
	}
	return false
}

// numericDate is seconds since the epoch, possibly fractional (RFC 7519 §2).
type numericDate struct{ t time.Time }

func (d *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil || math.IsNaN(f) || math.Abs(f) > 1e12 {
		return errors.New("a date claim must be a number of seconds")
	}
	sec, frac := math.Modf(f)
	d.t = time.Unix(int64(sec), int64(frac*1e9))
	return nil
}

// header is the JOSE header of a compact JWS (RFC 7515 §4.1).
type header struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

// verify returns the verified claims of raw. Its errors are for the log; callers
// answer every one of them the same way.
func (v *verifier) verify(ctx context.Context, raw string) (json.RawMessage, registered, error) {
	var reg registered
	if len(raw) > maxTokenLen {
		return nil, reg, errors.New("identity: token too long")
	}
	// Compact serialisation: exactly one signature (a JSON serialisation never has two
	// dots in a row, and is refused here).
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, reg, errors.New("identity: parse: not a compact JWS")
	}
	var h header
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &h) != nil {
		return nil, reg, errors.New("identity: parse: malformed header")
	}
	if h.Alg != algRS256 && h.Alg != algES256 {
		return nil, reg, fmt.Errorf("identity: parse: algorithm %q is not allowed", h.Alg)
	}
	if h.Crit != nil {
		return nil, reg, errors.New("identity: parse: critical header extensions are not supported")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, reg, errors.New("identity: parse: malformed signature")
	}
	key, err := v.keys.key(ctx, h.Kid)
	if err != nil {
		return nil, reg, err
	}
	if key.alg != "" && key.alg != h.Alg {
		return nil, reg, fmt.Errorf("identity: key %q is for %s, token uses %s", key.kid, key.alg, h.Alg)
	}
	if err := verifySignature(h.Alg, key.key, []byte(parts[0]+"."+parts[1]), sig); err != nil {
		return nil, reg, fmt.Errorf("identity: signature or claims: %w", err)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, reg, errors.New("identity: signature or claims: malformed payload")
	}
	var claims json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil || len(claims) == 0 || claims[0] != '{' {
		return nil, reg, errors.New("identity: signature or claims: the payload is not a JSON object")
	}
	if err := json.Unmarshal(claims, &reg); err != nil {
		return nil, reg, fmt.Errorf("identity: signature or claims: %w", err)
	}
	if err := v.checkClaims(reg); err != nil {
		return nil, reg, err
	}
	return claims, reg, nil
}

// verifySignature checks sig over input with key, whose type must be alg's.
func verifySignature(alg string, key crypto.PublicKey, input, sig []byte) error {
	digest := sha256.Sum256(input)
	switch alg {
	case algRS256:
		pub, ok := key.(*rsa.PublicKey)
		if !ok {
			return errors.New("RS256 token, but the key is not an RSA key")
		}
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig)
	case algES256:
		pub, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return errors.New("ES256 token, but the key is not a P-256 key")
		}
		// RFC 7518 §3.4: R and S as two 32-octet big-endian integers, not ASN.1.
		if len(sig) != 64 {
			return errors.New("ES256 signature must be 64 octets")
		}
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(pub, digest[:], r, s) {
			return errors.New("ES256 signature does not verify")
		}
		return nil
	}
	return fmt.Errorf("algorithm %q is not allowed", alg)
}

// checkClaims applies the registered-claim rules with clockSkew of leeway: the issuer,
// a required exp not passed, nbf and iat not in the future, the audience, and the
// token type.
func (v *verifier) checkClaims(reg registered) error {
	now := v.now()
	switch {
	case reg.Issuer != v.issuer:
		return errors.New("identity: validation failed, invalid issuer claim (iss)")
	case reg.Expiry == nil:
		return errors.New("identity: token has no exp")
	case !now.Before(reg.Expiry.t.Add(clockSkew)):
		return errors.New("identity: validation failed, token is expired (exp)")
	case reg.NotBefore != nil && now.Add(clockSkew).Before(reg.NotBefore.t):
		return errors.New("identity: validation failed, token not valid yet (nbf)")
	case reg.IssuedAt != nil && now.Add(clockSkew).Before(reg.IssuedAt.t):
		return errors.New("identity: validation failed, token issued in the future (iat)")
	case !reg.Audience.contains(v.audience) && !(v.acceptAZP && reg.AuthorizedParty == v.audience):
		return errors.New("identity: token is not for this audience")
	case reg.Type != "" && !strings.EqualFold(reg.Type, "Bearer"):
		return fmt.Errorf("identity: token type %q is not an access token", reg.Type)
	}
	return nil
}
