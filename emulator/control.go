package main

// The control API lets tests switch faults and the sign-in mode, read
// counters, reset state, rotate keys and get signed tokens without a browser.
// It answers only requests whose remote address is loopback.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

func (s *server) controlRoutes() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("GET /_control/faults", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, s.faults.get())
	})
	m.HandleFunc("PUT /_control/faults", s.handlePutFaults)
	m.HandleFunc("POST /_control/reset", func(w http.ResponseWriter, r *http.Request) {
		s.reset()
		w.WriteHeader(http.StatusNoContent)
	})
	m.HandleFunc("GET /_control/stats", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, s.stats.snapshot())
	})
	m.HandleFunc("GET /_control/login", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, http.StatusOK, s.login.get())
	})
	m.HandleFunc("PUT /_control/login", s.handlePutLogin)
	m.HandleFunc("POST /_control/rotate-keys", s.handleRotateKeys)
	m.HandleFunc("POST /_control/sign", s.handleSign)
	m.HandleFunc("POST /_control/tokens", s.handleControlTokens)
	return m
}

func controlBadRequest(w http.ResponseWriter, err error) {
	writeControl(w, http.StatusBadRequest, apiError{Error: "invalid_request", Message: err.Error()})
}

// handlePutLogin replaces the sign-in mode.
func (s *server) handlePutLogin(w http.ResponseWriter, r *http.Request) {
	m, err := decodeStrict[LoginMode](io.LimitReader(r.Body, maxFormBytes), false)
	if err == nil {
		err = m.validate(s.seed)
	}
	if err != nil {
		controlBadRequest(w, fmt.Errorf("login: %w", err))
		return
	}
	s.login.set(m)
	writeControl(w, http.StatusOK, m)
}

// rotateRequest is the body of POST /_control/rotate-keys (optional).
type rotateRequest struct {
	// DropOld removes every earlier key from the JWKS, so that tokens they
	// signed stop verifying.
	DropOld bool `json:"dropOld"`
	// Alg is the new key's algorithm: RS256 (default) or ES256.
	Alg string `json:"alg"`
}

// rotateResponse names the new signing key and every key now in the JWKS.
type rotateResponse struct {
	KID  string   `json:"kid"`
	KIDs []string `json:"kids"`
}

func (s *server) handleRotateKeys(w http.ResponseWriter, r *http.Request) {
	req, err := decodeStrict[rotateRequest](io.LimitReader(r.Body, maxFormBytes), true)
	if err != nil {
		controlBadRequest(w, fmt.Errorf("rotate-keys: %w", err))
		return
	}
	if req.Alg == "" {
		req.Alg = string(jose.RS256)
	}
	if req.Alg != string(jose.RS256) && req.Alg != string(jose.ES256) {
		controlBadRequest(w, errors.New("rotate-keys: alg must be RS256 or ES256"))
		return
	}
	if err := s.keys.rotate(jose.SignatureAlgorithm(req.Alg), req.DropOld); err != nil {
		s.log.Error("rotate keys", "err", err)
		writeControl(w, http.StatusInternalServerError, apiError{Error: "server_error", Message: "key rotation failed"})
		return
	}
	s.log.Info("keys rotated", "kid", s.keys.current().kid, "dropOld", req.DropOld)
	writeControl(w, http.StatusOK, rotateResponse{KID: s.keys.current().kid, KIDs: s.keys.kids()})
}

// signRequest is the body of POST /_control/sign.
type signRequest struct {
	// Username, when set, starts from the access token claims this admin
	// would get now (with a fresh session), and Claims is laid over them.
	Username string `json:"username"`
	// ClientID is the public client for Username's claims (default: the
	// first public client of the seed).
	ClientID string `json:"clientId"`
	// Claims are the token's claims, or with Username the top-level claims
	// to replace; a claim set to null is removed.
	Claims map[string]json.RawMessage `json:"claims"`
	// Header overrides the JOSE header {"alg","typ","kid"}; null removes a
	// field. See testSignAlgs for the algorithms.
	Header map[string]any `json:"header"`
}

// jwtResponse is the answer of POST /_control/sign.
type jwtResponse struct {
	JWT string `json:"jwt"`
}

