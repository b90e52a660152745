package identity_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/actas-dev/actas/worker/identity"
)

const (
	audience = "actas-extension"
	adaUUID  = "277d9440-2424-476b-8fa3-56b1776b89f8"
)

// idp is a minimal OpenID provider: discovery and a JWKS it can rotate.
type idp struct {
	t         *testing.T
	srv       *httptest.Server
	mu        sync.Mutex
	keys      []jose.JSONWebKey // private keys; the JWKS serves their public halves
	jwksHits  atomic.Int32
	issuerFix string // when set, discovery names this issuer instead
	discHits  atomic.Int32
	failing   atomic.Bool   // discovery and JWKS answer 503
	rawJWKS   []byte        // when set, served as the JWKS instead of keys
	gate      chan struct{} // when set, a JWKS request waits for it to close
}

func newIDP(t *testing.T) *idp {
	p := &idp{t: t}
	p.rotate()
	mux := http.NewServeMux()
	mux.HandleFunc("/realms/demo/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discHits.Add(1)
		if p.failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		iss := p.issuer()
		if p.issuerFix != "" {
			iss = p.issuerFix
		}
		json.NewEncoder(w).Encode(map[string]string{"issuer": iss, "jwks_uri": p.srv.URL + "/realms/demo/certs"})
	})
	mux.HandleFunc("/realms/demo/certs", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		if p.failing.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		gate, raw := p.gate, p.rawJWKS
		p.mu.Unlock()
		if gate != nil {
			<-gate
		}
		if raw != nil {
			w.Write(raw)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		var set jose.JSONWebKeySet
		for _, k := range p.keys {
			set.Keys = append(set.Keys, k.Public())
		}
		json.NewEncoder(w).Encode(set)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) issuer() string { return p.srv.URL + "/realms/demo" }

// rotate makes a new RSA signing key current, keeping the old ones in the JWKS.
func (p *idp) rotate() {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	kid := base64.RawURLEncoding.EncodeToString(randBytes(8))
	p.keys = append(p.keys, jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: "RS256", Use: "sig"})
}

func (p *idp) current() jose.JSONWebKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[len(p.keys)-1]
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// claims are a valid Keycloak-shaped access token for ada.
func (p *idp) claims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": p.issuer(), "sub": adaUUID, "aud": []string{"account"}, "azp": audience,
		"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "typ": "Bearer",
		"email": "ada@example.com", "email_verified": true, "preferred_username": "ada",
		"realm_access":    map[string]any{"roles": []string{"offline_access"}},
		"resource_access": map[string]any{audience: map[string]any{"roles": []string{"actas-impersonator", "crm-support"}}},
	}
}

