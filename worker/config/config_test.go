package config_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/actas-dev/actas/worker/bareid"
	"github.com/actas-dev/actas/worker/config"
	"github.com/actas-dev/actas/worker/policy"
)

const secret = "s3cr3t-value-that-must-never-appear"

func keyLine(label, key string) string {
	sum := sha256.Sum256([]byte(key))
	return label + ":" + hex.EncodeToString(sum[:])
}

func validEnv() map[string]string {
	return map[string]string{
		"BAREID_INSTANCE":            "6c0f7d8e-2b1a-4c3d-9e8f-7a6b5c4d3e2f",
		"BAREID_TOKEN_URL":           "https://auth.example.com/realms/demo/protocol/openid-connect/token",
		"BAREID_CLIENT_ID":           "actas-impersonator",
		"BAREID_CLIENT_SECRET":       secret,
		"BAREID_IMPERSONATION_HOSTS": "auth.example.com, login.example.com:8443",
		"ACTAS_API_KEYS":             keyLine("ci-bot", "k1") + "\n" + keyLine("ops", "k2"),
		"ACTAS_CLIENTS":              "crm=Customer CRM,wiki",
	}
}

func load(env map[string]string) (*config.Config, error) {
	return config.Load(func(k string) string { return env[k] })
}

func TestLoadValid(t *testing.T) {
	c, err := load(validEnv())
	if err != nil {
		t.Fatal(err)
	}
	if c.BareID.APIURL.String() != bareid.DefaultAPIURL {
		t.Errorf("APIURL = %s", c.BareID.APIURL)
	}
	if !c.BareID.ImpersonationHosts["auth.example.com"] || !c.BareID.ImpersonationHosts["login.example.com:8443"] {
		t.Errorf("hosts = %v", c.BareID.ImpersonationHosts)
	}
	want := []policy.Client{{ID: "crm", Name: "Customer CRM"}, {ID: "wiki", Name: "wiki"}}
	if !reflect.DeepEqual(c.Policy.Clients, want) {
		t.Errorf("clients = %v", c.Policy.Clients)
	}
	if len(c.Identity.APIKeys) != 2 || c.Identity.APIKeys[1].Label != "ops" {
		t.Errorf("keys = %v", c.Identity.APIKeys)
	}
	if !c.Policy.ReasonRequired || c.Policy.ReasonMinLength != policy.DefaultReasonMinLength || c.DevLoopback {
		t.Errorf("defaults: required %v min %d dev %v", c.Policy.ReasonRequired, c.Policy.ReasonMinLength, c.DevLoopback)
	}
	if c.BareID.TokenPath != "token" || c.BareID.URLPath != "url" || c.BareID.Timeout != 10*time.Second || c.BareID.Method != "POST" {
		t.Errorf("defaults: %q %q %v", c.BareID.TokenPath, c.BareID.URLPath, c.BareID.Timeout)
	}
}

