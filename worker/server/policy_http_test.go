package server_test

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// keyEntry is one ACTAS_API_KEYS entry for key, with roles when given.
func keyEntry(label, key, roles string) string {
	sum := sha256.Sum256([]byte(key))
	e := label + ":" + hex.EncodeToString(sum[:])
	if roles != "" {
		e += ":" + roles
	}
	return e
}

func as(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }

// policyFixture has callers with different roles:
//   - ci-bot (apiKey): impersonator, the default
//   - auditor: auditor only
//   - lead: impersonator and auditor
//   - crm-agent: impersonator allowed into the crm, which needs crm-support
func policyFixture(t *testing.T, override map[string]string) *fixture {
	env := map[string]string{
		"ACTAS_API_KEYS": strings.Join([]string{
			keyEntry("ci-bot", apiKey, ""),
			keyEntry("auditor", "key-auditor", "actas-auditor"),
			keyEntry("lead", "key-lead", "actas-impersonator|actas-auditor"),
			keyEntry("crm-agent", "key-crm", "actas-impersonator|crm-support"),
		}, "\n"),
		"ACTAS_CLIENT_ROLES": "crm=crm-support",
	}
	for k, v := range override {
		env[k] = v
	}
	return newFixture(t, env)
}

func TestPolicyDenialsAreAudited(t *testing.T) {
	f := policyFixture(t, map[string]string{"ACTAS_REASON_PATTERN": `^[A-Z]+-[0-9]+`})
	tests := []struct {
		name, key, body string
		status          int
		slug, rule      string
	}{
		{"auditor cannot impersonate", "key-auditor", mintBody(alice, "wiki", "SUP-1234 check"), 403, "forbidden", "no-impersonate-role"},
		{"application needs a role", apiKey, mintBody(alice, "crm", "SUP-1234 check"), 400, "client-not-allowed", "client-not-allowed"},
		{"unknown application", apiKey, mintBody(alice, "payroll", "SUP-1234 check"), 400, "client-not-allowed", "client-not-allowed"},
		{"no reason", apiKey, mintBody(alice, "wiki", "  "), 400, "reason-required", "reason-required"},
		{"short reason", apiKey, mintBody(alice, "wiki", "SUP-1"), 400, "reason-required", "reason-too-short"},
		{"reason without ticket", apiKey, mintBody(alice, "wiki", "customer called about invoices"), 400, "reason-required", "reason-pattern"},
		{"protected user", apiKey, mintBody(protected, "wiki", "SUP-1234 check"), 403, "user-not-allowed", "protected-user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.rows(t))
			rep := f.do(t, "POST", "/v1/impersonations", tt.body, as(tt.key))
			wantProblem(t, rep, tt.status, tt.slug)
			rows := f.rows(t)
			if len(rows) != before+1 {
				t.Fatalf("%d new rows, want 1", len(rows)-before)
			}
			if last := rows[len(rows)-1]; last["outcome"] != "denied" || last["detail"] != tt.rule {
				t.Errorf("row %v, want denied by %s", last, tt.rule)
			}
		})
	}
	if f.up.hits.Load() != 0 {
		t.Errorf("a denied request reached Bare.ID")
	}
	// The role-scoped caller gets the crm; a CR-LF reason is stored as given.
	reason := "SUP-77 first line\r\nsecond line"
	if rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", reason), as("key-crm")); rep.code != 201 {
		t.Fatalf("crm-agent: %d %s", rep.code, rep.raw)
	}
	rows := f.rows(t)
	if last := rows[len(rows)-1]; last["reason"] != reason || last["actor"] != "crm-agent" {
		t.Errorf("row %v", last)
	}
}

func TestClientsFollowRoles(t *testing.T) {
	f := policyFixture(t, nil)
	for key, want := range map[string]string{
		apiKey:    `[{"clientId":"wiki","name":"Team Wiki"}]`,
		"key-crm": `[{"clientId":"crm","name":"Customer CRM"},{"clientId":"wiki","name":"Team Wiki"}]`,
	} {
		if rep := f.do(t, "GET", "/v1/clients", "", as(key)); strings.TrimSpace(rep.raw) != want {
			t.Errorf("%s: %s", key, rep.raw)
		}
	}
	wantProblem(t, f.do(t, "GET", "/v1/clients", "", as("key-auditor")), 403, "forbidden")
	rep := f.do(t, "GET", "/v1/me", "", as("key-lead"))
	perms, _ := json.Marshal(rep.body["permissions"])
	if string(perms) != `["impersonate","audit"]` || rep.body["rateLimit"] != "20/1h" {
		t.Errorf("me: %s", rep.raw)
	}
}