func sign(t *testing.T, key jose.JSONWebKey, alg jose.SignatureAlgorithm, claims map[string]any) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(s).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// handMade builds a compact JWS with any header, for algorithms go-jose will not sign.
func handMade(header, claims map[string]any, sig func(signingInput []byte) []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return in + "." + base64.RawURLEncoding.EncodeToString(sig([]byte(in)))
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (p *idp) authenticator(clk *clock) *identity.OIDC {
	iss, _ := url.Parse(p.issuer())
	cfg := identity.OIDCConfig{Issuer: iss, Audience: audience, RolesPath: "resource_access." + audience + ".roles", ActorClaim: "email"}
	return identity.NewOIDC(cfg, roleNames, true, 10*time.Second, p.srv.Client(), clk.now)
}

func bearer(token string) *http.Request {
	r := httptest.NewRequest("GET", "/v1/me", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func TestOIDC(t *testing.T) {
	p := newIDP(t)
	key := p.current()
	rsaPub := key.Key.(*rsa.PrivateKey).Public()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	with := func(mut func(map[string]any)) map[string]any {
		c := p.claims()
		mut(c)
		return c
	}
	tests := []struct {
		name      string
		token     func() string
		wantActor string
	}{
		{"valid", func() string { return sign(t, key, jose.RS256, p.claims()) }, "ada@example.com"},
		{"audience in aud instead of azp", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { c["aud"] = audience; delete(c, "azp") }))
		}, "ada@example.com"},
		{"actor falls back to preferred_username", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { delete(c, "email") }))
		}, "ada"},
		{"an unverified email is not the actor", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { c["email_verified"] = false }))
		}, "ada"},
		{"an email without email_verified is not the actor", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { delete(c, "email_verified") }))
		}, "ada"},
		{"email_verified must be a JSON boolean", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { c["email_verified"] = "true" }))
		}, "ada"},
		{"an unverified email falls back to sub", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { c["email_verified"] = false; delete(c, "preferred_username") }))
		}, adaUUID},
		{"nbf within skew", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { c["nbf"] = time.Now().Add(20 * time.Second).Unix() }))
		}, "ada@example.com"},
		{"alg none", func() string {
			return handMade(map[string]any{"alg": "none", "kid": key.KeyID}, p.claims(), func([]byte) []byte { return nil })
		}, ""},
		{"HS256 with the RSA public key as secret", func() string {
			der, _ := x509.MarshalPKIXPublicKey(rsaPub)
			return handMade(map[string]any{"alg": "HS256", "kid": key.KeyID}, p.claims(), func(in []byte) []byte {
				m := hmac.New(sha256.New, der)
				m.Write(in)
				return m.Sum(nil)
			})
		}, ""},
		{"RS512 is not allowed", func() string {
			return handMade(map[string]any{"alg": "RS512", "kid": key.KeyID}, p.claims(), func(in []byte) []byte {
				h := crypto.SHA512.New()
				h.Write(in)
				sig, _ := rsa.SignPKCS1v15(rand.Reader, key.Key.(*rsa.PrivateKey), crypto.SHA512, h.Sum(nil))
				return sig
			})
		}, ""},
		{"signed by a key not in the JWKS", func() string {
			return sign(t, jose.JSONWebKey{Key: ecKey, KeyID: key.KeyID}, jose.ES256, p.claims())
		}, ""},
		{"tampered payload", func() string {
			good := strings.Split(sign(t, key, jose.RS256, p.claims()), ".")
			evil, _ := json.Marshal(with(func(c map[string]any) { c["email"] = "mallory@example.com" }))
			return good[0] + "." + base64.RawURLEncoding.EncodeToString(evil) + "." + good[2] // good signature, other payload
		}, ""},
		{"wrong iss", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { c["iss"] = "https://evil.example/realms/demo" }))
		}, ""},
		{"wrong aud and azp", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { c["azp"] = "other-app" }))
		}, ""},
		{"expired", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }))
		}, ""},
		{"no exp", func() string { return sign(t, key, jose.RS256, with(func(c map[string]any) { delete(c, "exp") })) }, ""},
		{"nbf beyond skew", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { c["nbf"] = time.Now().Add(2 * time.Minute).Unix() }))
		}, ""},
		{"iat in the future", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { c["iat"] = time.Now().Add(2 * time.Minute).Unix() }))
		}, ""},
		{"an ID token is not an access token", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { c["typ"] = "ID"; c["aud"] = audience }))
		}, ""},
		{"no actor", func() string {
			return sign(t, key, jose.RS256, with(func(c map[string]any) { delete(c, "email"); delete(c, "preferred_username"); delete(c, "sub") }))
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := p.authenticator(&clock{t: time.Now()})
			id, err := a.Authenticate(bearer(tt.token()))
			if tt.wantActor == "" {
				if !errors.Is(err, identity.ErrInvalidCredentials) {
					t.Fatalf("accepted (%+v) or wrong error: %v", id, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if id.Actor != tt.wantActor || id.Kind != identity.KindOIDC || id.Subject != adaUUID ||
				!id.Can(identity.Impersonate) || id.Can(identity.Audit) || !id.HasRole("crm-support") {
				t.Errorf("identity %+v", id)
			}
		})
	}
}

func TestOIDCRoles(t *testing.T) {
	p := newIDP(t)
	a := p.authenticator(&clock{t: time.Now()})
	c := p.claims()
	c["resource_access"] = map[string]any{audience: map[string]any{"roles": []string{"actas-auditor"}}}
	id, err := a.Authenticate(bearer(sign(t, p.current(), jose.RS256, c)))
	if err != nil || id.Can(identity.Impersonate) || !id.Can(identity.Audit) {
		t.Errorf("auditor: %+v %v", id, err)
	}
	delete(c, "resource_access")
	id, err = a.Authenticate(bearer(sign(t, p.current(), jose.RS256, c)))
	if err != nil || len(id.Permissions) != 0 {
		t.Errorf("no roles: %+v %v", id, err)
	}
}

func TestOIDCNotMine(t *testing.T) {
	p := newIDP(t)
	a := p.authenticator(&clock{t: time.Now()})
	for _, tok := range []string{"", "actas_plainkey", "a.b"} {
		r := httptest.NewRequest("GET", "/", nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+tok)
		}
		if _, err := a.Authenticate(r); !errors.Is(err, identity.ErrNoCredentials) {
			t.Errorf("%q: %v", tok, err)
		}
	}
	if p.jwksHits.Load() != 0 {
		t.Error("fetched keys for a request that carried no JWT")
	}
}

func TestDiscoveryMustNameTheIssuer(t *testing.T) {
	p := newIDP(t)
	p.issuerFix = "https://evil.example/realms/demo"
	a := p.authenticator(&clock{t: time.Now()})
	if _, err := a.Authenticate(bearer(sign(t, p.current(), jose.RS256, p.claims()))); !errors.Is(err, identity.ErrInvalidCredentials) {
		t.Fatalf("err = %v", err)
	}
}

