// Package config reads the Worker's settings from its environment (Worker vars and
// secrets) once, validates them, and fills the configuration types of the packages
// that use them (bareid.Config, identity.Config, policy.Config, audit.Config, webhook.Config). Every problem names
// the variable, never its value, so an error message can be logged and shown without
// leaking a secret. It holds no rules of its own beyond "is this setting well-formed".
package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/bareid"
	"github.com/actas-dev/actas/worker/identity"
	"github.com/actas-dev/actas/worker/internal/outbound"
	"github.com/actas-dev/actas/worker/policy"
	"github.com/actas-dev/actas/worker/webhook"
)

// Config is the Worker's whole configuration: one part per package that uses it, plus
// the settings of the HTTP API itself.
type Config struct {
	BareID   bareid.Config
	Identity identity.Config
	Policy   policy.Config
	Audit    audit.Config
	Webhook  webhook.Config
	// AllowedOrigins are the browser-extension origins CORS answers, exactly as sent.
	AllowedOrigins map[string]bool
	// DevLoopback allows http:// loopback URLs for Bare.ID (the emulator), and is
	// copied into the parts it weakens.
	//
	// Warning: development only. It weakens the rule that the impersonation URL is
	// https on an allowed host; never set it in a deployment.
	DevLoopback bool
}

// Error lists every setting that is missing or malformed.
type Error struct {
	Problems []VarError
}

// VarError is one setting's problem. Reason never contains the value.
type VarError struct {
	Name   string
	Reason string
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Name + ": " + p.Reason
	}
	return "config: " + strings.Join(parts, "; ")
}

// Variables reports the names of the offending variables, for problem responses.
func (e *Error) Variables() []string {
	names := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		names[i] = p.Name
	}
	return names
}

// Load reads and validates the configuration. On error it returns an *Error naming
// every offending variable.
func Load(getenv func(string) string) (*Config, error) {
	l := loader{getenv: getenv}
	c := &Config{}
	c.DevLoopback = l.boolean("ACTAS_DEV_LOOPBACK", false)
	l.bareID(&c.BareID, c.DevLoopback)
	l.identity(&c.Identity, c.DevLoopback)
	l.policy(&c.Policy, c.Identity.Roles.Impersonator)
	l.audit(&c.Audit)
	l.webhook(&c.Webhook, c.DevLoopback)
	c.AllowedOrigins = l.origins("ACTAS_ALLOWED_ORIGINS")

	if len(l.problems) > 0 {
		return nil, &Error{Problems: l.problems}
	}
	return c, nil
}

type loader struct {
	getenv   func(string) string
	problems []VarError
}

func (l *loader) fail(name, reason string) {
	l.problems = append(l.problems, VarError{Name: name, Reason: reason})
}

func (l *loader) failed(name string) bool {
	for _, p := range l.problems {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (l *loader) get(name string) string { return strings.TrimSpace(l.getenv(name)) }

func (l *loader) required(name string) string {
	v := l.get(name)
	if v == "" {
		l.fail(name, "is required")
	}
	return v
}

// list splits on commas and newlines, dropping empty items, so values can be written
// one per line in a secret or as a single line in a var.
func list(v string) []string {
	var out []string
	for _, item := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (l *loader) boolean(name string, def bool) bool {
	v := l.get(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.fail(name, "must be true or false")
		return def
	}
	return b
}

func (l *loader) integer(name string, def, lo, hi int) int {
	v := l.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		l.fail(name, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

func (l *loader) durationIn(name string, def, lo, hi time.Duration) time.Duration {
	v := l.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		l.fail(name, fmt.Sprintf("must be a duration from %v to %v, such as %v", lo, hi, def))
		return def
	}
	return d
}

func (l *loader) gjsonPath(name, def string) string {
	v := l.get(name)
	if v == "" {
		return def
	}
	if strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		l.fail(name, "must be a gjson path without spaces or control characters")
		return def
	}
	return v
}

// url parses an absolute https URL without user-info, query or fragment. With
// devLoopback, http on a loopback host is accepted too (the emulator).
func (l *loader) url(name, def string, devLoopback bool) *url.URL {
	v := l.get(name)
	if v == "" {
		v = def
	}
	if v == "" {
		l.fail(name, "is required")
		return nil
	}
	return l.urlValue(name, v, devLoopback)
}

// urlValue validates v as url does, reporting problems against name.
func (l *loader) urlValue(name, v string, devLoopback bool) *url.URL {
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		l.fail(name, "must be an absolute URL")
		return nil
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		l.fail(name, "must not carry user-info, a query or a fragment")
		return nil
	case u.Scheme == "https":
	case u.Scheme == "http" && devLoopback && outbound.IsLoopback(u.Hostname()):
	default:
		l.fail(name, "must be an https URL (http only for a loopback host with ACTAS_DEV_LOOPBACK=true)")
		return nil
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u
}

// origins accepts browser-extension origins and, for tools, https origins. A
// wildcard is refused: CORS must never answer every origin.
func (l *loader) origins(name string) map[string]bool {
	set := map[string]bool{}
	for i, item := range list(l.get(name)) {
		u, err := url.Parse(item)
		ok := err == nil && u.Host != "" && u.Path == "" && u.User == nil && u.RawQuery == "" && !strings.Contains(item, "*")
		switch {
		case !ok:
		case u.Scheme == "chrome-extension", u.Scheme == "moz-extension", u.Scheme == "https":
		default:
			ok = false
		}
		if !ok {
			l.fail(name, fmt.Sprintf("entry %d must be an origin such as chrome-extension://<id> or moz-extension://<uuid>, without path or wildcard", i+1))
			continue
		}
		set[item] = true
	}
	return set
}
