// Package config reads the Worker's settings from its environment (Worker vars and
// secrets) once, into a validated Config. Every problem names the variable, never its
// value, so an error message can be logged and shown without leaking a secret.
package config

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Defaults for optional settings.
const (
	DefaultAPIURL          = "https://api.bare.id"
	DefaultTokenPath       = "token"
	DefaultURLPath         = "url"
	DefaultReasonMinLength = 8
	// DefaultUpstreamTimeout bounds each call to Bare.ID; the Worker answers 504 after it.
	DefaultUpstreamTimeout = 10 * time.Second
	// maxReasonMinLength keeps a typo such as "800" from locking every admin out.
	maxReasonMinLength = 200
)

// Config is the Worker's whole configuration.
type Config struct {
	BareID BareID
	// APIKeys are the automation callers, by label.
	APIKeys []APIKey
	// OIDC, when set, accepts bearer tokens from the Bare.ID instance's admins.
	OIDC *OIDC
	// Access, when set, accepts Cloudflare Access's Cf-Access-Jwt-Assertion.
	Access *Access
	// Roles names the roles that grant each permission.
	Roles Roles
	// JWKSRefetchInterval is the least time between two fetches of a signing-key set
	// prompted by an unknown key id, so a flood of made-up ids costs at most one
	// fetch per interval.
	JWKSRefetchInterval time.Duration
	Policy
	// AllowedOrigins are the browser-extension origins CORS answers, exactly as sent.
	AllowedOrigins map[string]bool
	// DevLoopback allows http:// loopback URLs for Bare.ID (the emulator).
	//
	// Warning: development only. It weakens the rule that the impersonation URL is
	// https on an allowed host; never set it in a deployment.
	DevLoopback bool
}

// BareID is how the Worker reaches Bare.ID.
type BareID struct {
	APIURL       *url.URL
	Instance     string
	TokenURL     *url.URL
	ClientID     string
	ClientSecret string
	// ImpersonationHosts are the hosts (host or host:port, lower-case) the returned
	// impersonation URL may point at.
	ImpersonationHosts map[string]bool
	// TokenPath and URLPath are gjson paths into the impersonation-token answer.
	TokenPath string
	URLPath   string
	Timeout   time.Duration
	// Method is how browsers send the token to the impersonation URL: POST (a form,
	// the default: the token stays out of URLs and history) or GET (a query).
	Method string
}

// APIKey is one automation caller: a label (the actor in the audit trail) and the
// SHA-256 of its key. The key itself is never configured anywhere.
type APIKey struct {
	Label string
	Hash  [sha256.Size]byte
	// Roles the key holds; by default just the impersonator role.
	Roles []string
}

// Client is a target application.
type Client struct {
	ID   string `json:"clientId"`
	Name string `json:"name"`
	// Roles, when set, limits the application to callers holding one of them.
	Roles []string `json:"-"`
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

var (
	uuidRE     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	clientIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}$`)
	labelRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$`)
)

// IsUUID reports whether s is a UUID in its canonical textual form (RFC 9562 §4).
func IsUUID(s string) bool { return uuidRE.MatchString(s) }

// Load reads and validates the configuration. On error it returns an *Error naming
// every offending variable.
func Load(getenv func(string) string) (*Config, error) {
	l := loader{getenv: getenv}
	c := &Config{}
	c.DevLoopback = l.boolean("ACTAS_DEV_LOOPBACK", false)
	b := &c.BareID
	b.APIURL = l.url("BAREID_API_URL", DefaultAPIURL, c.DevLoopback)
	b.Instance = l.required("BAREID_INSTANCE")
	if b.Instance != "" && !IsUUID(b.Instance) {
		l.fail("BAREID_INSTANCE", "must be a UUID")
	}
	b.TokenURL = l.url("BAREID_TOKEN_URL", "", c.DevLoopback)
	b.ClientID = l.required("BAREID_CLIENT_ID")
	b.ClientSecret = l.required("BAREID_CLIENT_SECRET")
	b.ImpersonationHosts = l.hosts("BAREID_IMPERSONATION_HOSTS")
	b.TokenPath = l.gjsonPath("BAREID_RESPONSE_TOKEN_PATH", DefaultTokenPath)
	b.URLPath = l.gjsonPath("BAREID_RESPONSE_URL_PATH", DefaultURLPath)
	b.Timeout = l.durationIn("BAREID_TIMEOUT", DefaultUpstreamTimeout, 100*time.Millisecond, time.Minute)
	switch b.Method = strings.ToUpper(l.get("BAREID_IMPERSONATION_METHOD")); b.Method {
	case "":
		b.Method = "POST"
	case "POST", "GET":
	default:
		l.fail("BAREID_IMPERSONATION_METHOD", "must be POST or GET")
	}

	l.callers(c)
	l.policy(c)
	c.AllowedOrigins = l.origins("ACTAS_ALLOWED_ORIGINS")

	if len(l.problems) > 0 {
		return nil, &Error{Problems: l.problems}
	}
	return c, nil
}

