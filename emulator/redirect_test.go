package main

import (
	"net/url"
	"testing"
)

func TestParseRedirectPattern(t *testing.T) {
	tests := []struct {
		pattern string
		wantErr bool
	}{
		{"https://actas.example/oidc/callback", false},
		{"https://*.chromiumapp.org/*", false},
		{"https://*.extensions.allizom.org/*", false},
		{"http://127.0.0.1:*/*", false},
		{"http://localhost:*/*", false},
		{"https://*.chromiumapp.org/cb/*", false},
		{"http://127.0.0.1:8787/cb", false},
		{"https://*.org/*", true},                    // wildcard over a TLD
		{"https://x*.chromiumapp.org/*", true},       // partial label
		{"https://*.*.chromiumapp.org/*", true},      // two wildcard labels
		{"https://chromiumapp.*/*", true},            // wildcard not first
		{"https://*.chromiumapp.org", true},          // no path
		{"https://*.chromiumapp.org/cb*", true},      // partial segment
		{"https://*.chromiumapp.org/*/cb", true},     // wildcard mid-path
		{"https://*.chromiumapp.org/*?x=1", true},    // query with a wildcard
		{"https://*.Chromiumapp.org/*", true},        // upper case
		{"http://127.0.0.1:8*/*", true},              // partial port
		{"https://user@*.chromiumapp.org/*", true},   // userinfo
		{"custom://*.chromiumapp.org/*", true},       // scheme
		{"https://actas.example/cb#frag", true},      // fragment
		{"/relative/callback", true},                 // relative
		{"https://*.chromiumapp.org/../x/*", true},   // dot segment
		{"https://*.chromiumapp.org/%2e%2e/*", true}, // escaped dot segment
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			_, err := parseRedirectPattern(tt.pattern)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestRedirectMatching(t *testing.T) {
	seed, err := loadSeed()
	if err != nil {
		t.Fatal(err)
	}
	client, ok := seed.publicClient(testExtClient)
	if !ok {
		t.Fatal("no public client in the seed")
	}
	tests := []struct {
		uri  string
		want bool
	}{
		// exact
		{"https://actas.example/oidc/callback", true},
		{"https://actas.example/oidc/callback/", false},
		{"https://actas.example/oidc/callback?x=1", false},
		{"https://actas.example/oidc/Callback", false},
		{"https://actas.example:443/oidc/callback", false},
		// Chromium extensions
		{"https://abcdefghijklmnopabcdefghijklmnop.chromiumapp.org/", true},
		{"https://abcdefghijklmnopabcdefghijklmnop.chromiumapp.org/cb/deeper", true},
		{"https://ABCDEF.chromiumapp.org/", true}, // hosts are case-insensitive
		{"https://chromiumapp.org/", false},
		{"https://.chromiumapp.org/", false},
		{"https://a.b.chromiumapp.org/", false},
		{"http://abc.chromiumapp.org/", false},
		{"https://abc.chromiumapp.org:8443/", false},
		{"https://abc.chromiumapp.org", false},
		{"https://abc.chromiumapp.org/?q=1", false},
		{"https://abc.chromiumapp.org/#frag", false},
		{"https://abc.chromiumapp.org/../x", false},
		{"https://abc.chromiumapp.org/%2e%2e/x", false},
		// look-alikes
		{"https://evil.example/chromiumapp.org/", false},
		{"https://x.chromiumapp.org.evil.example/", false},
		{"https://evilchromiumapp.org/", false},
		{"https://x-chromiumapp.org/", false},
		{"https://x.chromiumapp.org@evil.example/", false},
		{"https://evil.example@x.chromiumapp.org/", false},
		{"https://evil.example\\.x.chromiumapp.org/", false},
		{"https://evil.example%2f.chromiumapp.org/", false},
		{"https://evil%2Eexample.chromiumapp.org/", false},
		{"https://x.chromiumapp.org%00.evil.example/", false},
		{"https://x.chromiumapp.org /", false},
		{"//x.chromiumapp.org/", false},
		{"javascript://x.chromiumapp.org/%0aalert(1)", false},
		// Firefox extensions
		{"https://2b2bc6f7-8f80-4a77-bb4c-5b0cdd2a2a4b.extensions.allizom.org/", true},
		{"https://x.extensions.allizom.org.evil.example/", false},
		{"https://x.allizom.org/", false},
		// loopback
		{"http://127.0.0.1:8787/oidc/callback", true},
		{"http://127.0.0.1:1/", true},
		{"http://localhost:65535/x?", false},
		{"http://localhost:65535/x", true},
		{"http://127.0.0.1/", false},       // ":*" needs a port
		{"http://127.0.0.1:0/", false},     // not a port
		{"http://127.0.0.1:65536/", false}, // not a port
		{"http://127.0.0.1:08080/", false}, // not canonical
		{"https://127.0.0.1:8787/", false}, // scheme
		{"http://127.0.0.1:8787.evil.example/", false},
		{"http://127.0.0.1.evil.example:8787/", false},
		{"http://localhost.evil.example:8787/", false},
		{"http://[::1]:8787/", false},
		{"http://user@127.0.0.1:8787/", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			if got := redirectAllowed(client.RedirectURIs, tt.uri); got != tt.want {
				t.Errorf("allowed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWithQuery(t *testing.T) {
	q := url.Values{"code": {"c"}, "state": {"a b&c"}}
	for in, want := range map[string]string{
		"https://x.chromiumapp.org/":      "https://x.chromiumapp.org/?code=c&state=a+b%26c",
		"https://actas.example/cb?keep=1": "https://actas.example/cb?keep=1&code=c&state=a+b%26c",
		"https://actas.example/cb?":       "https://actas.example/cb?code=c&state=a+b%26c",
	} {
		if got := withQuery(in, q); got != want {
			t.Errorf("withQuery(%q) = %q, want %q", in, got, want)
		}
	}
}