func TestSelfImpersonationRefused(t *testing.T) {
	// API keys have no subject; self-impersonation is an OIDC matter, exercised end to
	// end in e2e/. Here: a key labelled like a user id is not mistaken for that user.
	f := policyFixture(t, map[string]string{"ACTAS_API_KEYS": keyEntry(alice, apiKey, "")})
	if rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "wiki", "SUP-1234 check"), auth); rep.code != 201 {
		t.Fatalf("%d %s", rep.code, rep.raw)
	}
}

func TestGETWhenConfigured(t *testing.T) {
	f := newFixture(t, map[string]string{"BAREID_IMPERSONATION_METHOD": "get"})
	if rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "wiki", "SUP-1234 check"), auth); rep.code != 201 || rep.body["method"] != "GET" {
		t.Fatalf("%d %s", rep.code, rep.raw)
	}
}

func TestRateLimit(t *testing.T) {
	f := policyFixture(t, map[string]string{"ACTAS_RATE_LIMIT": "2/1h"})
	for i := 0; i < 2; i++ {
		if rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "wiki", "SUP-1234 check"), auth); rep.code != 201 {
			t.Fatalf("mint %d: %d %s", i, rep.code, rep.raw)
		}
	}
	rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "wiki", "SUP-1234 check"), auth)
	wantProblem(t, rep, 429, "rate-limited")
	retry, err := strconv.Atoi(rep.header.Get("Retry-After"))
	if err != nil || retry < 3590 || retry > 3600 {
		t.Errorf("Retry-After %q", rep.header.Get("Retry-After"))
	}
	// Denied attempts do not count against the limit, and others are not affected.
	wantProblem(t, f.do(t, "POST", "/v1/impersonations", mintBody(alice, "wiki", "SUP-1234 check"), auth), 429, "rate-limited")
	if rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "wiki", "SUP-1234 check"), as("key-lead")); rep.code != 201 {
		t.Errorf("another actor: %d", rep.code)
	}
	if got := f.up.hits.Load(); got != 3+1 { // 3 mints and one service token
		t.Errorf("Bare.ID hit %d times", got)
	}
}

