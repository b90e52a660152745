package main

import (
	"strings"
	"testing"
)

func TestDefaultSeed(t *testing.T) {
	s, err := loadSeed()
	if err != nil {
		t.Fatal(err)
	}
	if s.Instance != testInstance || s.Realm != "demo" {
		t.Errorf("instance %q realm %q", s.Instance, s.Realm)
	}
	imp, ok := s.serviceAccount(testImpID)
	if !ok || imp.Secret != testImpSecret || len(imp.Roles) != 1 || imp.Roles[0] != "realm-management/impersonation" {
		t.Errorf("impersonator = %+v", imp)
	}
	nr, ok := s.serviceAccount(testNoRoleID)
	if !ok || nr.Secret != testNoRoleSec || len(nr.Roles) != 0 {
		t.Errorf("no-role account = %+v", nr)
	}
	for _, c := range []string{"crm", "wiki"} {
		if _, ok := s.client(c); !ok {
			t.Errorf("client %s missing", c)
		}
	}
	if len(s.Users) < 6 || len(s.Admins) == 0 {
		t.Errorf("%d users, %d admins", len(s.Users), len(s.Admins))
	}
	if !strings.Contains(strings.ToLower(s.Comment), "development") {
		t.Error("seed _comment does not say the secrets are for development")
	}
}

func TestSeedValidation(t *testing.T) {
	base := string(defaultSeed)
	tests := []struct {
		name    string
		old     string
		new     string
		wantErr string
	}{
		{"unknown field", `"realm": "demo"`, `"realm": "demo", "relam": "x"`, "unknown field"},
		{"bad instance", testInstance, "not-a-uuid", "instance"},
		{"upper-case instance", testInstance, strings.ToUpper(testInstance), "instance"},
		{"bad realm", `"realm": "demo"`, `"realm": "de mo"`, "realm"},
		{"empty secret", `"secret": "dev-no-role-secret"`, `"secret": ""`, "secret is empty"},
		{"bad role", `"realm-management/impersonation"`, `"impersonation"`, "client/role"},
		{"duplicate user", "ddf6e29c-c191-4e27-9793-e67cfb2a85f2", "c55d7ef7-1618-4ebe-941d-14dd61aa5d40", "duplicated"},
		{"duplicate client", `"clientId": "wiki"`, `"clientId": "crm"`, "duplicated"},
		{"bad redirect", `"redirectUrl": "/apps/wiki/"`, `"redirectUrl": "javascript:alert(1)"`, "redirectUrl"},
		{"not JSON", base, "{", "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(base, tt.old) {
				t.Fatalf("seed lacks %q", tt.old)
			}
			_, err := parseSeed(strings.NewReader(strings.Replace(base, tt.old, tt.new, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRelativeAndAbsoluteRedirects(t *testing.T) {
	seed, _ := loadSeed()
	seed.Clients = append(seed.Clients, Client{ClientID: "ext", Name: "External", RedirectURL: "https://app.example.test/home"})
	e := newTestEnvWith(t, "http://127.0.0.1:8790/", seed)
	if got := e.s.redirectURL(seed.Clients[0]); got != "http://127.0.0.1:8790/apps/crm/" {
		t.Errorf("relative: %q", got)
	}
	if got := e.s.redirectURL(seed.Clients[len(seed.Clients)-1]); got != "https://app.example.test/home" {
		t.Errorf("absolute: %q", got)
	}
}

func TestParsePublicURL(t *testing.T) {
	for _, tt := range []struct {
		in   string
		ok   bool
		want string
	}{
		{"http://127.0.0.1:8790", true, "http://127.0.0.1:8790"},
		{"https://id.example.test/", true, "https://id.example.test"},
		{"ftp://x", false, ""},
		{"127.0.0.1:8790", false, ""},
		{"http://x/path", false, ""},
		{"http://x?q=1", false, ""},
		{"http://user:pw@x", false, ""},
	} {
		u, err := parsePublicURL(tt.in)
		if (err == nil) != tt.ok || (tt.ok && u.String() != tt.want) {
			t.Errorf("parsePublicURL(%q) = %v, %v", tt.in, u, err)
		}
	}
}
