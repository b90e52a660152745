package main

// Tokens for admins: the authorization_code grant with PKCE (RFC 6749 §4.1.3,
// RFC 7636 §4.5-4.6) and the refresh_token grant with rotation (RFC 6749 §6,
// RFC 9700 §4.14) for public clients, the Keycloak-shaped access and ID
// tokens they answer with (OpenID Connect Core 1.0 §2).

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// accountClient and accountRoles are what Keycloak puts in every user's token
// for its account console, and why "account" is an audience.
const accountClient = "account"

var accountRoles = []string{"manage-account", "manage-account-links", "view-profile"}

// defaultRealmRoles are the realm roles Keycloak gives every user; they grant
// nothing in actas, so a role check must look for a specific role.
func (s *server) defaultRealmRoles() []string {
	return []string{"default-roles-" + s.seed.Realm, "offline_access", "uma_authorization"}
}

// pkceVerifier is RFC 7636 §4.1: 43-128 unreserved characters.
var pkceVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// adminAccessClaims are the claims of an admin's access token, laid out as
// Keycloak lays them out.
type adminAccessClaims struct {
	jwt.Claims
	AuthTime          int64                   `json:"auth_time"`
	Type              string                  `json:"typ"`
	AuthorizedParty   string                  `json:"azp"`
	SessionState      string                  `json:"session_state"`
	ACR               string                  `json:"acr"`
	RealmAccess       resourceRole            `json:"realm_access"`
	ResourceAccess    map[string]resourceRole `json:"resource_access"`
	Scope             string                  `json:"scope"`
	SID               string                  `json:"sid"`
	EmailVerified     bool                    `json:"email_verified"`
	Name              string                  `json:"name"`
	PreferredUsername string                  `json:"preferred_username"`
	GivenName         string                  `json:"given_name"`
	FamilyName        string                  `json:"family_name"`
	Email             string                  `json:"email"`
}

// idTokenClaims are the claims of an admin's ID token.
type idTokenClaims struct {
	jwt.Claims
	AuthTime          int64  `json:"auth_time"`
	Nonce             string `json:"nonce,omitempty"`
	Type              string `json:"typ"`
	AuthorizedParty   string `json:"azp"`
	SessionState      string `json:"session_state"`
	AtHash            string `json:"at_hash"`
	ACR               string `json:"acr"`
	SID               string `json:"sid"`
	EmailVerified     bool   `json:"email_verified"`
	Name              string `json:"name"`
	PreferredUsername string `json:"preferred_username"`
	GivenName         string `json:"given_name"`
	FamilyName        string `json:"family_name"`
	Email             string `json:"email"`
}

// signInGrant is what admin tokens are issued for: one session, one client.
type signInGrant struct {
	ClientID  string
	SessionID string
	Scope     string
	Nonce     string
	AuthTime  time.Time
	Family    string
}

func splitName(name string) (given, family string) {
	given, family, _ = strings.Cut(name, " ")
	return given, family
}

// adminClaims builds an admin's access token claims.
func (s *server) adminClaims(admin Admin, g signInGrant, now time.Time) adminAccessClaims {
	given, family := splitName(admin.Name)
	resource := map[string]resourceRole{accountClient: {Roles: slices.Clone(accountRoles)}}
	if len(admin.Roles) > 0 { // Keycloak leaves out a client without roles
		resource[g.ClientID] = resourceRole{Roles: slices.Clone(admin.Roles)}
	}
	return adminAccessClaims{
		Claims: jwt.Claims{
			Issuer:   s.issuer(),
			Subject:  admin.UUID,
			Audience: jwt.Audience{g.ClientID, accountClient},
			Expiry:   jwt.NewNumericDate(now.Add(accessTokenTTL)),
			IssuedAt: jwt.NewNumericDate(now),
			ID:       uuid.NewString(),
		},
		AuthTime:          g.AuthTime.Unix(),
		Type:              "Bearer",
		AuthorizedParty:   g.ClientID,
		SessionState:      g.SessionID,
		ACR:               "1",
		RealmAccess:       resourceRole{Roles: append(slices.Clone(admin.Roles), s.defaultRealmRoles()...)},
		ResourceAccess:    resource,
		Scope:             g.Scope,
		SID:               g.SessionID,
		EmailVerified:     true,
		Name:              admin.Name,
		PreferredUsername: admin.Username,
		GivenName:         given,
		FamilyName:        family,
		Email:             admin.Email,
	}
}

