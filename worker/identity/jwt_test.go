package identity_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/actas-dev/actas/worker/identity"
)

var b64 = base64.RawURLEncoding

func rsaJWK(kid string, pub *rsa.PublicKey, extra map[string]any) map[string]any {
	m := map[string]any{"kty": "RSA", "kid": kid, "n": b64.EncodeToString(pub.N.Bytes()),
		"e": b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func ecJWK(kid, crv string, pub *ecdsa.PublicKey, size int, extra map[string]any) map[string]any {
	m := map[string]any{"kty": "EC", "kid": kid, "crv": crv,
		"x": b64.EncodeToString(pub.X.FillBytes(make([]byte, size))),
		"y": b64.EncodeToString(pub.Y.FillBytes(make([]byte, size)))}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func (p *idp) serveJWKS(t *testing.T, keys ...map[string]any) {
	raw, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.rawJWKS = raw
	p.mu.Unlock()
}

// es256DER signs like ES256 but encodes the signature as ASN.1 DER, which JWS forbids.
func es256DER(key *ecdsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		sig, _ := ecdsa.SignASN1(rand.Reader, key, d[:])
		return sig
	}
}

func es256Raw(key *ecdsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		r, s, _ := ecdsa.Sign(rand.Reader, key, d[:])
		return append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	}
}

// The standard-library verifier accepts what it must and refuses every confusion of
// algorithm, key type, curve, key size and key id.
func TestJWSKeysAndAlgorithms(t *testing.T) {
	p := newIDP(t)
	rsaKey := p.current().Key.(*rsa.PrivateKey)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	short, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsaAs := func(kid string) jose.JSONWebKey { return jose.JSONWebKey{Key: rsaKey, KeyID: kid} }
	ecAs := func(kid string) jose.JSONWebKey { return jose.JSONWebKey{Key: ecKey, KeyID: kid} }

	tests := []struct {
		name  string
		jwks  []map[string]any
		token func() string
		ok    bool
	}{
		{"RS256", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, nil)},
			func() string { return sign(t, rsaAs("r1"), jose.RS256, p.claims()) }, true},
		{"ES256", []map[string]any{ecJWK("e1", "P-256", &ecKey.PublicKey, 32, map[string]any{"alg": "ES256", "use": "sig"})},
			func() string { return sign(t, ecAs("e1"), jose.ES256, p.claims()) }, true},
		{"ES256 signature in DER", []map[string]any{ecJWK("e1", "P-256", &ecKey.PublicKey, 32, nil)},
			func() string {
				return handMade(map[string]any{"alg": "ES256", "kid": "e1"}, p.claims(), es256DER(ecKey))
			}, false},
		{"hand-made ES256", []map[string]any{ecJWK("e1", "P-256", &ecKey.PublicKey, 32, nil)},
			func() string {
				return handMade(map[string]any{"alg": "ES256", "kid": "e1"}, p.claims(), es256Raw(ecKey))
			}, true},
		{"alg none, empty signature", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, nil)},
			func() string {
				return handMade(map[string]any{"alg": "none", "kid": "r1"}, p.claims(), func([]byte) []byte { return nil })
			}, false},
		{"alg None", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, nil)},
			func() string {
				return handMade(map[string]any{"alg": "None"}, p.claims(), func([]byte) []byte { return nil })
			}, false},
		{"RS256 header, kid of an EC key", []map[string]any{ecJWK("e1", "P-256", &ecKey.PublicKey, 32, nil)},
			func() string { return sign(t, rsaAs("e1"), jose.RS256, p.claims()) }, false},
		{"ES256 header, kid of an RSA key", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, nil)},
			func() string {
				return handMade(map[string]any{"alg": "ES256", "kid": "r1"}, p.claims(), es256Raw(ecKey))
			}, false},
		{"key's alg differs from the token's", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, map[string]any{"alg": "PS256"})},
			func() string { return sign(t, rsaAs("r1"), jose.RS256, p.claims()) }, false},
		{"wrong curve: a P-384 key named P-256", []map[string]any{ecJWK("e1", "P-256", &p384.PublicKey, 48, nil)},
			func() string { return sign(t, jose.JSONWebKey{Key: p384, KeyID: "e1"}, jose.ES384, p.claims()) }, false},
		{"wrong curve: ES384 with a P-384 key", []map[string]any{ecJWK("e1", "P-384", &p384.PublicKey, 48, nil)},
			func() string { return sign(t, jose.JSONWebKey{Key: p384, KeyID: "e1"}, jose.ES384, p.claims()) }, false},
		{"point not on the curve", []map[string]any{ecJWK("e1", "P-256", &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}, 32, nil)},
			func() string { return sign(t, ecAs("e1"), jose.ES256, p.claims()) }, false},
		{"RSA key under 2048 bits", []map[string]any{rsaJWK("s1", &short.PublicKey, nil)},
			func() string { return sign(t, jose.JSONWebKey{Key: short, KeyID: "s1"}, jose.RS256, p.claims()) }, false},
		{"encryption key", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, map[string]any{"use": "enc"})},
			func() string { return sign(t, rsaAs("r1"), jose.RS256, p.claims()) }, false},
		{"key_ops without verify", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, map[string]any{"key_ops": []string{"encrypt"}})},
			func() string { return sign(t, rsaAs("r1"), jose.RS256, p.claims()) }, false},
		{"a private key in the JWKS is not used", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, map[string]any{"d": b64.EncodeToString(rsaKey.D.Bytes())})},
			func() string { return sign(t, rsaAs("r1"), jose.RS256, p.claims()) }, false},
		{"no kid, one key", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, nil)},
			func() string { return sign(t, rsaAs(""), jose.RS256, p.claims()) }, true},
		{"no kid, two keys", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, nil), ecJWK("e1", "P-256", &ecKey.PublicKey, 32, nil)},
			func() string { return sign(t, rsaAs(""), jose.RS256, p.claims()) }, false},
		{"kid picks among several", []map[string]any{ecJWK("e1", "P-256", &ecKey.PublicKey, 32, nil), rsaJWK("r1", &rsaKey.PublicKey, nil)},
			func() string { return sign(t, rsaAs("r1"), jose.RS256, p.claims()) }, true},
		{"kid of another key", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, nil), rsaJWK("r2", &short.PublicKey, nil)},
			func() string { return sign(t, rsaAs("r2"), jose.RS256, p.claims()) }, false},
		{"unusable keys beside a good one are skipped", []map[string]any{{"kty": "oct", "k": "c2VjcmV0"}, {"kty": "RSA", "n": "%%%"}, rsaJWK("r1", &rsaKey.PublicKey, nil)},
			func() string { return sign(t, rsaAs("r1"), jose.RS256, p.claims()) }, true},
		{"critical header extension", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, nil)},
			func() string {
				return handMade(map[string]any{"alg": "RS256", "kid": "r1", "crit": []string{"b64"}, "b64": false}, p.claims(), rs256(rsaKey))
			}, false},
		{"payload that is not an object", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, nil)},
			func() string {
				h, _ := json.Marshal(map[string]any{"alg": "RS256", "kid": "r1"})
				in := b64.EncodeToString(h) + "." + b64.EncodeToString([]byte(`["not","claims"]`))
				return in + "." + b64.EncodeToString(rs256(rsaKey)([]byte(in)))
			}, false},
		{"aud as one string", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, nil)},
			func() string {
				c := p.claims()
				c["aud"], c["azp"] = audience, "someone-else"
				return sign(t, rsaAs("r1"), jose.RS256, c)
			}, true},
		{"fractional exp", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, nil)},
			func() string {
				c := p.claims()
				c["exp"] = float64(time.Now().Add(time.Minute).Unix()) + 0.5
				return sign(t, rsaAs("r1"), jose.RS256, c)
			}, true},
		{"exp as a string", []map[string]any{rsaJWK("r1", &rsaKey.PublicKey, nil)},
			func() string {
				c := p.claims()
				c["exp"] = "4102444800"
				return sign(t, rsaAs("r1"), jose.RS256, c)
			}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p.serveJWKS(t, tt.jwks...)
			a := p.authenticator(&clock{t: time.Now()})
			_, err := a.Authenticate(bearer(tt.token()))
			if tt.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tt.ok && !errors.Is(err, identity.ErrInvalidCredentials) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
		})
	}
}

