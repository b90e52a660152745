package main

// Test signing: a JWS compact serialization (RFC 7515 §7.1) with a header
// and claims exactly as a test asks, signed with the realm's current key.
// It exists so that tests of a token verifier can get validly signed tokens
// that are wrong in one chosen way (issuer, audience, times, roles, kid,
// algorithm). It is reachable only through the loopback control API.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
)

// testSignAlgs are the "alg" values /_control/sign understands. Beyond the
// realm's own RS256 and ES256 they include what a verifier must refuse:
// other RSA algorithms made with the same key, "none" (no signature) and
// HS256/384/512 keyed with the current public key in PEM, the classic
// algorithm-confusion attack.
var testSignAlgs = map[string]crypto.Hash{
	"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512,
	"PS256": crypto.SHA256, "PS384": crypto.SHA384, "PS512": crypto.SHA512,
	"ES256": crypto.SHA256,
	"HS256": crypto.SHA256, "HS384": crypto.SHA384, "HS512": crypto.SHA512,
	"none": 0,
}

// signRaw signs claims (a JSON object) under header (a JSON object).
// header defaults to {"alg": the key's algorithm, "typ": "JWT", "kid": the
// key's id}; a field set to null is left out.
func signRaw(k *signingKey, headerOverrides map[string]any, claims json.RawMessage) (string, error) {
	header := map[string]any{"alg": string(k.alg), "typ": "JWT", "kid": k.kid}
	maps.Copy(header, headerOverrides)
	maps.DeleteFunc(header, func(_ string, v any) bool { return v == nil })
	alg, _ := header["alg"].(string)
	hash, ok := testSignAlgs[alg]
	if !ok {
		return "", fmt.Errorf("unsupported alg %v", header["alg"])
	}
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sig, err := rawSignature(k, alg, hash, []byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

func rawSignature(k *signingKey, alg string, hash crypto.Hash, input []byte) ([]byte, error) {
	if alg == "none" {
		return nil, nil
	}
	if alg[0] == 'H' {
		pub, err := x509.MarshalPKIXPublicKey(k.priv.Public())
		if err != nil {
			return nil, err
		}
		mac := hmac.New(hash.New, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
		mac.Write(input)
		return mac.Sum(nil), nil
	}
	d := hash.New()
	d.Write(input)
	digest := d.Sum(nil)
	switch priv := k.priv.(type) {
	case *rsa.PrivateKey:
		switch alg[0] {
		case 'R':
			return rsa.SignPKCS1v15(nil, priv, hash, digest)
		case 'P':
			return rsa.SignPSS(rand.Reader, priv, hash, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
	case *ecdsa.PrivateKey:
		if alg == "ES256" {
			r, s, err := ecdsa.Sign(rand.Reader, priv, digest)
			if err != nil {
				return nil, err
			}
			sig := make([]byte, 64) // RFC 7518 §3.4: R and S, 32 bytes each
			r.FillBytes(sig[:32])
			s.FillBytes(sig[32:])
			return sig, nil
		}
	}
	return nil, errors.New("alg " + alg + " does not fit the current key (" + string(k.alg) + "); rotate keys to change it")
}
