package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
)

// minRSABits refuses RSA keys too short to trust (NIST SP 800-57: 2048 bits).
const minRSABits = 2048

// maxRSAExponent keeps e within what crypto/rsa accepts (an int, odd, above 1).
const maxRSAExponent = 1<<31 - 1

// jwk is one usable public verification key of a JWKS (RFC 7517), already parsed.
type jwk struct {
	kid string
	alg string // the JWK's own "alg", "" when it names none
	key crypto.PublicKey
}

// rawJWK holds the members of a JWK that matter here (RFC 7517 §4, RFC 7518 §6).
type rawJWK struct {
	Kty    string   `json:"kty"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	Kid    string   `json:"kid"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
	D      string   `json:"d"` // present only in a private key, which a JWKS must never hold
}

// parseJWKS parses a JWKS document into the keys that can verify RS256 or ES256
// signatures. A key that cannot (encryption keys, private keys, other key types and
// curves, RSA keys under minRSABits, malformed members, points off the curve) is
// skipped rather than failing the set, so one odd key does not lock everyone out.
func parseJWKS(body []byte) ([]jwk, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, errors.New("identity: key set is not a JWKS document")
	}
	var keys []jwk
	for _, raw := range doc.Keys {
		var k rawJWK
		if json.Unmarshal(raw, &k) != nil {
			continue
		}
		if key, ok := k.parse(); ok {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

func (k rawJWK) parse() (jwk, bool) {
	if (k.Use != "" && k.Use != "sig") || k.D != "" || !verifyOp(k.KeyOps) {
		return jwk{}, false
	}
	out := jwk{kid: k.Kid, alg: k.Alg}
	switch k.Kty {
	case "RSA":
		if k.Alg != "" && k.Alg != algRS256 {
			return jwk{}, false
		}
		pub, ok := rsaKey(k.N, k.E)
		if !ok {
			return jwk{}, false
		}
		out.key = pub
	case "EC":
		if k.Crv != "P-256" || (k.Alg != "" && k.Alg != algES256) {
			return jwk{}, false
		}
		pub, ok := p256Key(k.X, k.Y)
		if !ok {
			return jwk{}, false
		}
		out.key = pub
	default:
		return jwk{}, false
	}
	return out, true
}

// verifyOp reports whether key_ops, when present, allows verification.
func verifyOp(ops []string) bool {
	if ops == nil {
		return true
	}
	for _, op := range ops {
		if op == "verify" {
			return true
		}
	}
	return false
}

func rsaKey(n64, e64 string) (*rsa.PublicKey, bool) {
	n, err := base64.RawURLEncoding.DecodeString(n64)
	if err != nil || len(n) == 0 || n[0] == 0 { // RFC 7518 §6.3.1.1: no leading zero octets
		return nil, false
	}
	e, err := base64.RawURLEncoding.DecodeString(e64)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, false
	}
	eb := new(big.Int).SetBytes(e)
	if !eb.IsInt64() || eb.Int64() < 3 || eb.Int64() > maxRSAExponent || eb.Bit(0) == 0 {
		return nil, false
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(eb.Int64())}
	if pub.N.BitLen() < minRSABits {
		return nil, false
	}
	return pub, true
}

// p256Key builds a P-256 public key from its coordinates, refusing a point that is
// not on the curve (an invalid-curve attack's key).
func p256Key(x64, y64 string) (*ecdsa.PublicKey, bool) {
	x, err := base64.RawURLEncoding.DecodeString(x64)
	if err != nil || len(x) != 32 {
		return nil, false
	}
	y, err := base64.RawURLEncoding.DecodeString(y64)
	if err != nil || len(y) != 32 {
		return nil, false
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, false
	}
	return pub, true
}