func (s *server) handleSign(w http.ResponseWriter, r *http.Request) {
	req, err := decodeStrict[signRequest](io.LimitReader(r.Body, maxFormBytes), false)
	if err != nil {
		controlBadRequest(w, fmt.Errorf("sign: %w", err))
		return
	}
	claims := map[string]json.RawMessage{}
	if req.Username != "" {
		admin, client, err := s.controlAdmin(req.Username, req.ClientID)
		if err != nil {
			controlBadRequest(w, fmt.Errorf("sign: %w", err))
			return
		}
		now := s.now()
		sess, _ := s.signin.startSession(admin.UUID, now)
		base, _ := json.Marshal(s.adminClaims(admin, signInGrant{
			ClientID: client.ClientID, SessionID: sess.ID, Scope: grantedScope, AuthTime: now,
		}, now))
		if err := json.Unmarshal(base, &claims); err != nil {
			controlBadRequest(w, err)
			return
		}
	} else if req.Claims == nil {
		controlBadRequest(w, errors.New("sign: give claims, a username, or both"))
		return
	}
	for k, v := range req.Claims {
		if string(v) == "null" {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	payload, _ := json.Marshal(claims)
	token, err := signRaw(s.keys.current(), req.Header, payload)
	if err != nil {
		controlBadRequest(w, fmt.Errorf("sign: %w", err))
		return
	}
	writeControl(w, http.StatusOK, jwtResponse{JWT: token})
}

// tokensRequest is the body of POST /_control/tokens.
type tokensRequest struct {
	Username string `json:"username"`
	ClientID string `json:"clientId"`
}

// handleControlTokens answers what the token endpoint answers after a
// sign-in of username, without a browser.
func (s *server) handleControlTokens(w http.ResponseWriter, r *http.Request) {
	req, err := decodeStrict[tokensRequest](io.LimitReader(r.Body, maxFormBytes), false)
	if err != nil {
		controlBadRequest(w, fmt.Errorf("tokens: %w", err))
		return
	}
	admin, client, err := s.controlAdmin(req.Username, req.ClientID)
	if err != nil {
		controlBadRequest(w, fmt.Errorf("tokens: %w", err))
		return
	}
	tr, err := s.tokensFor(admin, client.ClientID)
	s.writeTokens(w, tr, err)
}

// controlAdmin looks up a seeded admin and a public client (default: the
// seed's first).
func (s *server) controlAdmin(username, clientID string) (Admin, PublicClient, error) {
	admin, ok := s.seed.adminByUsername(username)
	if !ok {
		return Admin{}, PublicClient{}, fmt.Errorf("username %q is not a seeded admin", username)
	}
	if clientID == "" && len(s.seed.PublicClients) > 0 {
		clientID = s.seed.PublicClients[0].ClientID
	}
	client, ok := s.seed.publicClient(clientID)
	if !ok {
		return Admin{}, PublicClient{}, fmt.Errorf("clientId %q is not a public client", clientID)
	}
	return admin, client, nil
}

// handlePutFaults replaces all faults with the body; unknown fields, trailing
// data and out-of-range values are 400.
func (s *server) handlePutFaults(w http.ResponseWriter, r *http.Request) {
	f, err := decodeFaults(io.LimitReader(r.Body, maxFormBytes))
	if err != nil {
		writeControl(w, http.StatusBadRequest, apiError{Error: "invalid_request", Message: "faults: " + err.Error()})
		return
	}
	s.faults.set(f)
	writeControl(w, http.StatusOK, f)
}

// decodeFaults reads one JSON object of faults.
func decodeFaults(r io.Reader) (Faults, error) {
	f, err := decodeStrict[Faults](r, false)
	if err != nil {
		return Faults{}, err
	}
	if err := f.validate(); err != nil {
		return Faults{}, err
	}
	return f, nil
}

// decodeStrict reads one JSON object into a T. Top-level field names must
// match T's exactly: encoding/json alone would accept "latencyMS" for
// "latencyMs", and a misspelt switch that silently does nothing makes for
// confusing tests. With allowEmpty an empty body is T's zero value.
func decodeStrict[T any](r io.Reader, allowEmpty bool) (T, error) {
	var zero T
	body, err := io.ReadAll(r)
	if err != nil {
		return zero, err
	}
	if allowEmpty && len(bytes.TrimSpace(body)) == 0 {
		return zero, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return zero, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return zero, errors.New("trailing data after the JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return zero, errors.New("body must be a JSON object")
	}
	known := jsonFieldNames(reflect.TypeFor[T]())
	for name := range fields {
		if !known[name] {
			return zero, fmt.Errorf("unknown field %q", name)
		}
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return zero, err
	}
	return v, nil
}

// jsonFieldNames are the JSON names of a struct type's fields.
func jsonFieldNames(t reflect.Type) map[string]bool {
	m := map[string]bool{}
	for _, f := range reflect.VisibleFields(t) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		m[name] = true
	}
	return m
}

// reset clears faults, the sign-in mode, counters, sessions, impersonation
// tokens, the admin sign-in state (sessions, codes, refresh tokens) and the
// audit log. Signing keys stay, so access tokens issued before stay valid.
func (s *server) reset() {
	s.faults.set(Faults{})
	s.login.set(LoginMode{})
	s.stats.reset()
	s.grants.reset()
	s.sessions.reset()
	s.signin.reset()
	s.audit.reset()
}

func writeControl(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, v)
}

// loopbackOnly refuses (403) requests whose remote address is not loopback.
// It looks at the connection only, never at forwarding headers.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isLoopbackAddr(r.RemoteAddr) {
			writeControl(w, http.StatusForbidden, apiError{Error: "forbidden", Message: "the control API answers loopback clients only"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func isLoopbackAddr(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
