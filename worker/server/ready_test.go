package server_test

import (
	"encoding/json"
	"strings"
	"testing"
)

func readyz(t *testing.T, f *fixture) (int, map[string]any, map[string]string) {
	t.Helper()
	rep := f.do(t, "GET", "/readyz", "", nil)
	checks := map[string]string{}
	raw, _ := json.Marshal(rep.body["checks"])
	_ = json.Unmarshal(raw, &checks)
	for _, leak := range []string{"http", "127.0.0.1", saSecret, instance} {
		if strings.Contains(rep.raw, leak) {
			t.Errorf("/readyz names %q: %s", leak, rep.raw)
		}
	}
	if rep.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", rep.header.Get("Cache-Control"))
	}
	return rep.code, rep.body, checks
}

func TestReadyz(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		f := newFixture(t, nil)
		code, body, checks := readyz(t, f)
		if code != 200 || body["status"] != "ready" || body["version"] != "unset" ||
			tuple(checks) != tuple(map[string]string{"config": "ok", "auditStore": "ok", "bareid": "ok"}) {
			t.Errorf("%d %v", code, body)
		}
	})
	t.Run("audit store not migrated", func(t *testing.T) {
		f := newFixture(t, nil)
		if _, err := f.db.Exec(`DROP TABLE audit_events`); err != nil {
			t.Fatal(err)
		}
		code, body, checks := readyz(t, f)
		if code != 503 || body["status"] != "not-ready" || checks["auditStore"] != "failed" || checks["bareid"] != "ok" {
			t.Errorf("%d %v", code, body)
		}
	})
	t.Run("Bare.ID unreachable", func(t *testing.T) {
		f := newFixture(t, nil)
		f.up.srv.Close()
		code, _, checks := readyz(t, f)
		if code != 503 || checks["bareid"] != "failed" || checks["auditStore"] != "ok" {
			t.Errorf("%d %v", code, checks)
		}
	})
	t.Run("the cached service token is used", func(t *testing.T) {
		f := newFixture(t, nil)
		if rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", "SUP-1234 check"), auth); rep.code != 201 {
			t.Fatalf("%d %s", rep.code, rep.raw)
		}
		hits := f.up.hits.Load()
		if code, _, _ := readyz(t, f); code != 200 || f.up.hits.Load() != hits {
			t.Errorf("%d, Bare.ID asked %d more times", code, f.up.hits.Load()-hits)
		}
	})
	t.Run("OIDC issuer unreachable", func(t *testing.T) {
		f := newFixture(t, map[string]string{"ACTAS_OIDC_ISSUER": "http://127.0.0.1:1/realms/demo", "ACTAS_OIDC_AUDIENCE": "actas-extension"})
		code, _, checks := readyz(t, f)
		if code != 503 || checks["oidc"] != "failed" || checks["bareid"] != "ok" {
			t.Errorf("%d %v", code, checks)
		}
		if !strings.Contains(f.log.String(), `"not-ready"`) {
			t.Errorf("the failed check is not logged: %s", f.log.String())
		}
	})
	t.Run("configuration invalid", func(t *testing.T) {
		f := newFixture(t, map[string]string{"BAREID_INSTANCE": ""})
		code, body, checks := readyz(t, f)
		if code != 503 || body["status"] != "not-ready" || tuple(checks) != tuple(map[string]string{"config": "failed"}) {
			t.Errorf("%d %v", code, body)
		}
		if rep := f.do(t, "GET", "/healthz", "", nil); rep.code != 200 {
			t.Errorf("healthz %d: liveness does not depend on the configuration", rep.code)
		}
	})
	t.Run("an answer is reused for a few seconds", func(t *testing.T) {
		f := newFixture(t, nil)
		readyz(t, f)
		f.up.srv.Close()
		if _, err := f.db.Exec(`DROP TABLE audit_events`); err != nil {
			t.Fatal(err)
		}
		if code, _, _ := readyz(t, f); code != 200 {
			t.Errorf("%d: the answer of a moment ago was not reused", code)
		}
	})
}

// /v1/me and openapi.json carry the build version (unset in tests).
func TestVersionIsShown(t *testing.T) {
	f := newFixture(t, nil)
	me := f.do(t, "GET", "/v1/me", "", auth)
	var doc struct {
		Info struct{ Version string } `json:"info"`
	}
	if err := json.Unmarshal([]byte(f.do(t, "GET", "/openapi.json", "", nil).raw), &doc); err != nil {
		t.Fatal(err)
	}
	if me.body["version"] != "unset" || doc.Info.Version != "unset" {
		t.Errorf("me %v, openapi info.version %q", me.body["version"], doc.Info.Version)
	}
}