// Keys are cached; an unknown kid refetches once per interval, so rotation is picked
// up and a flood of made-up kids costs one fetch.
func TestKeyRotationAndRefetchThrottle(t *testing.T) {
	p := newIDP(t)
	clk := &clock{t: time.Now()}
	a := p.authenticator(clk)
	for i := 0; i < 5; i++ {
		if _, err := a.Authenticate(bearer(sign(t, p.current(), jose.RS256, p.claims()))); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.jwksHits.Load(); got != 1 {
		t.Fatalf("JWKS fetched %d times for 5 tokens, want 1", got)
	}

	// A flood of unknown kids right after: at most one more fetch.
	for i := 0; i < 50; i++ {
		k := jose.JSONWebKey{Key: p.current().Key, KeyID: base64.RawURLEncoding.EncodeToString(randBytes(6))}
		if _, err := a.Authenticate(bearer(sign(t, k, jose.RS256, p.claims()))); err == nil {
			t.Fatal("unknown kid accepted")
		}
	}
	if got := p.jwksHits.Load(); got > 2 {
		t.Fatalf("JWKS fetched %d times during a flood of unknown kids, want at most 2", got)
	}

	// Rotation: the new kid is refused while refetching is throttled, then accepted.
	p.rotate()
	fresh := sign(t, p.current(), jose.RS256, p.claims())
	if _, err := a.Authenticate(bearer(fresh)); err == nil {
		t.Fatal("a new kid was accepted without a refetch")
	}
	clk.add(11 * time.Second)
	if _, err := a.Authenticate(bearer(fresh)); err != nil {
		t.Fatalf("rotated key refused after the interval: %v", err)
	}
	before := p.jwksHits.Load()
	if _, err := a.Authenticate(bearer(fresh)); err != nil || p.jwksHits.Load() != before {
		t.Fatalf("rotated key not cached: %v, fetches %d -> %d", err, before, p.jwksHits.Load())
	}

	// A stale set is refreshed even without an unknown kid.
	clk.add(2 * time.Hour)
	later := p.claims()
	later["iat"], later["exp"] = clk.now().Unix(), clk.now().Add(time.Minute).Unix()
	if _, err := a.Authenticate(bearer(sign(t, p.current(), jose.RS256, later))); err != nil {
		t.Fatal(err)
	}
	if p.jwksHits.Load() != before+1 {
		t.Errorf("stale key set not refreshed")
	}
}

func TestAccess(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key := jose.JSONWebKey{Key: ecKey, KeyID: "access-1", Algorithm: "ES256"}
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/cdn-cgi/access/certs" {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}})
	}))
	defer srv.Close()
	team, _ := url.Parse(srv.URL)
	cfg := identity.AccessConfig{TeamURL: team, AUD: "aud-tag-123", Impersonators: []string{"*@support.example.com"}, Auditors: []string{"grace@example.com"}}
	a := identity.NewAccess(cfg, roleNames, 10*time.Second, srv.Client(), time.Now)
	claims := func(email, aud string) map[string]any {
		return map[string]any{"iss": srv.URL, "aud": []string{aud}, "email": email, "sub": "s-1",
			"exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(), "type": "app"}
	}
	req := func(token string) *http.Request {
		r := httptest.NewRequest("GET", "/v1/me", nil)
		r.Header.Set("Cf-Access-Jwt-Assertion", token)
		return r
	}
	id, err := a.Authenticate(req(sign(t, key, jose.ES256, claims("Ada@Support.Example.com", "aud-tag-123"))))
	if err != nil || id.Actor != "ada@support.example.com" || id.Kind != identity.KindAccess || !id.Can(identity.Impersonate) || id.Can(identity.Audit) {
		t.Errorf("impersonator: %+v %v", id, err)
	}
	id, err = a.Authenticate(req(sign(t, key, jose.ES256, claims("grace@example.com", "aud-tag-123"))))
	if err != nil || id.Can(identity.Impersonate) || !id.Can(identity.Audit) {
		t.Errorf("auditor: %+v %v", id, err)
	}
	for name, tok := range map[string]string{
		"other application": sign(t, key, jose.ES256, claims("ada@support.example.com", "other-aud")),
		"forged":            handMade(map[string]any{"alg": "none"}, claims("ada@support.example.com", "aud-tag-123"), func([]byte) []byte { return nil }),
		"look-alike domain": "",
	} {
		if tok == "" {
			id, err := a.Authenticate(req(sign(t, key, jose.ES256, claims("ada@evilsupport.example.com", "aud-tag-123"))))
			if err != nil || len(id.Permissions) != 0 {
				t.Errorf("%s: %+v %v", name, id, err)
			}
			continue
		}
		if _, err := a.Authenticate(req(tok)); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := a.Authenticate(httptest.NewRequest("GET", "/", nil)); !errors.Is(err, identity.ErrNoCredentials) {
		t.Errorf("no header: %v", err)
	}
}