func TestAuditListing(t *testing.T) {
	f := policyFixture(t, nil)
	reasons := []string{"SUP-1 plain reason", "=HYPERLINK(\"x\") SUP-2", "SUP-3 \"quoted\", with comma\nand newline"}
	for _, r := range reasons {
		if rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "wiki", r), auth); rep.code != 201 {
			t.Fatalf("%d %s", rep.code, rep.raw)
		}
	}
	f.do(t, "POST", "/v1/impersonations", mintBody(alice, "wiki", "SUP-4 lead's"), as("key-lead"))

	// An auditor sees all four, newest first; an impersonator only their own.
	rep := f.do(t, "GET", "/v1/impersonations", "", as("key-auditor"))
	items := rep.body["items"].([]any)
	if rep.code != 200 || len(items) != 4 || items[0].(map[string]any)["actor"] != "lead" {
		t.Fatalf("auditor: %d %s", rep.code, rep.raw)
	}
	rep = f.do(t, "GET", "/v1/impersonations", "", auth)
	if n := len(rep.body["items"].([]any)); n != 3 {
		t.Errorf("ci-bot sees %d rows, want its own 3", n)
	}
	wantProblem(t, f.do(t, "GET", "/v1/impersonations?actor=lead", "", auth), 403, "forbidden")

	// Paging follows the cursor and the Link header.
	rep = f.do(t, "GET", "/v1/impersonations?limit=3", "", as("key-auditor"))
	next, _ := rep.body["next"].(string)
	link := rep.header.Get("Link")
	if next == "" || !strings.Contains(link, "cursor="+next) || !strings.Contains(link, `rel="next"`) {
		t.Fatalf("next %q link %q", next, link)
	}
	rep = f.do(t, "GET", "/v1/impersonations?limit=3&cursor="+next, "", as("key-auditor"))
	if n := len(rep.body["items"].([]any)); n != 1 || rep.body["next"] != nil {
		t.Errorf("second page: %s", rep.raw)
	}

	// Exports round-trip: NDJSON exactly, CSV with formula cells defused.
	rep = f.do(t, "GET", "/v1/impersonations?actor=ci-bot", "", map[string]string{"Authorization": "Bearer key-auditor", "Accept": "application/x-ndjson"})
	lines := strings.Split(strings.TrimSpace(rep.raw), "\n")
	if rep.header.Get("Content-Type") != "application/x-ndjson" || len(lines) != 3 {
		t.Fatalf("ndjson: %q", rep.raw)
	}
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["reason"] != reasons[2-i] {
			t.Errorf("ndjson line %d: %v %v", i, rec["reason"], err)
		}
	}
	rep = f.do(t, "GET", "/v1/impersonations?actor=ci-bot", "", map[string]string{"Authorization": "Bearer key-auditor", "Accept": "text/csv"})
	if !strings.HasPrefix(rep.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv content type %q", rep.header.Get("Content-Type"))
	}
	recs, err := csv.NewReader(strings.NewReader(rep.raw)).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][7] != "reason" {
		t.Fatalf("csv: %v %q", err, rep.raw)
	}
	wantCSV := []string{reasons[2], "'" + reasons[1], reasons[0]}
	for i, want := range wantCSV {
		if recs[i+1][7] != want || recs[i+1][8] != "issued" {
			t.Errorf("csv row %d: reason %q outcome %q", i, recs[i+1][7], recs[i+1][8])
		}
	}
	for _, secret := range []string{mintedToken, apiKey, saSecret} {
		if strings.Contains(rep.raw, secret) {
			t.Error("export contains a secret or token")
		}
	}

	for name, q := range map[string]string{
		"unknown parameter": "?token=x", "bad time": "?since=yesterday", "bad outcome": "?outcome=approved",
		"bad user": "?user=alice", "bad limit": "?limit=0", "bad cursor": "?cursor=zzz", "repeated": "?actor=a&actor=b",
	} {
		t.Run(name, func(t *testing.T) {
			wantProblem(t, f.do(t, "GET", "/v1/impersonations"+q, "", as("key-auditor")), 400, "invalid-query")
		})
	}
	wantProblem(t, f.do(t, "GET", "/v1/impersonations", "", map[string]string{"Authorization": "Bearer key-auditor", "Accept": "application/xml"}), 406, "not-acceptable")
}

func TestEndAndVerify(t *testing.T) {
	f := policyFixture(t, nil)
	rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "wiki", "SUP-1234 check"), auth)
	id := rep.body["id"].(string)

	wantProblem(t, f.do(t, "POST", "/v1/impersonations/"+id+"/end", "", as("key-crm")), 404, "not-found")
	wantProblem(t, f.do(t, "GET", "/v1/impersonations/"+id, "", as("key-crm")), 404, "not-found")
	wantProblem(t, f.do(t, "POST", "/v1/impersonations/"+id+"/end", "", as("key-auditor")), 403, "forbidden")
	rep = f.do(t, "POST", "/v1/impersonations/"+id+"/end", "", auth)
	if rep.code != 200 || rep.body["endedAt"] == nil {
		t.Fatalf("end: %d %s", rep.code, rep.raw)
	}
	wantProblem(t, f.do(t, "POST", "/v1/impersonations/"+id+"/end", "", auth), 409, "impersonation-not-active")
	if rep := f.do(t, "GET", "/v1/impersonations/"+id, "", as("key-auditor")); rep.code != 200 || rep.body["endedAt"] == nil {
		t.Errorf("get: %d %s", rep.code, rep.raw)
	}

	wantProblem(t, f.do(t, "GET", "/v1/impersonations/verify", "", auth), 403, "forbidden")
	rep = f.do(t, "GET", "/v1/impersonations/verify", "", as("key-auditor"))
	if rep.code != 200 || rep.body["ok"] != true || rep.body["events"] != float64(3) {
		t.Fatalf("verify: %s", rep.raw)
	}
	// Someone edits the trail directly in the database.
	for _, stmt := range []string{`DROP TRIGGER audit_events_no_update`, `UPDATE audit_events SET actor = 'nobody' WHERE seq = 1`} {
		if _, err := f.db.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	rep = f.do(t, "GET", "/v1/impersonations/verify", "", as("key-auditor"))
	brk, _ := rep.body["firstBreak"].(map[string]any)
	if rep.code != http.StatusOK || rep.body["ok"] != false || brk["seq"] != float64(1) {
		t.Errorf("verify after tampering: %s", rep.raw)
	}
}