func TestLoadNamesTheVariable(t *testing.T) {
	tests := []struct {
		name    string
		set     map[string]string
		unset   string
		wantVar string
	}{
		{name: "missing instance", unset: "BAREID_INSTANCE", wantVar: "BAREID_INSTANCE"},
		{name: "instance not a uuid", set: map[string]string{"BAREID_INSTANCE": "demo"}, wantVar: "BAREID_INSTANCE"},
		{name: "missing secret", unset: "BAREID_CLIENT_SECRET", wantVar: "BAREID_CLIENT_SECRET"},
		{name: "missing token url", unset: "BAREID_TOKEN_URL", wantVar: "BAREID_TOKEN_URL"},
		{name: "http token url", set: map[string]string{"BAREID_TOKEN_URL": "http://auth.example.com/token"}, wantVar: "BAREID_TOKEN_URL"},
		{name: "loopback http without dev flag", set: map[string]string{"BAREID_API_URL": "http://127.0.0.1:8790"}, wantVar: "BAREID_API_URL"},
		{name: "loopback flag does not open other hosts", set: map[string]string{"ACTAS_DEV_LOOPBACK": "true", "BAREID_API_URL": "http://api.example.com"}, wantVar: "BAREID_API_URL"},
		{name: "url with user-info", set: map[string]string{"BAREID_API_URL": "https://user:" + secret + "@api.example.com"}, wantVar: "BAREID_API_URL"},
		{name: "missing hosts", unset: "BAREID_IMPERSONATION_HOSTS", wantVar: "BAREID_IMPERSONATION_HOSTS"},
		{name: "host with scheme", set: map[string]string{"BAREID_IMPERSONATION_HOSTS": "https://auth.example.com"}, wantVar: "BAREID_IMPERSONATION_HOSTS"},
		{name: "wildcard host", set: map[string]string{"BAREID_IMPERSONATION_HOSTS": "*.example.com"}, wantVar: "BAREID_IMPERSONATION_HOSTS"},
		{name: "no api keys", unset: "ACTAS_API_KEYS", wantVar: "ACTAS_API_KEYS"},
		{name: "api key not hex", set: map[string]string{"ACTAS_API_KEYS": "bot:" + secret}, wantVar: "ACTAS_API_KEYS"},
		{name: "api key repeated hash", set: map[string]string{"ACTAS_API_KEYS": keyLine("a", "1") + "," + keyLine("b", "1")}, wantVar: "ACTAS_API_KEYS"},
		{name: "api key label with other roles", set: map[string]string{"ACTAS_API_KEYS": keyLine("a", "1") + "," + keyLine("a", "2") + ":actas-auditor"}, wantVar: "ACTAS_API_KEYS"},
		{name: "next secret equals secret", set: map[string]string{"BAREID_CLIENT_SECRET_NEXT": secret}, wantVar: "BAREID_CLIENT_SECRET_NEXT"},
		{name: "caller details", set: map[string]string{"ACTAS_AUDIT_CALLER": "some"}, wantVar: "ACTAS_AUDIT_CALLER"},
		{name: "retention", set: map[string]string{"ACTAS_AUDIT_RETENTION": "forever"}, wantVar: "ACTAS_AUDIT_RETENTION"},
		{name: "anchor cron", set: map[string]string{"ACTAS_ANCHOR_CRON": "daily"}, wantVar: "ACTAS_ANCHOR_CRON"},
		{name: "webhook secret without url", set: map[string]string{"ACTAS_WEBHOOK_SECRET": "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"}, wantVar: "ACTAS_WEBHOOK_SECRET"},
		{name: "webhook url without secret", set: map[string]string{"ACTAS_WEBHOOK_URL": "https://siem.example.com/actas"}, wantVar: "ACTAS_WEBHOOK_SECRET"},
		{name: "webhook secret too short", set: map[string]string{"ACTAS_WEBHOOK_URL": "https://siem.example.com/actas", "ACTAS_WEBHOOK_SECRET": "whsec_c2hvcnQ="}, wantVar: "ACTAS_WEBHOOK_SECRET"},
		{name: "webhook http", set: map[string]string{"ACTAS_WEBHOOK_URL": "http://siem.example.com/actas", "ACTAS_WEBHOOK_SECRET": "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"}, wantVar: "ACTAS_WEBHOOK_URL"},
		{name: "no clients", unset: "ACTAS_CLIENTS", wantVar: "ACTAS_CLIENTS"},
		{name: "duplicate client", set: map[string]string{"ACTAS_CLIENTS": "crm,crm=CRM"}, wantVar: "ACTAS_CLIENTS"},
		{name: "protected not uuid", set: map[string]string{"ACTAS_PROTECTED_USERS": "root"}, wantVar: "ACTAS_PROTECTED_USERS"},
		{name: "reason flag", set: map[string]string{"ACTAS_REASON_REQUIRED": "sometimes"}, wantVar: "ACTAS_REASON_REQUIRED"},
		{name: "reason length", set: map[string]string{"ACTAS_REASON_MIN_LENGTH": "0"}, wantVar: "ACTAS_REASON_MIN_LENGTH"},
		{name: "wildcard origin", set: map[string]string{"ACTAS_ALLOWED_ORIGINS": "*"}, wantVar: "ACTAS_ALLOWED_ORIGINS"},
		{name: "http origin", set: map[string]string{"ACTAS_ALLOWED_ORIGINS": "http://evil.example"}, wantVar: "ACTAS_ALLOWED_ORIGINS"},
		{name: "timeout", set: map[string]string{"BAREID_TIMEOUT": "1h"}, wantVar: "BAREID_TIMEOUT"},
		{name: "method", set: map[string]string{"BAREID_IMPERSONATION_METHOD": "PUT"}, wantVar: "BAREID_IMPERSONATION_METHOD"},
		{name: "token path with space", set: map[string]string{"BAREID_RESPONSE_TOKEN_PATH": "a b"}, wantVar: "BAREID_RESPONSE_TOKEN_PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validEnv()
			delete(env, tt.unset)
			for k, v := range tt.set {
				env[k] = v
			}
			_, err := load(env)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *config.Error", err)
			}
			if !reflect.DeepEqual(ce.Variables(), []string{tt.wantVar}) {
				t.Errorf("variables = %v, want [%s]", ce.Variables(), tt.wantVar)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error echoes a value: %v", err)
			}
		})
	}
}

