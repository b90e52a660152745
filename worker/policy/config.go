package policy

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Defaults for the optional settings of Config.
const (
	DefaultReasonMinLength = 8
	// MaxReasonMinLength keeps a typo such as "800" from locking every admin out.
	MaxReasonMinLength = 200
	DefaultRateLimit   = "20/1h"
)

// Config is what decides whether a caller may impersonate a user in an application.
// package config fills it from the environment.
type Config struct {
	// Clients are the target applications, in configured order.
	Clients []Client
	// ProtectedUsers can never be impersonated (lower-case UUIDs).
	ProtectedUsers map[string]bool
	ReasonRequired bool
	// ReasonMinLength applies only when ReasonRequired (counted in characters).
	ReasonMinLength int
	// ReasonPattern, when set, must match the reason (e.g. a ticket id).
	ReasonPattern *regexp.Regexp
	// RateLimit is at most RateLimit.Count impersonations per RateLimit.Window per
	// actor; zero Count means no limit.
	RateLimit RateLimit
	// ImpersonatorRole is the role a caller lacks when refused for having no
	// impersonate permission; the refusal names it so an admin knows what to ask for.
	ImpersonatorRole string
}

// Client is a target application.
type Client struct {
	ID   string `json:"clientId"`
	Name string `json:"name"`
	// Roles, when set, limits the application to callers holding one of them.
	Roles []string `json:"-"`
}

// clientIDShape is what a client id may look like at all: what ACTAS_CLIENTS accepts
// and what a request may name. Whether one is allowed is policy.
var clientIDShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}$`)

// ValidClientID reports whether id has the shape of a client id.
func ValidClientID(id string) bool { return clientIDShape.MatchString(id) }

// RateLimit is Count impersonations per Window.
type RateLimit struct {
	Count  int
	Window time.Duration
}

// String renders the limit in the syntax ACTAS_RATE_LIMIT takes: "20/1h", "5/1h30m",
// or "off".
func (r RateLimit) String() string {
	if r.Count == 0 {
		return "off"
	}
	return strconv.Itoa(r.Count) + "/" + r.windowString()
}

// windowString is the window as ParseDuration reads it, without Go's trailing zero
// units: "1h" rather than "1h0m0s".
func (r RateLimit) windowString() string {
	w := r.Window.String() // "1h0m0s", "1h30m0s", "30m0s", "45s"
	if strings.HasSuffix(w, "m0s") {
		w = strings.TrimSuffix(w, "0s")
	}
	if strings.HasSuffix(w, "h0m") {
		w = strings.TrimSuffix(w, "0m")
	}
	return w
}
