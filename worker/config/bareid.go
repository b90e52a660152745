package config

import (
	"net/url"
	"strings"
	"time"

	"github.com/actas-dev/actas/worker/bareid"
	"github.com/actas-dev/actas/worker/internal/ids"
)

func (l *loader) bareID(b *bareid.Config, devLoopback bool) {
	b.DevLoopback = devLoopback
	b.APIURL = l.url("BAREID_API_URL", bareid.DefaultAPIURL, devLoopback)
	b.Instance = l.required("BAREID_INSTANCE")
	if b.Instance != "" && !ids.IsUUID(b.Instance) {
		l.fail("BAREID_INSTANCE", "must be a UUID")
	}
	b.TokenURL = l.url("BAREID_TOKEN_URL", "", devLoopback)
	b.ClientID = l.required("BAREID_CLIENT_ID")
	b.ClientSecret = l.required("BAREID_CLIENT_SECRET")
	b.ClientSecretNext = l.get("BAREID_CLIENT_SECRET_NEXT")
	if b.ClientSecretNext != "" && b.ClientSecretNext == b.ClientSecret {
		l.fail("BAREID_CLIENT_SECRET_NEXT", "equals BAREID_CLIENT_SECRET; remove it once the rotation is done")
	}
	b.ImpersonationHosts = l.hosts("BAREID_IMPERSONATION_HOSTS")
	b.TokenPath = l.gjsonPath("BAREID_RESPONSE_TOKEN_PATH", bareid.DefaultTokenPath)
	b.URLPath = l.gjsonPath("BAREID_RESPONSE_URL_PATH", bareid.DefaultURLPath)
	b.Timeout = l.durationIn("BAREID_TIMEOUT", bareid.DefaultTimeout, 100*time.Millisecond, time.Minute)
	switch b.Method = strings.ToUpper(l.get("BAREID_IMPERSONATION_METHOD")); b.Method {
	case "":
		b.Method = bareid.DefaultMethod
	case "POST", "GET":
	default:
		l.fail("BAREID_IMPERSONATION_METHOD", "must be POST or GET")
	}
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