// An impersonator's own listing shows a protected user as Bare.ID's unknown user, in
// the rows, the filter and the single view; both count toward the rate limit alike.
// Auditors keep the stored detail.
func TestProtectedAndUnknownLookAlikeToTheirImpersonator(t *testing.T) {
	f := policyFixture(t, map[string]string{"ACTAS_RATE_LIMIT": "2/1h"})
	prot := f.do(t, "POST", "/v1/impersonations", mintBody(protected, "wiki", "SUP-1234 check"), auth)
	wantProblem(t, prot, 403, "user-not-allowed")
	f.up.mintCode.Store(404)
	wantProblem(t, f.do(t, "POST", "/v1/impersonations", mintBody(alice, "wiki", "SUP-1234 check"), auth), 403, "user-not-allowed")

	own := f.do(t, "GET", "/v1/impersonations", "", auth)
	items, _ := own.body["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("own listing: %s", own.raw)
	}
	view := func(it map[string]any) string {
		return tuple(it["outcome"], it["outcomeDetail"], it["upstreamStatus"], it["completedAt"] != nil, it["expiresAt"] != nil)
	}
	a, b := view(items[0].(map[string]any)), view(items[1].(map[string]any))
	if a != b || a != tuple("failed", "user-not-allowed", float64(404), true, false) {
		t.Errorf("own rows differ or are not the unknown user's view:\n%s\n%s", a, b)
	}
	for outcome, want := range map[string]int{"denied": 0, "failed": 2} {
		rep := f.do(t, "GET", "/v1/impersonations?outcome="+outcome, "", auth)
		if n := len(rep.body["items"].([]any)); n != want {
			t.Errorf("own listing with outcome=%s: %d rows, want %d", outcome, n, want)
		}
	}
	csvRep := f.do(t, "GET", "/v1/impersonations", "", map[string]string{"Authorization": auth["Authorization"], "Accept": "text/csv"})
	if strings.Contains(csvRep.raw, "protected-user") || strings.Contains(csvRep.raw, "denied") {
		t.Errorf("own CSV export tells the protected user apart:\n%s", csvRep.raw)
	}
	one := f.do(t, "GET", "/v1/impersonations/"+idOfRequest(t, f, prot.header.Get("X-Request-Id")), "", auth)
	if view(one.body) != a {
		t.Errorf("own single view %s", one.raw)
	}
	full := f.do(t, "GET", "/v1/impersonations?outcome=denied", "", as("key-auditor"))
	if items := full.body["items"].([]any); len(items) != 1 || items[0].(map[string]any)["outcomeDetail"] != "protected-user" {
		t.Errorf("auditor view: %s", full.raw)
	}

	// Both refusals counted: a third request is over the limit for either user.
	for _, user := range []string{protected, alice} {
		wantProblem(t, f.do(t, "POST", "/v1/impersonations", mintBody(user, "wiki", "SUP-1234 check"), auth), 429, "rate-limited")
	}
}

func tuple(v ...any) string { b, _ := json.Marshal(v); return string(b) }

// idOfRequest finds the impersonation a request started, through the auditor's view.
func idOfRequest(t *testing.T, f *fixture, requestID string) string {
	t.Helper()
	rep := f.do(t, "GET", "/v1/impersonations", "", as("key-auditor"))
	for _, it := range rep.body["items"].([]any) {
		if m := it.(map[string]any); m["requestId"] == requestID {
			return m["id"].(string)
		}
	}
	t.Fatalf("no impersonation for request %s", requestID)
	return ""
}

// The CSV export holds each reason's bytes exactly: line feeds stay line feeds and a
// lone carriage return stays (encoding/csv's Writer rewrites both).
func TestCSVExportKeepsReasons(t *testing.T) {
	f := policyFixture(t, nil)
	reason := "SUP-5 lone\rCR, CRLF\r\nand LF\nend"
	if rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "wiki", reason), auth); rep.code != 201 {
		t.Fatalf("%d %s", rep.code, rep.raw)
	}
	rep := f.do(t, "GET", "/v1/impersonations", "", map[string]string{"Authorization": "Bearer key-auditor", "Accept": "text/csv"})
	if want := `"` + reason + `"`; !strings.Contains(rep.raw, want) {
		t.Errorf("CSV export does not hold %q:\n%q", want, rep.raw)
	}
	if !strings.HasSuffix(rep.raw, "\r\n") || strings.Count(rep.raw, "\r\n") != 3 {
		t.Errorf("records do not end in CRLF: %q", rep.raw)
	}
}