// adminTokens signs an access and an ID token for g and stores a new
// refresh token in g's family.
func (s *server) adminTokens(admin Admin, g signInGrant, now time.Time) (tokenResponse, error) {
	access, err := s.keys.sign(s.adminClaims(admin, g, now))
	if err != nil {
		return tokenResponse{}, err
	}
	atHash := sha256.Sum256([]byte(access)) // RS256 and ES256 both hash with SHA-256
	given, family := splitName(admin.Name)
	id, err := s.keys.sign(idTokenClaims{
		Claims: jwt.Claims{
			Issuer:   s.issuer(),
			Subject:  admin.UUID,
			Audience: jwt.Audience{g.ClientID},
			Expiry:   jwt.NewNumericDate(now.Add(accessTokenTTL)),
			IssuedAt: jwt.NewNumericDate(now),
			ID:       uuid.NewString(),
		},
		AuthTime:          g.AuthTime.Unix(),
		Nonce:             g.Nonce,
		Type:              "ID",
		AuthorizedParty:   g.ClientID,
		SessionState:      g.SessionID,
		AtHash:            base64.RawURLEncoding.EncodeToString(atHash[:len(atHash)/2]),
		ACR:               "1",
		SID:               g.SessionID,
		EmailVerified:     true,
		Name:              admin.Name,
		PreferredUsername: admin.Username,
		GivenName:         given,
		FamilyName:        family,
		Email:             admin.Email,
	})
	if err != nil {
		return tokenResponse{}, err
	}
	refresh := s.signin.issueRefresh(refreshToken{
		Family: g.Family, ClientID: g.ClientID, AdminUUID: admin.UUID, SessionID: g.SessionID,
		Scope: g.Scope, Nonce: g.Nonce, AuthTime: g.AuthTime, Expires: now.Add(refreshTokenTTL),
	}, now)
	return tokenResponse{
		AccessToken:      access,
		TokenType:        "Bearer",
		ExpiresIn:        int(accessTokenTTL / time.Second),
		RefreshToken:     refresh,
		RefreshExpiresIn: int(refreshTokenTTL / time.Second),
		IDToken:          id,
		Scope:            g.Scope,
	}, nil
}

// writeTokens answers a token request with tr, or a server error.
func (s *server) writeTokens(w http.ResponseWriter, tr tokenResponse, err error) {
	if err != nil {
		s.log.Error("sign admin tokens", "err", err)
		s.writeOAuthError(w, &oauthError{Code: "server_error", status: http.StatusInternalServerError})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tr)
}

// publicClientOf identifies the public client of a token request: client_id
// in the form and no client authentication (RFC 6749 §2.1, §3.2.1).
func (s *server) publicClientOf(r *http.Request) (PublicClient, *oauthError) {
	id := r.PostForm.Get("client_id")
	if id == "" {
		return PublicClient{}, &oauthError{Code: "invalid_request", Description: "client_id is required", status: http.StatusBadRequest}
	}
	c, ok := s.seed.publicClient(id)
	if !ok || r.Header.Get("Authorization") != "" || r.PostForm.Has("client_secret") {
		return PublicClient{}, &oauthError{Code: "invalid_client", Description: "unknown public client, or a public client sent credentials",
			status: http.StatusUnauthorized}
	}
	return c, nil
}

func invalidGrant(description string) *oauthError {
	return &oauthError{Code: "invalid_grant", Description: description, status: http.StatusBadRequest}
}