func rs256(key *rsa.PrivateKey) func([]byte) []byte {
	return func(in []byte) []byte {
		d := sha256.Sum256(in)
		sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
		return sig
	}
}

// While the issuer cannot be reached, a flood of tokens costs one attempt per
// interval from the very first one, not one fetch per token.
func TestKeyFetchThrottledFromTheFirstAttempt(t *testing.T) {
	p := newIDP(t)
	p.failing.Store(true)
	clk := &clock{t: time.Now()}
	a := p.authenticator(clk)
	for i := 0; i < 30; i++ {
		k := jose.JSONWebKey{Key: p.current().Key, KeyID: b64.EncodeToString(randBytes(6))}
		if _, err := a.Authenticate(bearer(sign(t, k, jose.RS256, p.claims()))); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	if got := p.discHits.Load() + p.jwksHits.Load(); got != 1 {
		t.Fatalf("%d fetches for 30 tokens while the issuer fails, want 1", got)
	}
	// After the interval, the issuer is back and a valid token verifies.
	p.failing.Store(false)
	clk.add(11 * time.Second)
	if _, err := a.Authenticate(bearer(sign(t, p.current(), jose.RS256, p.claims()))); err != nil {
		t.Fatal(err)
	}
}

// A token whose kid is cached never waits for a refetch someone else's unknown kid
// started; concurrent unknown kids share that one fetch.
func TestCachedKeyDoesNotWaitForARefetch(t *testing.T) {
	p := newIDP(t)
	clk := &clock{t: time.Now()}
	a := p.authenticator(clk)
	good := sign(t, p.current(), jose.RS256, p.claims())
	if _, err := a.Authenticate(bearer(good)); err != nil {
		t.Fatal(err)
	}
	clk.add(11 * time.Second) // past the refetch interval

	gate := make(chan struct{})
	p.mu.Lock()
	p.gate = gate
	p.mu.Unlock()
	hitsBefore := p.jwksHits.Load()

	const unknown = 5
	var wg sync.WaitGroup
	for i := 0; i < unknown; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := jose.JSONWebKey{Key: p.current().Key, KeyID: "made-up"}
			a.Authenticate(bearer(sign(t, k, jose.RS256, p.claims())))
		}()
	}
	// Wait until the refetch is at the server (held by the gate).
	for deadline := time.Now().Add(5 * time.Second); p.jwksHits.Load() == hitsBefore; {
		if time.Now().After(deadline) {
			t.Fatal("no refetch started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.Authenticate(bearer(good))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		close(gate)
		t.Fatal("a cached kid waited for the refetch")
	}
	close(gate)
	wg.Wait()
	if got := p.jwksHits.Load() - hitsBefore; got != 1 {
		t.Fatalf("%d refetches for %d concurrent unknown kids, want 1", got, unknown)
	}
}
