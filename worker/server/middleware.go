package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/actas-dev/actas/worker/identity"
	"github.com/actas-dev/actas/worker/problem"
)

// reqInfo is what one request's log line reports; handlers fill it in as they learn.
type reqInfo struct {
	requestID       string
	route           string
	actor           string
	actorKind       string
	impersonationID string
	targetUser      string
	clientID        string
	outcome         string
	err             error
}

type infoKey struct{}

// info returns the request's log record (a throwaway one outside the middleware).
func info(r *http.Request) *reqInfo {
	if ri, ok := r.Context().Value(infoKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

type identityKey struct{}

func caller(r *http.Request) identity.Identity {
	id, _ := r.Context().Value(identityKey{}).(identity.Identity)
	return id
}

// newID returns 128 random bits as hex, for request ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// middleware gives each request an id and a log record, turns a panic into a 500
// problem, and writes the request's log line.
func (l *logger) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := l.now()
		ri := &reqInfo{requestID: newID(), route: r.URL.Path}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		rec := &statusRecorder{ResponseWriter: w}
		rec.Header().Set("X-Request-Id", ri.requestID)
		defer func() {
			var stack string
			if v := recover(); v != nil {
				// The value (in error) and the stack (in detail, where the error field's
				// length limit does not cut it) say where it broke, as the bridge logs
				// them; neither reaches the caller.
				stack = string(debug.Stack())
				ri.err = problem.Wrap(problem.Internal, "The request could not be completed.",
					fmt.Errorf("panic in handler: %v", v))
				if rec.status == 0 {
					problem.Write(rec, ri.err, ri.requestID)
				}
			}
			line := logLine{
				Level: LevelInfo, Msg: "request", RequestID: ri.requestID, Method: r.Method,
				Route: ri.route, Status: rec.status, Duration: l.now().Sub(start),
				Actor: ri.actor, ActorKind: ri.actorKind, ImpersonationID: ri.impersonationID,
				TargetUser: ri.targetUser, ClientID: ri.clientID, Outcome: ri.outcome,
				Detail: stack,
			}
			if ri.err != nil {
				pe := problem.From(ri.err)
				line.Problem = string(pe.Kind)
				line.Error = logError(ri.err)
				if pe.Kind.Status() >= 500 {
					line.Level = LevelError
				} else {
					line.Level = LevelWarn
				}
			}
			l.write(line)
		}()
		next.ServeHTTP(rec, r)
	})
}

// handlerFunc is an API handler: it writes a success response or returns an error
// that api turns into a problem.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// api applies CORS and answers a returned error as problem JSON.
func (s *server) api(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ri := info(r)
		if r.Pattern != "" && r.Pattern != "/" {
			ri.route = r.Pattern
		}
		err := s.cors(w, r)
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			ri.err = err
			problem.Write(w, err, ri.requestID)
		}
		if ri.impersonationID != "" && r.Method == http.MethodPost {
			s.afterResponse(r.Context()) // audit events were (or may have been) appended
		}
	})
}

// authed identifies the caller before h runs; the identity is in the context.
func (s *server) authed(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := s.auth.Authenticate(r)
		switch {
		case errors.Is(err, identity.ErrNoCredentials):
			return problem.New(problem.Unauthenticated, "Send credentials: Authorization: Bearer <access token or API key>.")
		case err != nil:
			return problem.Wrap(problem.Unauthenticated, "The credentials were not accepted.", err)
		}
		ri := info(r)
		ri.actor, ri.actorKind = id.Actor, string(id.Kind)
		if err := s.ensureSchema(r.Context()); err != nil {
			return err
		}
		return h(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	}
}

// cors answers only configured origins, exactly: never "*", never a reflected
// unknown Origin. A request from a browser origin that is not configured is refused
// outright, so a page cannot drive the API with credentials it has obtained.
func (s *server) cors(w http.ResponseWriter, r *http.Request) error {
	origin := r.Header.Get("Origin")
	h := w.Header()
	h.Add("Vary", "Origin")
	if origin == "" {
		return nil
	}
	if !s.cfg.AllowedOrigins[origin] {
		return problem.New(problem.OriginNotAllowed, "This origin may not call the API.")
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Expose-Headers", "Location, Retry-After, X-Request-Id")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept")
		h.Set("Access-Control-Max-Age", "600")
	}
	return nil
}

// writeJSON answers v with status; API answers are never cached.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}