// authorizationCode redeems a code (RFC 6749 §4.1.3) after checking the
// PKCE verifier (RFC 7636 §4.6). The code is spent by the first attempt,
// whether or not that attempt succeeds.
func (s *server) authorizationCode(w http.ResponseWriter, r *http.Request) {
	client, oerr := s.publicClientOf(r)
	if oerr != nil {
		s.writeOAuthError(w, oerr)
		return
	}
	f := r.PostForm
	for _, name := range []string{"code", "redirect_uri", "code_verifier"} {
		if f.Get(name) == "" {
			s.writeOAuthError(w, &oauthError{Code: "invalid_request", Description: name + " is required", status: http.StatusBadRequest})
			return
		}
	}
	now := s.now()
	c, err := s.signin.redeemCode(f.Get("code"), now)
	switch {
	case errors.Is(err, errCodeReused):
		s.writeOAuthError(w, invalidGrant("code already used; tokens issued from it are revoked"))
		return
	case errors.Is(err, errCodeExpired):
		s.writeOAuthError(w, invalidGrant("code expired"))
		return
	case err != nil:
		s.writeOAuthError(w, invalidGrant("code not valid"))
		return
	case c.ClientID != client.ClientID:
		s.writeOAuthError(w, invalidGrant("code was issued to another client"))
		return
	case c.RedirectURI != f.Get("redirect_uri"):
		s.writeOAuthError(w, invalidGrant("redirect_uri differs from the authorization request"))
		return
	case !pkceMatches(f.Get("code_verifier"), c.CodeChallenge):
		s.writeOAuthError(w, invalidGrant("code_verifier does not match the code_challenge"))
		return
	case !s.signin.sessionAlive(c.SessionID, now):
		s.writeOAuthError(w, invalidGrant("session not active"))
		return
	}
	admin, _ := s.seed.adminByUUID(c.AdminUUID)
	tr, err := s.adminTokens(admin, signInGrant{
		ClientID: c.ClientID, SessionID: c.SessionID, Scope: c.Scope,
		Nonce: c.Nonce, AuthTime: c.AuthTime, Family: c.family,
	}, now)
	s.writeTokens(w, tr, err)
}

// pkceMatches checks BASE64URL(SHA256(verifier)) == challenge in constant
// time.
func pkceMatches(verifier, challenge string) bool {
	if !pkceVerifier.MatchString(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// refreshTokenGrant rotates a refresh token (RFC 6749 §6): the answer holds a
// new one and the old one is spent; presenting a spent one is invalid_grant
// and revokes every token of its family.
func (s *server) refreshTokenGrant(w http.ResponseWriter, r *http.Request) {
	client, oerr := s.publicClientOf(r)
	if oerr != nil {
		s.writeOAuthError(w, oerr)
		return
	}
	raw := r.PostForm.Get("refresh_token")
	if raw == "" {
		s.writeOAuthError(w, &oauthError{Code: "invalid_request", Description: "refresh_token is required", status: http.StatusBadRequest})
		return
	}
	now := s.now()
	rt, err := s.signin.useRefresh(raw, client.ClientID, now)
	switch {
	case errors.Is(err, errRefreshReused):
		s.writeOAuthError(w, invalidGrant("refresh token already used; its session's refresh tokens are revoked"))
		return
	case err != nil:
		s.writeOAuthError(w, invalidGrant("refresh token not valid"))
		return
	case !s.signin.sessionAlive(rt.SessionID, now):
		s.writeOAuthError(w, invalidGrant("session not active"))
		return
	}
	if sc := r.PostForm.Get("scope"); sc != "" {
		for _, v := range strings.Fields(sc) {
			if !slices.Contains(strings.Fields(rt.Scope), v) {
				s.writeOAuthError(w, &oauthError{Code: "invalid_scope", Description: "scope exceeds the original grant", status: http.StatusBadRequest})
				return
			}
		}
	}
	admin, _ := s.seed.adminByUUID(rt.AdminUUID)
	tr, err := s.adminTokens(admin, signInGrant{
		ClientID: rt.ClientID, SessionID: rt.SessionID, Scope: rt.Scope,
		Nonce: rt.Nonce, AuthTime: rt.AuthTime, Family: rt.Family,
	}, now)
	s.writeTokens(w, tr, err)
}

// tokensFor signs admin in without a browser (the control API's shortcut):
// a new session, and the token endpoint's answer for it.
func (s *server) tokensFor(admin Admin, clientID string) (tokenResponse, error) {
	now := s.now()
	sess, _ := s.signin.startSession(admin.UUID, now)
	return s.adminTokens(admin, signInGrant{
		ClientID: clientID, SessionID: sess.ID, Scope: grantedScope,
		AuthTime: now, Family: uuid.NewString(),
	}, now)
}
