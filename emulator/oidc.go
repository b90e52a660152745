package main

// The realm's OpenID Connect provider endpoints, shaped like Keycloak's:
// discovery (OpenID Connect Discovery 1.0), JWKS (RFC 7517) and the OAuth 2.0
// token endpoint (RFC 6749 §3.2) with the client_credentials grant (§4.4) and
// client authentication by client_secret_basic or client_secret_post
// (§2.3.1). Access tokens are RS256 (or, after a rotation to ES256, ES256)
// JWTs (RFC 7519). The grants for admins are in usertokens.go.

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// accessTokenTTL is the lifetime of access tokens, Keycloak's default.
const accessTokenTTL = 300 * time.Second

// defaultScope is what Keycloak grants a service account by default.
const defaultScope = "profile email"

// discovery is the OpenID Provider Metadata document.
type discovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	PromptValuesSupported             []string `json:"prompt_values_supported"`
	AuthorizationResponseISSSupported bool     `json:"authorization_response_iss_parameter_supported"`
}

func (s *server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	oidc := s.realmURL("/protocol/openid-connect")
	writeJSON(w, http.StatusOK, discovery{
		Issuer:                            s.issuer(),
		AuthorizationEndpoint:             oidc + "/auth",
		TokenEndpoint:                     oidc + "/token",
		JWKSURI:                           oidc + "/certs",
		EndSessionEndpoint:                oidc + "/logout",
		GrantTypesSupported:               slices.Sorted(maps.Keys(s.grantTypes)),
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256", "ES256"},
		TokenEndpointAuthMethodsSupported: []string{"client_secret_basic", "client_secret_post", "none"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		ScopesSupported:                   supportedScopes,
		PromptValuesSupported:             []string{"none", "login", "consent", "select_account"},
		AuthorizationResponseISSSupported: true,
	})
}

func (s *server) handleCerts(w http.ResponseWriter, r *http.Request) {
	s.stats.jwksRequests.Add(1)
	w.Header().Set("Cache-Control", "no-cache")
	writeJSON(w, http.StatusOK, s.keys.publicJWKS())
}

// grantHandler answers a token request whose form has been parsed.
type grantHandler func(w http.ResponseWriter, r *http.Request)

// oauthError is an RFC 6749 §5.2 error response.
type oauthError struct {
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	status      int
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func (s *server) writeOAuthError(w http.ResponseWriter, e *oauthError) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if e.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+s.seed.Realm+`"`)
	}
	writeJSON(w, e.status, e)
}

func (s *server) handleToken(w http.ResponseWriter, r *http.Request) {
	s.stats.tokenRequests.Add(1)
	delay(r.Context(), &s.faults)
	if s.faults.get().TokenDown {
		s.writeOAuthError(w, &oauthError{Code: "temporarily_unavailable",
			Description: "token endpoint is down (fault injected)", status: http.StatusServiceUnavailable})
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		s.writeOAuthError(w, &oauthError{Code: "invalid_request",
			Description: "body must be application/x-www-form-urlencoded", status: http.StatusBadRequest})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		s.writeOAuthError(w, &oauthError{Code: "invalid_request",
			Description: "malformed form body", status: http.StatusBadRequest})
		return
	}
	for key, vals := range r.PostForm {
		if len(vals) > 1 { // RFC 6749 §3.2: parameters MUST NOT be repeated
			s.writeOAuthError(w, &oauthError{Code: "invalid_request",
				Description: "parameter " + key + " is repeated", status: http.StatusBadRequest})
			return
		}
	}
	grantType := r.PostForm.Get("grant_type")
	if grantType == "" {
		s.writeOAuthError(w, &oauthError{Code: "invalid_request",
			Description: "missing grant_type", status: http.StatusBadRequest})
		return
	}
	h, ok := s.grantTypes[grantType]
	if !ok {
		s.writeOAuthError(w, &oauthError{Code: "unsupported_grant_type",
			Description: "unsupported grant_type", status: http.StatusBadRequest})
		return
	}
	h(w, r)
}

// clientCredentials is the RFC 6749 §4.4 grant for service accounts.
func (s *server) clientCredentials(w http.ResponseWriter, r *http.Request) {
	sa, oerr := s.authenticateClient(r)
	if oerr != nil {
		s.writeOAuthError(w, oerr)
		return
	}
	now := s.now()
	token, err := s.keys.sign(s.serviceAccountClaims(sa, now))
	if err != nil {
		s.log.Error("sign access token", "err", err)
		s.writeOAuthError(w, &oauthError{Code: "server_error", status: http.StatusInternalServerError})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: token,
		TokenType:   "Bearer",
		ExpiresIn:   int(accessTokenTTL / time.Second),
		Scope:       defaultScope,
	})
}