// Client returns the configured application with this id.
func (c *Config) Client(id string) (Client, bool) {
	for _, cl := range c.Clients {
		if cl.ID == id {
			return cl, true
		}
	}
	return Client{}, false
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
	case u.Scheme == "http" && devLoopback && IsLoopback(u.Hostname()):
	default:
		l.fail(name, "must be an https URL (http only for a loopback host with ACTAS_DEV_LOOPBACK=true)")
		return nil
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u
}

// IsLoopback reports whether host (without port) names this machine.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (l *loader) hosts(name string) map[string]bool {
	items := list(l.required(name))
	set := make(map[string]bool, len(items))
	for _, h := range items {
		h = strings.ToLower(h)
		u, err := url.Parse("https://" + h)
		if err != nil || u.Host != h || u.Hostname() == "" || strings.ContainsAny(h, "/@?#*") {
			l.fail(name, "must be a comma-separated list of host names (host or host:port, no scheme or wildcard)")
			return nil
		}
		set[h] = true
	}
	return set
}

func (l *loader) apiKeys(name, impersonatorRole string) []APIKey {
	items := list(l.get(name))
	keys := make([]APIKey, 0, len(items))
	seen := map[string]bool{}
	for i, item := range items {
		label, rest, ok := strings.Cut(item, ":")
		hexHash, roles, hasRoles := strings.Cut(rest, ":")
		label = strings.TrimSpace(label)
		raw, err := hex.DecodeString(strings.TrimSpace(hexHash))
		if !ok || err != nil || len(raw) != sha256.Size || !labelRE.MatchString(label) {
			l.fail(name, fmt.Sprintf("entry %d must be label:sha256hex[:role|role] (64 hex digits; label of letters, digits and ._@+-)", i+1))
			continue
		}
		k := APIKey{Label: label, Roles: []string{impersonatorRole}}
		if hasRoles {
			if k.Roles = roleList(roles); k.Roles == nil {
				l.fail(name, fmt.Sprintf("entry %d has an empty or malformed role list", i+1))
				continue
			}
		}
		if seen[label] {
			l.fail(name, fmt.Sprintf("entry %d repeats a label", i+1))
			continue
		}
		seen[label] = true
		copy(k.Hash[:], raw)
		keys = append(keys, k)
	}
	return keys
}

func (l *loader) clients(name string) []Client {
	items := list(l.required(name))
	out := make([]Client, 0, len(items))
	seen := map[string]bool{}
	for i, item := range items {
		id, display, _ := strings.Cut(item, "=")
		id, display = strings.TrimSpace(id), strings.TrimSpace(display)
		if !clientIDRE.MatchString(id) || seen[id] {
			l.fail(name, fmt.Sprintf("entry %d must be clientId=Display Name with a unique client id", i+1))
			continue
		}
		seen[id] = true
		if display == "" {
			display = id
		}
		out = append(out, Client{ID: id, Name: display})
	}
	return out
}

func (l *loader) uuidSet(name string) map[string]bool {
	set := map[string]bool{}
	for i, item := range list(l.get(name)) {
		if !IsUUID(item) {
			l.fail(name, fmt.Sprintf("entry %d must be a UUID", i+1))
			continue
		}
		set[strings.ToLower(item)] = true
	}
	return set
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
