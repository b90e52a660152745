package main

// Redirect URI registration and matching for public clients (RFC 6749
// §3.1.2, OAuth 2.0 Security BCP RFC 9700 §4.1: exact matching, with a few
// narrowly written wildcards for browser-extension and loopback redirects).
//
// A registered entry without '*' is an exact URI: the request's redirect_uri
// must equal it byte for byte. An entry with '*' is a pattern
//
//	scheme://host[:port]/path
//
// where '*' may appear only as
//   - the whole first label of the host, "*.chromiumapp.org": exactly one
//     DNS label (letters, digits, '-') in front of the rest of the host;
//   - the whole port, ":*": any explicit port 1-65535 (a URI without a port
//     does not match);
//   - the last path segment, "/cb/*": any path that starts with "/cb/".
//
// Everything else is compared exactly: the scheme, the rest of the host
// (case-insensitively, as hosts are) and a written port. A URI matched by a
// pattern may not carry userinfo, a query, a fragment, percent-escapes in the
// host or dot segments in the path.

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// maxRedirectURIBytes bounds redirect URIs; real ones are short.
const maxRedirectURIBytes = 2048

// dnsLabel is one host label as browsers accept it for these origins.
var dnsLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// redirectPattern is a parsed registered redirect URI.
type redirectPattern struct {
	exact string // the whole URI, when the entry has no '*'

	scheme    string
	wildLabel bool   // host is "*." + host
	host      string // lower-case; the part after "*." when wildLabel
	port      string // "" none, "*" any, else the exact port
	path      string // exact path, or the prefix when wildPath
	wildPath  bool
}

// parseRedirectPattern checks a registered redirect URI from the seed.
func parseRedirectPattern(p string) (redirectPattern, error) {
	if !strings.Contains(p, "*") {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.User != nil || u.Fragment != "" || strings.Contains(p, "#") || len(p) > maxRedirectURIBytes {
			return redirectPattern{}, fmt.Errorf("redirect URI %q must be an absolute http(s) URI without userinfo or fragment", p)
		}
		return redirectPattern{exact: p}, nil
	}
	bad := func(why string) (redirectPattern, error) {
		return redirectPattern{}, fmt.Errorf("redirect pattern %q: %s", p, why)
	}
	scheme, rest, ok := strings.Cut(p, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return bad("must start with http:// or https://")
	}
	authority, path, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("needs a path")
	}
	path = "/" + path
	rp := redirectPattern{scheme: scheme}
	host, port, hasPort := strings.Cut(authority, ":")
	if hasPort {
		if port != "*" && !validPort(port) {
			return bad("port must be a number or *")
		}
		rp.port = port
	}
	if after, ok := strings.CutPrefix(host, "*."); ok {
		rp.wildLabel = true
		host = after
		if strings.Count(host, ".") < 1 {
			return bad("a host wildcard needs at least two labels after it")
		}
	}
	if !validHost(host) {
		return bad("host must be a lower-case DNS name or an IPv4 address, with '*' only as its first label")
	}
	rp.host = host
	if before, ok := strings.CutSuffix(path, "*"); ok {
		if !strings.HasSuffix(before, "/") {
			return bad("a path wildcard must be a whole last segment, as in /*")
		}
		rp.wildPath = true
		path = before
	}
	if strings.ContainsAny(path, "*?#%") || hasDotSegment(path) {
		return bad("'*' may appear only as the first host label, the port or the last path segment; no query, fragment or escapes")
	}
	rp.path = path
	return rp, nil
}

// matches reports whether the redirect URI raw, as sent by a client, is
// allowed by this registration.
func (rp redirectPattern) matches(raw string) bool {
	if rp.exact != "" {
		return raw == rp.exact
	}
	u, ok := parseCandidate(raw)
	if !ok || u.Scheme != rp.scheme || u.RawQuery != "" || u.ForceQuery {
		return false
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if rp.wildLabel {
		label, ok := strings.CutSuffix(host, "."+rp.host)
		if !ok || !dnsLabel.MatchString(label) {
			return false
		}
	} else if host != rp.host {
		return false
	}
	switch rp.port {
	case "":
		if port != "" {
			return false
		}
	case "*":
		if !validPort(port) {
			return false
		}
	default:
		if port != rp.port {
			return false
		}
	}
	path := u.EscapedPath()
	if rp.wildPath {
		return strings.HasPrefix(path, rp.path) && !hasDotSegment(path)
	}
	return path == rp.path
}

// parseCandidate parses a redirect URI from a request for pattern matching,
// refusing anything whose meaning might differ between Go's URL parser and a
// browser's: control characters, spaces, backslashes, fragments, userinfo and
// escapes or odd characters in the authority.
func parseCandidate(raw string) (*url.URL, bool) {
	if raw == "" || len(raw) > maxRedirectURIBytes || strings.ContainsAny(raw, "\\#") {
		return nil, false
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f || r > 0x7e {
			return nil, false
		}
	}
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil, false
	}
	authority, _, _ := strings.Cut(rest, "/")
	authority, _, _ = strings.Cut(authority, "?")
	for _, r := range authority {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == ':') {
			return nil, false
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" || u.Fragment != "" {
		return nil, false
	}
	return u, true
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535 && strconv.Itoa(n) == p
}

// validHost accepts a lower-case DNS name or a dotted IPv4 address.
func validHost(h string) bool {
	if ip := net.ParseIP(h); ip != nil {
		return ip.To4() != nil && ip.String() == h
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if !dnsLabel.MatchString(label) {
			return false
		}
	}
	return true
}

// hasDotSegment reports whether a URL path has a "." or ".." segment, also
// percent-encoded, which a browser would resolve away.
func hasDotSegment(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		switch strings.ToLower(seg) {
		case ".", "..", "%2e", "%2e%2e", ".%2e", "%2e.":
			return true
		}
	}
	return false
}

// redirectAllowed reports whether raw matches any of the registered entries.
// The entries were checked when the seed was loaded.
func redirectAllowed(registered []string, raw string) bool {
	for _, p := range registered {
		rp, err := parseRedirectPattern(p)
		if err == nil && rp.matches(raw) {
			return true
		}
	}
	return false
}

// withQuery appends parameters to a validated redirect URI, keeping the URI
// exactly as registered or matched (RFC 6749 §3.1.2: retain its query).
func withQuery(redirect string, params url.Values) string {
	switch {
	case strings.HasSuffix(redirect, "?"):
		return redirect + params.Encode()
	case strings.Contains(redirect, "?"):
		return redirect + "&" + params.Encode()
	default:
		return redirect + "?" + params.Encode()
	}
}

// redirectOrigin is scheme://host[:port] of a validated redirect URI, for the
// login page's Content-Security-Policy form-action.
func redirectOrigin(redirect string) (string, error) {
	u, err := url.Parse(redirect)
	if err != nil || u.Host == "" {
		return "", errors.New("redirect URI has no origin")
	}
	return u.Scheme + "://" + u.Host, nil
}
