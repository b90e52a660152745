package main

import (
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// impersonationRole is the client role an access token needs to mint
// impersonation tokens: "impersonation" of the system client
// "realm-management".
const (
	impersonationRoleClient = "realm-management"
	impersonationRole       = "impersonation"
)

// wrongHostURL is where the wrongHost fault points the impersonation URL.
const wrongHostURL = "https://evil.example"

// mintResponse is the impersonation-token API's answer in the shape actas
// expects by default.
type mintResponse struct {
	Token string `json:"token"`
	URL   string `json:"url"`
}

// handleMint is POST /user/v1/{instance}/impersonation-token?userUuid=&clientId=.
//
// Order of checks: injected latency, the "upstream" faults (unauthorized
// once, forced status), bearer token (401), role (403), instance, user and
// client (404), then the answer, which the shape faults may replace.
func (s *server) handleMint(w http.ResponseWriter, r *http.Request) {
	s.stats.mintRequests.Add(1)
	delay(r.Context(), &s.faults)
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxFormBytes))

	if takeUnauthorizedOnce(&s.faults) {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeAPIError(w, http.StatusUnauthorized, "unauthorized", "access token is not valid (fault injected)")
		return
	}
	if st := s.faults.get().MintStatus; st != 0 {
		writeAPIError(w, st, "fault", "fault injected: "+http.StatusText(st))
		return
	}

	raw, ok := bearerToken(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+s.seed.Realm+`"`)
		writeAPIError(w, http.StatusUnauthorized, "unauthorized", "bearer access token required")
		return
	}
	claims, err := s.verifyAccessToken(raw)
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeAPIError(w, http.StatusUnauthorized, "unauthorized", "access token is not valid")
		return
	}
	if !claims.hasClientRole(impersonationRoleClient, impersonationRole) {
		writeAPIError(w, http.StatusForbidden, "forbidden",
			"access token lacks client role "+impersonationRoleClient+"/"+impersonationRole)
		return
	}
	if !strings.EqualFold(r.PathValue("instance"), s.seed.Instance) {
		writeAPIError(w, http.StatusNotFound, "instance_not_found", "unknown instance")
		return
	}
	q := r.URL.Query()
	userID, clientID := q.Get("userUuid"), q.Get("clientId")
	if userID == "" || clientID == "" {
		writeAPIError(w, http.StatusBadRequest, "invalid_request", "query parameters userUuid and clientId are required")
		return
	}
	if u, err := uuid.Parse(userID); err == nil {
		userID = u.String()
	}
	user, ok := s.seed.user(userID)
	if !ok {
		writeAPIError(w, http.StatusNotFound, "user_not_found", "unknown user")
		return
	}
	client, ok := s.seed.client(clientID)
	if !ok {
		writeAPIError(w, http.StatusNotFound, "client_not_found", "unknown client")
		return
	}

	f := s.faults.get()
	switch {
	case f.MintMalformed:
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "<html>this is not JSON")
		return
	case f.MintMissingFields:
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}

	now := s.now()
	impersonator := claims.AuthorizedParty
	token := s.grants.issue(grant{
		Impersonator: impersonator,
		UserUUID:     user.UUID,
		ClientID:     client.ClientID,
		Expires:      now.Add(impersonationTTL),
	}, now)
	s.audit.record(AuditEvent{
		Time: now, Event: eventTokenIssued, Impersonator: impersonator,
		UserUUID: user.UUID, Username: user.Username, ClientID: client.ClientID,
	})
	target := s.realmURL("/impersonate")
	if f.WrongHost {
		target = wrongHostURL + "/realms/" + s.seed.Realm + "/impersonate"
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, mintResponse{Token: token, URL: target})
}
