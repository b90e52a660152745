package main

// The control API lets tests switch faults, read counters and reset state.
// It answers only requests whose remote address is loopback.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
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
	return m
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

// decodeFaults reads one JSON object of faults. Field names must match
// exactly: encoding/json alone would accept "latencyMS" for "latencyMs", and
// a misspelt switch that silently does nothing makes for confusing tests.
func decodeFaults(r io.Reader) (Faults, error) {
	dec := json.NewDecoder(r)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return Faults{}, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Faults{}, errors.New("trailing data after the JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return Faults{}, errors.New("body must be a JSON object")
	}
	for name := range fields {
		if !faultFields[name] {
			return Faults{}, fmt.Errorf("unknown field %q", name)
		}
	}
	var f Faults
	if err := json.Unmarshal(raw, &f); err != nil {
		return Faults{}, err
	}
	if err := f.validate(); err != nil {
		return Faults{}, err
	}
	return f, nil
}

// faultFields are the JSON names of Faults' fields.
var faultFields = func() map[string]bool {
	m := map[string]bool{}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[Faults]()) {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		m[name] = true
	}
	return m
}()

// reset clears faults, counters, sessions, impersonation tokens and the
// audit log. Signing keys stay, so access tokens issued before stay valid.
func (s *server) reset() {
	s.faults.set(Faults{})
	s.stats.reset()
	s.grants.reset()
	s.sessions.reset()
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
