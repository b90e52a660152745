// Package problem is the Worker's one error type and its one mapping to HTTP: RFC 9457
// problem details (application/problem+json) with a stable type per cause.
//
// Detail texts are written for the caller and never carry an upstream body, a stack,
// a token or a secret; the wrapped Err is for the log line only.
package problem

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// TypePrefix starts every problem type URI; the slug after it is the stable part.
const TypePrefix = "urn:actas:problem:"

// Kind is a stable cause. Clients branch on it.
type Kind string

// The causes the API answers with.
const (
	Unauthenticated      Kind = "unauthenticated"
	Forbidden            Kind = "forbidden"
	InvalidBody          Kind = "invalid-body"
	InvalidQuery         Kind = "invalid-query"
	InvalidUserID        Kind = "invalid-user-id"
	ClientNotAllowed     Kind = "client-not-allowed"
	UserNotAllowed       Kind = "user-not-allowed"
	ReasonRequired       Kind = "reason-required"
	ReasonInvalid        Kind = "reason-invalid"
	NotActive            Kind = "impersonation-not-active"
	CheckpointRejected   Kind = "checkpoint-rejected"
	NotFound             Kind = "not-found"
	MethodNotAllowed     Kind = "method-not-allowed"
	UnsupportedMedia     Kind = "unsupported-media-type"
	NotAcceptable        Kind = "not-acceptable"
	RateLimited          Kind = "rate-limited"
	OriginNotAllowed     Kind = "origin-not-allowed"
	UpstreamFailed       Kind = "upstream-failed"
	UpstreamUnavailable  Kind = "upstream-unavailable"
	UpstreamTimeout      Kind = "upstream-timeout"
	AuditUnavailable     Kind = "audit-unavailable"
	ConfigurationInvalid Kind = "configuration-invalid"
	Internal             Kind = "internal"
)

var meta = map[Kind]struct {
	status int
	title  string
}{
	Unauthenticated:      {http.StatusUnauthorized, "Authentication required"},
	Forbidden:            {http.StatusForbidden, "Not allowed"},
	InvalidBody:          {http.StatusBadRequest, "Request body is invalid"},
	InvalidQuery:         {http.StatusBadRequest, "Query parameters are invalid"},
	InvalidUserID:        {http.StatusBadRequest, "User id is not a UUID"},
	ClientNotAllowed:     {http.StatusBadRequest, "Application is not allowed"},
	UserNotAllowed:       {http.StatusForbidden, "User may not be impersonated"},
	ReasonRequired:       {http.StatusBadRequest, "A reason is required"},
	ReasonInvalid:        {http.StatusBadRequest, "Reason is invalid"},
	NotActive:            {http.StatusConflict, "Impersonation is not active"},
	CheckpointRejected:   {http.StatusConflict, "Checkpoint rejected"},
	NotFound:             {http.StatusNotFound, "Not found"},
	MethodNotAllowed:     {http.StatusMethodNotAllowed, "Method not allowed"},
	UnsupportedMedia:     {http.StatusUnsupportedMediaType, "Unsupported media type"},
	NotAcceptable:        {http.StatusNotAcceptable, "Not acceptable"},
	RateLimited:          {http.StatusTooManyRequests, "Too many impersonations"},
	OriginNotAllowed:     {http.StatusForbidden, "Origin not allowed"},
	UpstreamFailed:       {http.StatusBadGateway, "Bare.ID answered unexpectedly"},
	UpstreamUnavailable:  {http.StatusServiceUnavailable, "Bare.ID is unreachable"},
	UpstreamTimeout:      {http.StatusGatewayTimeout, "Bare.ID did not answer in time"},
	AuditUnavailable:     {http.StatusServiceUnavailable, "Audit store unavailable"},
	ConfigurationInvalid: {http.StatusInternalServerError, "Worker is misconfigured"},
	Internal:             {http.StatusInternalServerError, "Internal error"},
}

// Kinds lists every cause, for documentation and tests.
func Kinds() []Kind {
	out := make([]Kind, 0, len(meta))
	for k := range meta {
		out = append(out, k)
	}
	return out
}

// Status is the HTTP status a kind is answered with.
func (k Kind) Status() int {
	if m, ok := meta[k]; ok {
		return m.status
	}
	return http.StatusInternalServerError
}

// Title is the short, fixed summary of a kind.
func (k Kind) Title() string { return meta[k].title }

// Error is a failure the API reports as a problem.
type Error struct {
	Kind   Kind
	Detail string // safe to show the caller
	Err    error  // the cause, for the log only
	// RetryAfter, when positive, is sent as Retry-After (seconds).
	RetryAfter int
	// Extra members added to the problem object (RFC 9457 §3.2), e.g. variable names.
	Extra map[string]any
}

// New returns an Error of kind with a caller-safe detail.
func New(kind Kind, detail string) *Error { return &Error{Kind: kind, Detail: detail} }

// Wrap returns an Error of kind with a caller-safe detail and a cause for the log.
func Wrap(kind Kind, detail string, err error) *Error {
	return &Error{Kind: kind, Detail: detail, Err: err}
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Kind) + ": " + e.Detail + ": " + e.Err.Error()
	}
	return string(e.Kind) + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

// From turns any error into an *Error; anything unknown is Internal, and its text is
// kept out of the response.
func From(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return Wrap(Internal, "The request could not be completed.", err)
}

// Write answers err as problem JSON. It is the only place errors become responses.
func Write(w http.ResponseWriter, err error, requestID string) {
	pe := From(err)
	body := map[string]any{}
	for k, v := range pe.Extra {
		body[k] = v
	}
	status := pe.Kind.Status()
	body["type"] = TypePrefix + string(pe.Kind)
	body["title"] = pe.Kind.Title()
	body["status"] = status
	body["detail"] = pe.Detail
	body["requestId"] = requestID
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if pe.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(pe.RetryAfter))
	}
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="actas"`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
