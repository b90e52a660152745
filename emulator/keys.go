package main

import (
	"crypto"
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

// signingKey is one RS256 key with its key id (the RFC 7638 thumbprint).
type signingKey struct {
	kid    string
	priv   *rsa.PrivateKey
	signer jose.Signer
}

// keySet holds the realm's signing keys, newest first. It is safe for
// concurrent use. Tokens are signed with the newest key and verified against
// any key still in the set, so that a rotation does not invalidate tokens
// issued just before it.
type keySet struct {
	mu   sync.RWMutex
	keys []*signingKey
}

// newRSAKey generates a fresh signing key.
func newRSAKey() (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, rsaKeyBits)
	if err != nil {
		return nil, fmt.Errorf("keys: generate: %w", err)
	}
	return k, nil
}

// newKeySet returns a key set whose current key is priv.
func newKeySet(priv *rsa.PrivateKey) (*keySet, error) {
	ks := &keySet{}
	if err := ks.add(priv); err != nil {
		return nil, err
	}
	return ks, nil
}

// add makes priv the current signing key and drops the oldest keys beyond
// maxKeys.
func (ks *keySet) add(priv *rsa.PrivateKey) error {
	jwk := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: string(jose.RS256), Use: "sig"}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return fmt.Errorf("keys: thumbprint: %w", err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: priv, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"),
	)
	if err != nil {
		return fmt.Errorf("keys: signer: %w", err)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.keys = append([]*signingKey{{kid: kid, priv: priv, signer: signer}}, ks.keys...)
	if len(ks.keys) > maxKeys {
		ks.keys = ks.keys[:maxKeys]
	}
	return nil
}

// rotate generates a new current key; older keys stay valid for verification.
func (ks *keySet) rotate() error {
	priv, err := newRSAKey()
	if err != nil {
		return err
	}
	return ks.add(priv)
}

// publicJWKS is the JSON Web Key Set served at the certs endpoint.
func (ks *keySet) publicJWKS() jose.JSONWebKeySet {
	ks.mu.RLock()
	defer ks.mu.RUnlock()
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(ks.keys))}
	for _, k := range ks.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{
			Key:       &k.priv.PublicKey,
			KeyID:     k.kid,
			Algorithm: string(jose.RS256),
			Use:       "sig",
		})
	}
	return set
}

// sign serializes claims as an RS256 JWT signed with the current key.
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

// verify checks raw's RS256 signature against the key its header names and
// decodes the claims into dest. It does not check time or issuer claims.
func (ks *keySet) verify(raw string, dest any) error {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return fmt.Errorf("keys: parse: %w", err)
	}
	if len(tok.Headers) != 1 {
		return errors.New("keys: expected exactly one signature")
	}
	kid := tok.Headers[0].KeyID
	ks.mu.RLock()
	var pub *rsa.PublicKey
	for _, k := range ks.keys {
		if k.kid == kid {
			pub = &k.priv.PublicKey
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
