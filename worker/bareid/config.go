package bareid

import (
	"net/url"
	"time"
)

// Defaults for the optional settings of Config.
const (
	DefaultAPIURL = "https://api.bare.id"
	// DefaultTokenPath and DefaultURLPath are the gjson paths of the token and URL in
	// the impersonation-token answer; Bare.ID's description does not name the fields,
	// so they are configurable (the emulator answers in this shape).
	DefaultTokenPath = "token"
	DefaultURLPath   = "url"
	// DefaultTimeout bounds each call to Bare.ID; the Worker answers 504 after it.
	DefaultTimeout = 10 * time.Second
	// DefaultMethod is how browsers send the token: a POST form keeps it out of URLs.
	DefaultMethod = "POST"
)

// Config is how the Worker reaches one Bare.ID instance. package config fills it from
// the environment; the zero value is not usable.
type Config struct {
	APIURL       *url.URL
	Instance     string // UUID
	TokenURL     *url.URL
	ClientID     string
	ClientSecret string
	// ClientSecretNext, when set, is tried when Bare.ID refuses ClientSecret (and the
	// other way round), for the window in which a rotated secret is being rolled out.
	ClientSecretNext string
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
	// DevLoopback accepts an http:// impersonation URL on a loopback host (the
	// emulator).
	//
	// Warning: development only. It weakens the rule that the impersonation URL is
	// https on an allowed host; never set it in a deployment.
	DevLoopback bool
}