// tokenResponse is RFC 6749 §5.1's answer; the refresh and ID token fields
// are only in answers to admins' grants.
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token,omitempty"`
	RefreshExpiresIn int    `json:"refresh_expires_in,omitempty"`
	IDToken          string `json:"id_token,omitempty"`
	Scope            string `json:"scope"`
}

// accessClaims are the claims of an access token, Keycloak-shaped.
type accessClaims struct {
	jwt.Claims
	Type              string                  `json:"typ"`
	AuthorizedParty   string                  `json:"azp"`
	Scope             string                  `json:"scope"`
	ClientID          string                  `json:"client_id"`
	PreferredUsername string                  `json:"preferred_username"`
	ResourceAccess    map[string]resourceRole `json:"resource_access,omitempty"`
}

type resourceRole struct {
	Roles []string `json:"roles"`
}

// hasClientRole reports whether the token carries client role role of client.
func (c accessClaims) hasClientRole(client, role string) bool {
	return slices.Contains(c.ResourceAccess[client].Roles, role)
}

func (s *server) serviceAccountClaims(sa ServiceAccount, now time.Time) accessClaims {
	resource := map[string]resourceRole{}
	for _, cr := range sa.Roles {
		client, role, _ := strings.Cut(cr, "/")
		rr := resource[client]
		rr.Roles = append(rr.Roles, role)
		resource[client] = rr
	}
	return accessClaims{
		Claims: jwt.Claims{
			Issuer:   s.issuer(),
			Subject:  sa.ID,
			Audience: slices.Sorted(maps.Keys(resource)),
			Expiry:   jwt.NewNumericDate(now.Add(accessTokenTTL)),
			IssuedAt: jwt.NewNumericDate(now),
			ID:       uuid.NewString(),
		},
		Type:              "Bearer",
		AuthorizedParty:   sa.ClientID,
		Scope:             defaultScope,
		ClientID:          sa.ClientID,
		PreferredUsername: "service-account-" + sa.ClientID,
		ResourceAccess:    resource,
	}
}

// authenticateClient checks client_secret_basic or client_secret_post
// credentials. RFC 6749 §2.3.1: with Basic, id and secret are each
// form-urlencoded before base64; a client must not use both methods.
func (s *server) authenticateClient(r *http.Request) (ServiceAccount, *oauthError) {
	invalid := &oauthError{Code: "invalid_client", Description: "client authentication failed",
		status: http.StatusUnauthorized}
	id, secret, basic := r.BasicAuth()
	postID, postSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	switch {
	case r.Header.Get("Authorization") != "" && !basic:
		return ServiceAccount{}, invalid
	case basic && postSecret != "":
		return ServiceAccount{}, &oauthError{Code: "invalid_request",
			Description: "use one client authentication method", status: http.StatusBadRequest}
	case basic:
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err := errors.Join(err1, err2); err != nil {
			return ServiceAccount{}, invalid
		}
		if postID != "" && postID != id {
			return ServiceAccount{}, invalid
		}
	case postID != "":
		id, secret = postID, postSecret
	default:
		return ServiceAccount{}, invalid
	}
	sa, known := s.seed.serviceAccount(id)
	// Compare fixed-size digests in constant time, and compare even for an
	// unknown client, so timing tells neither the secret nor which ids exist.
	want := sha256.Sum256([]byte(sa.Secret))
	got := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 || !known || secret == "" {
		return ServiceAccount{}, invalid
	}
	return sa, nil
}

// verifyAccessToken checks that raw is an unexpired access token this realm
// issued and returns its claims.
func (s *server) verifyAccessToken(raw string) (accessClaims, error) {
	var c accessClaims
	if err := s.keys.verify(raw, &c); err != nil {
		return accessClaims{}, err
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: s.issuer(), Time: s.now()}, 0); err != nil {
		return accessClaims{}, err
	}
	if c.Expiry == nil || c.Type != "Bearer" {
		return accessClaims{}, errors.New("not an access token")
	}
	// RFC 7519 §4.1.4: the current time must be before exp; go-jose still
	// accepts a token at exactly exp.
	if !s.now().Before(c.Expiry.Time()) {
		return accessClaims{}, jwt.ErrExpired
	}
	return c, nil
}

// bearerToken extracts the RFC 6750 bearer token from the Authorization
// header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	if token == "" || len(token) > maxBearerBytes {
		return "", false
	}
	return token, true
}

// maxBearerBytes bounds bearer tokens; ours are about 1 KB.
const maxBearerBytes = 8 << 10
