package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// rsaKeyBits is the size of the signing keys, the size Keycloak generates by
// default.
const rsaKeyBits = 2048

// maxKeys bounds how many keys the set keeps after rotations: the current key
// plus the previous ones whose tokens may still be in flight.
const maxKeys = 3

// signingKey is one RS256 (RSA) or ES256 (P-256) key with its key id (the
// RFC 7638 thumbprint).
type signingKey struct {
	kid    string
	alg    jose.SignatureAlgorithm
	priv   crypto.Signer
	signer jose.Signer
}

// verifyAlgs are the algorithms the realm signs with and accepts.
var verifyAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// keySet holds the realm's signing keys, newest first. It is safe for
// concurrent use. Tokens are signed with the newest key and verified against
// any key still in the set, so that a rotation does not invalidate tokens
// issued just before it.
type keySet struct {
	mu   sync.RWMutex
	keys []*signingKey
}

// newRSAKey generates a fresh RSA signing key.
func newRSAKey() (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, rsaKeyBits)
	if err != nil {
		return nil, fmt.Errorf("keys: generate: %w", err)
	}
	return k, nil
}

// newKey generates a fresh key for alg, RS256 or ES256.
func newKey(alg jose.SignatureAlgorithm) (crypto.Signer, error) {
	switch alg {
	case jose.RS256:
		return newRSAKey()
	case jose.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("keys: generate: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("keys: unsupported algorithm %q (RS256 or ES256)", alg)
}

// newKeySet returns a key set whose current key is priv.
func newKeySet(priv crypto.Signer) (*keySet, error) {
	ks := &keySet{}
	if err := ks.add(priv, false); err != nil {
		return nil, err
	}
	return ks, nil
}

// add makes priv the current signing key. It drops every older key when
// dropOld is set, else only the oldest beyond maxKeys.
func (ks *keySet) add(priv crypto.Signer, dropOld bool) error {
	var alg jose.SignatureAlgorithm
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		alg = jose.RS256
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return errors.New("keys: only P-256 EC keys are supported")
		}
		alg = jose.ES256
	default:
		return fmt.Errorf("keys: unsupported key type %T", priv)
	}
	jwk := jose.JSONWebKey{Key: priv.Public(), Algorithm: string(alg), Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return fmt.Errorf("keys: thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return fmt.Errorf("keys: signer: %w", err)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if dropOld {
		ks.keys = nil
	}
	ks.keys = append([]*signingKey{{kid: kid, alg: alg, priv: priv, signer: signer}}, ks.keys...)
	if len(ks.keys) > maxKeys {
		ks.keys = ks.keys[:maxKeys]
	}
	return nil
}

// rotate makes a fresh key for alg the current one. Older keys stay in the
// set for verification unless dropOld is set, in which case tokens they
// signed stop verifying.
func (ks *keySet) rotate(alg jose.SignatureAlgorithm, dropOld bool) error {
	priv, err := newKey(alg)
	if err != nil {
		return err
	}
	return ks.add(priv, dropOld)
}

// current returns the signing key.
func (ks *keySet) current() *signingKey {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	return ks.keys[0]
}

// kids returns the key ids in the set, newest first.
func (ks *keySet) kids() []string {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	ids := make([]string, len(ks.keys))
	for i, k := range ks.keys {
		ids[i] = k.kid
	}
	return ids
}

// publicJWKS is the JSON Web Key Set served at the certs endpoint.
func (ks *keySet) publicJWKS() jose.JSONWebKeySet {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(ks.keys))}
	for _, k := range ks.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       k.priv.Public(),
			KeyID:     k.kid,
			Algorithm: string(k.alg),
			Use:       "sig",
		})
	}
	return set
}

// sign serializes claims as a JWT signed with the current key.
func (ks *keySet) sign(claims any) (string, error) {
	ks.mu.RLock()
	signer := ks.keys[0].signer
	ks.mu.RUnlock()
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("keys: sign: %w", err)
	}
	return s, nil
}

var errUnknownKey = errors.New("keys: unknown key id")

// verify checks raw's signature against the key its header names (with that
// key's algorithm) and decodes the claims into dest. It does not check time
// or issuer claims.
func (ks *keySet) verify(raw string, dest any) error {
	tok, err := jwt.ParseSigned(raw, verifyAlgs)
	if err != nil {
		return fmt.Errorf("keys: parse: %w", err)
	}
	if len(tok.Headers) != 1 {
		return errors.New("keys: expected exactly one signature")
	}
	kid := tok.Headers[0].KeyID
	ks.mu.RLock()
	var pub crypto.PublicKey
	for _, k := range ks.keys {
		if k.kid == kid && string(k.alg) == tok.Headers[0].Algorithm {
			pub = k.priv.Public()
			break
		}
	}
	ks.mu.RUnlock()
	if pub == nil {
		return errUnknownKey
	}
	if err := tok.Claims(pub, dest); err != nil {
		return fmt.Errorf("keys: verify: %w", err)
	}
	return nil
}