func TestLoadAuditAndWebhook(t *testing.T) {
	env := validEnv()
	env["ACTAS_AUDIT_CALLER"] = "network"
	env["ACTAS_AUDIT_RETENTION"] = "400d"
	env["ACTAS_WEBHOOK_URL"] = "https://siem.example.com/actas"
	env["ACTAS_WEBHOOK_SECRET"] = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"
	c, err := load(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.Caller != "network" || c.Audit.Retention != 400*24*time.Hour || c.Audit.AnchorCron != config.DefaultAnchorCron {
		t.Errorf("audit %+v", c.Audit)
	}
	if !c.Webhook.Enabled() || string(c.Webhook.Secret) != "0123456789abcdef01234567" || c.Webhook.Retry != 30*time.Second {
		t.Errorf("webhook %+v", c.Webhook)
	}
	d, _ := load(validEnv())
	if d.Audit.Caller != "full" || d.Audit.Retention != 0 || d.Webhook.Enabled() {
		t.Errorf("defaults: %+v %+v", d.Audit, d.Webhook)
	}
}

func TestLoadAPIKeyRotationOverlap(t *testing.T) {
	env := validEnv()
	env["ACTAS_API_KEYS"] = keyLine("ci-bot", "old") + "\n" + keyLine("ci-bot", "new") + "\n" +
		keyLine("export", "e1") + ":actas-auditor\n" + keyLine("export", "e2") + ":actas-auditor"
	c, err := load(env)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Identity.APIKeys) != 4 || c.Identity.APIKeys[0].Label != "ci-bot" || c.Identity.APIKeys[1].Label != "ci-bot" {
		t.Errorf("keys = %v", c.Identity.APIKeys)
	}
}

func TestLoadReportsEveryProblem(t *testing.T) {
	_, err := load(map[string]string{})
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatal(err)
	}
	got := strings.Join(ce.Variables(), ",")
	for _, want := range []string{"BAREID_INSTANCE", "BAREID_TOKEN_URL", "BAREID_CLIENT_ID", "BAREID_CLIENT_SECRET", "BAREID_IMPERSONATION_HOSTS", "ACTAS_API_KEYS", "ACTAS_CLIENTS"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in %s", want, got)
		}
	}
}

func TestDevLoopback(t *testing.T) {
	env := validEnv()
	env["ACTAS_DEV_LOOPBACK"] = "true"
	env["BAREID_API_URL"] = "http://127.0.0.1:8790/"
	env["BAREID_TOKEN_URL"] = "http://localhost:8790/realms/demo/protocol/openid-connect/token"
	c, err := load(env)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.BareID.APIURL.String(); got != "http://127.0.0.1:8790" {
		t.Errorf("APIURL = %s (trailing slash kept?)", got)
	}
	// The one switch reaches every part it weakens.
	if !c.DevLoopback || !c.BareID.DevLoopback || !c.Identity.DevLoopback {
		t.Errorf("dev loopback not passed on: %v %v %v", c.DevLoopback, c.BareID.DevLoopback, c.Identity.DevLoopback)
	}
	c, err = load(validEnv())
	if err != nil || c.DevLoopback || c.BareID.DevLoopback || c.Identity.DevLoopback {
		t.Errorf("dev loopback on by default: %v", err)
	}
}

// Each package's settings land in its own Config, with the role names shared.
func TestLoadFillsEachPart(t *testing.T) {
	env := validEnv()
	env["ACTAS_IMPERSONATOR_ROLE"] = "support"
	env["ACTAS_RATE_LIMIT"] = "5/90m"
	env["ACTAS_CLIENT_ROLES"] = "crm=crm-support|leads"
	env["ACTAS_PROTECTED_USERS"] = "0B8F6A52-1C3D-4E5F-8A9B-0C1D2E3F4A5B"
	c, err := load(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Identity.Roles.Impersonator != "support" || c.Policy.ImpersonatorRole != "support" {
		t.Errorf("impersonator role: identity %q, policy %q", c.Identity.Roles.Impersonator, c.Policy.ImpersonatorRole)
	}
	if c.Identity.APIKeys[0].Roles[0] != "support" {
		t.Errorf("API keys default to %v", c.Identity.APIKeys[0].Roles)
	}
	if c.Policy.RateLimit != (policy.RateLimit{Count: 5, Window: 90 * time.Minute}) || c.Policy.RateLimit.String() != "5/1h30m" {
		t.Errorf("rate limit %+v", c.Policy.RateLimit)
	}
	if !reflect.DeepEqual(c.Policy.Clients[0].Roles, []string{"crm-support", "leads"}) {
		t.Errorf("client roles %v", c.Policy.Clients[0].Roles)
	}
	if !c.Policy.ProtectedUsers["0b8f6a52-1c3d-4e5f-8a9b-0c1d2e3f4a5b"] {
		t.Errorf("protected users %v (not lower-cased?)", c.Policy.ProtectedUsers)
	}
	if c.Identity.OIDC != nil || c.Identity.Access != nil {
		t.Errorf("token authenticators configured without their issuer")
	}
}
