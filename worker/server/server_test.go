package server_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/internal/sqlitetest"
	"github.com/actas-dev/actas/worker/problem"
	"github.com/actas-dev/actas/worker/server"
)

const (
	instance    = "6c0f7d8e-2b1a-4c3d-9e8f-7a6b5c4d3e2f"
	alice       = "0b6f9a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	protected   = "11111111-2222-4333-8444-555555555555"
	apiKey      = "actas_test_key_0123456789abcdef"
	saSecret    = "service-account-secret-value"
	mintedToken = "minted-impersonation-token"
	extension   = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
)

// upstream is a stand-in for Bare.ID's two endpoints; the real emulator is exercised
// end to end in e2e/.
type upstream struct {
	srv      *httptest.Server
	hits     atomic.Int32
	mintCode atomic.Int32
	// oversized makes the named endpoint ("token" or "mint") answer 200 with a body
	// over the Worker's read limit.
	oversized atomic.Value
}

// overLimit is an answer body larger than the Worker reads from Bare.ID.
var overLimit = `{"pad":"` + strings.Repeat("x", 1<<20) + `"}`

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.mintCode.Store(200)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		if u.oversized.Load() == "token" {
			io.WriteString(w, overLimit)
			return
		}
		io.WriteString(w, `{"access_token":"sa-token","token_type":"Bearer","expires_in":300}`)
	})
	mux.HandleFunc("POST /user/v1/{instance}/impersonation-token", func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		if u.oversized.Load() == "mint" {
			io.WriteString(w, overLimit)
			return
		}
		if c := int(u.mintCode.Load()); c != 200 {
			w.WriteHeader(c)
			io.WriteString(w, `{"message":"upstream detail `+mintedToken+`"}`)
			return
		}
		io.WriteString(w, `{"token":"`+mintedToken+`","url":"https://auth.example.com/realms/demo/impersonate"}`)
	})
	u.srv = httptest.NewServer(mux)
	t.Cleanup(u.srv.Close)
	return u
}

type fixture struct {
	h   http.Handler
	db  *sql.DB
	up  *upstream
	log *bytes.Buffer
}

// fixtureEnv is the Worker's settings for a fixture against up, with override applied.
func fixtureEnv(up *upstream, override map[string]string) map[string]string {
	sum := sha256.Sum256([]byte(apiKey))
	env := map[string]string{
		"BAREID_API_URL":             up.srv.URL,
		"BAREID_TOKEN_URL":           up.srv.URL + "/token",
		"BAREID_INSTANCE":            instance,
		"BAREID_CLIENT_ID":           "actas-impersonator",
		"BAREID_CLIENT_SECRET":       saSecret,
		"BAREID_IMPERSONATION_HOSTS": "auth.example.com",
		"ACTAS_DEV_LOOPBACK":         "true",
		"ACTAS_API_KEYS":             "ci-bot:" + hex.EncodeToString(sum[:]),
		"ACTAS_CLIENTS":              "crm=Customer CRM,wiki=Team Wiki",
		"ACTAS_PROTECTED_USERS":      protected,
		"ACTAS_ALLOWED_ORIGINS":      extension,
	}
	for k, v := range override {
		env[k] = v
	}
	return env
}

func newFixture(t *testing.T, override map[string]string) *fixture {
	t.Helper()
	up := newUpstream(t)
	env := fixtureEnv(up, override)
	f := &fixture{db: sqlitetest.Open(t), up: up, log: &bytes.Buffer{}}
	f.h = server.New(server.Deps{
		Getenv: func(k string) string { return env[k] },
		HTTP:   up.srv.Client(),
		DB:     f.db,
		Log:    f.log,
	})
	t.Cleanup(func() {
		for _, secret := range []string{apiKey, saSecret, mintedToken, "sa-token"} {
			if strings.Contains(f.log.String(), secret) {
				t.Errorf("the log contains a secret or token")
			}
		}
	})
	return f
}

type reply struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *fixture) do(t *testing.T, method, path, body string, hdr map[string]string) reply {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	rep := reply{code: w.Code, header: w.Header(), raw: w.Body.String()}
	_ = json.Unmarshal(w.Body.Bytes(), &rep.body)
	return rep
}

var auth = map[string]string{"Authorization": "Bearer " + apiKey}

func mintBody(user, client, reason string) string {
	b, _ := json.Marshal(map[string]string{"userUuid": user, "clientId": client, "reason": reason})
	return string(b)
}

func (f *fixture) rows(t *testing.T) []map[string]any {
	t.Helper()
	p, err := audit.NewStore(f.db).List(context.Background(), audit.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	// Oldest first reads more naturally in the tests.
	for i := len(p.Items) - 1; i >= 0; i-- {
		it := p.Items[i]
		out = append(out, map[string]any{"actor": it.Actor, "kind": it.ActorKind, "user": it.UserUUID, "client": it.ClientID,
			"reason": it.Reason, "outcome": string(it.Outcome), "detail": it.OutcomeDetail, "status": it.UpstreamStatus,
			"requestId": it.RequestID, "ip": it.ClientIP, "ua": it.UserAgent})
	}
	return out
}

func wantProblem(t *testing.T, rep reply, status int, slug string) {
	t.Helper()
	if rep.code != status || rep.body["type"] != "urn:actas:problem:"+slug {
		t.Fatalf("got %d %v, want %d %s", rep.code, rep.raw, status, slug)
	}
	if ct := rep.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q", ct)
	}
	if rep.body["status"] != float64(status) || rep.body["title"] == "" || rep.body["requestId"] != rep.header.Get("X-Request-Id") {
		t.Errorf("problem members: %v", rep.raw)
	}
	for _, secret := range []string{apiKey, saSecret, mintedToken} {
		if strings.Contains(rep.raw, secret) {
			t.Errorf("problem body repeats a secret or token: %s", rep.raw)
		}
	}
}

func TestMintIssuesAndAudits(t *testing.T) {
	f := newFixture(t, nil)
	rep := f.do(t, "POST", "/v1/impersonations", mintBody(strings.ToUpper(alice), "crm", "SUP-1234 invoices"),
		map[string]string{"Authorization": "Bearer " + apiKey, "CF-Connecting-IP": "203.0.113.7", "User-Agent": "curl/8"})
	if rep.code != http.StatusCreated {
		t.Fatalf("status %d: %s", rep.code, rep.raw)
	}
	if rep.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", rep.header.Get("Cache-Control"))
	}
	b := rep.body
	if b["token"] != mintedToken || b["url"] != "https://auth.example.com/realms/demo/impersonate" ||
		b["method"] != "POST" || b["field"] != "token" || b["userUuid"] != alice || b["clientId"] != "crm" {
		t.Errorf("body %v", rep.raw)
	}
	if rep.header.Get("Location") != "/v1/impersonations/"+b["id"].(string) {
		t.Errorf("Location %q", rep.header.Get("Location"))
	}
	rows := f.rows(t)
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	r := rows[0]
	if r["actor"] != "ci-bot" || r["kind"] != "api-key" || r["user"] != alice || r["client"] != "crm" ||
		r["reason"] != "SUP-1234 invoices" || r["outcome"] != "issued" || r["status"] != 200 ||
		r["requestId"] != rep.header.Get("X-Request-Id") {
		t.Errorf("row %v", r)
	}
	if r["ip"] != "203.0.113.7" || r["ua"] != "curl/8" {
		t.Errorf("ip %q ua %q", r["ip"], r["ua"])
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(f.log.String())), &line); err != nil {
		t.Fatalf("log is not one JSON line: %q", f.log.String())
	}
	if line["actor"] != "ci-bot" || line["outcome"] != "issued" || line["status"] != float64(201) || line["route"] != "POST /v1/impersonations" {
		t.Errorf("log line %v", line)
	}
}

func TestUnauthenticatedNeverReachesBareID(t *testing.T) {
	f := newFixture(t, nil)
	for name, hdr := range map[string]map[string]string{
		"no header":    nil,
		"wrong key":    {"Authorization": "Bearer actas_wrong"},
		"basic scheme": {"Authorization": "Basic " + apiKey},
		"jwt shaped":   {"Authorization": "Bearer a.b.c"},
	} {
		t.Run(name, func(t *testing.T) {
			rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", "SUP-1234 invoices"), hdr)
			wantProblem(t, rep, 401, "unauthenticated")
			if rep.header.Get("WWW-Authenticate") == "" {
				t.Error("no WWW-Authenticate")
			}
		})
	}
	if f.up.hits.Load() != 0 || len(f.rows(t)) != 0 {
		t.Errorf("upstream hits %d, rows %d", f.up.hits.Load(), len(f.rows(t)))
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name, body, ctype string
		status            int
		slug              string
	}{
		{"not a uuid", mintBody("alice", "crm", "SUP-1234 x"), "", 400, "invalid-user-id"},
		{"malformed client", mintBody(alice, "crm'; DROP TABLE", "SUP-1234 x"), "", 400, "client-not-allowed"},
		{"control character", mintBody(alice, "crm", "SUP-1234 \x1b[31m red"), "", 400, "reason-invalid"},
		{"too long", mintBody(alice, "crm", strings.Repeat("x", 1001)), "", 400, "reason-invalid"},
		{"unknown field", `{"userUuid":"` + alice + `","clientId":"crm","reason":"SUP-1234 x","admin":true}`, "", 400, "invalid-body"},
		{"not json", `userUuid=` + alice, "", 400, "invalid-body"},
		{"two objects", mintBody(alice, "crm", "SUP-1234 x") + "{}", "", 400, "invalid-body"},
		{"huge", `{"reason":"` + strings.Repeat("x", 20000) + `"}`, "", 400, "invalid-body"},
		{"valid object padded past 16 KiB", mintBody(alice, "crm", "SUP-1234 x") + strings.Repeat(" ", 16<<10), "", 400, "invalid-body"},
		{"second object past 16 KiB", mintBody(alice, "crm", "SUP-1234 x") + `{"reason":"` + strings.Repeat("x", 16<<10) + `"}`, "", 400, "invalid-body"},
		{"null", `null`, "", 400, "invalid-body"},
		{"array", `[]`, "", 400, "invalid-body"},
		{"empty", ``, "application/json", 400, "invalid-body"},
		{"member in another case", `{"USERUUID":"` + alice + `","clientId":"crm","reason":"SUP-1234 x"}`, "", 400, "invalid-body"},
		{"member given twice", `{"userUuid":"` + protected + `","clientId":"crm","reason":"SUP-1234 x","userUuid":"` + alice + `"}`, "", 400, "invalid-body"},
		{"null member", `{"userUuid":"` + alice + `","clientId":"crm","reason":null}`, "", 400, "invalid-body"},
		{"number member", `{"userUuid":"` + alice + `","clientId":"crm","reason":1234}`, "", 400, "invalid-body"},
		{"trailing garbage", mintBody(alice, "crm", "SUP-1234 x") + ` x`, "", 400, "invalid-body"},
		{"invalid UTF-8", `{"userUuid":"` + alice + `","clientId":"crm","reason":"SUP-1234 ` + "\xff" + `"}`, "", 400, "invalid-body"},
		{"unpaired high surrogate", `{"userUuid":"` + alice + `","clientId":"crm","reason":"SUP-1234 \ud800"}`, "", 400, "invalid-body"},
		{"unpaired low surrogate", `{"userUuid":"` + alice + `","clientId":"crm","reason":"SUP-1234 \udc00x"}`, "", 400, "invalid-body"},
		{"bidi override", mintBody(alice, "crm", "SUP-1234 \u202egnp.exe"), "", 400, "reason-invalid"},
		{"form encoded", `userUuid=x`, "application/x-www-form-urlencoded", 415, "unsupported-media-type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Authorization": auth["Authorization"]}
			if tt.ctype != "" {
				hdr["Content-Type"] = tt.ctype
			}
			wantProblem(t, f.do(t, "POST", "/v1/impersonations", tt.body, hdr), tt.status, tt.slug)
		})
	}
	if f.up.hits.Load() != 0 || len(f.rows(t)) != 0 {
		t.Errorf("bad input reached Bare.ID (%d) or the audit trail (%d)", f.up.hits.Load(), len(f.rows(t)))
	}
}

// What the strict decoder accepts: any member order, whitespace around, escapes that
// encode a character (a surrogate pair among them), and missing members, which the
// checks after it name.
func TestBodyAccepted(t *testing.T) {
	f := newFixture(t, nil)
	for name, body := range map[string]string{
		"reordered, padded": " \r\n\t{ \"reason\" : \"SUP-1234 x\", \"clientId\":\"crm\",\"userUuid\":\"" + alice + "\" }\n ",
		"escapes":           `{"userUuid":"` + alice + `","clientId":"crm","reason":"SUP-1234 \u00e9 \ud83d\ude00 \\ud800 \"q\""}`,
		"at the limit":      mintBody(alice, "crm", "SUP-1234 x") + strings.Repeat(" ", 16<<10-len(mintBody(alice, "crm", "SUP-1234 x"))),
	} {
		t.Run(name, func(t *testing.T) {
			if rep := f.do(t, "POST", "/v1/impersonations", body, auth); rep.code != 201 {
				t.Fatalf("%d %s", rep.code, rep.raw)
			}
		})
	}
	rows := f.rows(t)
	if len(rows) != 3 {
		t.Fatalf("rows %v", rows)
	}
	var escaped bool
	for _, r := range rows {
		escaped = escaped || r["reason"] == `SUP-1234 é 😀 \ud800 "q"`
	}
	if !escaped {
		t.Errorf("escapes not decoded as JSON defines them: %v", rows)
	}
	t.Run("missing members are named by the checks", func(t *testing.T) {
		wantProblem(t, f.do(t, "POST", "/v1/impersonations", `{"clientId":"crm","reason":"SUP-1234 x"}`, auth), 400, "invalid-user-id")
		wantProblem(t, f.do(t, "POST", "/v1/impersonations", `{"userUuid":"`+alice+`","reason":"SUP-1234 x"}`, auth), 400, "client-not-allowed")
		wantProblem(t, f.do(t, "POST", "/v1/impersonations", `{"userUuid":"`+alice+`","clientId":"crm"}`, auth), 400, "reason-required")
	})
}

func TestReasonOptional(t *testing.T) {
	f := newFixture(t, map[string]string{"ACTAS_REASON_REQUIRED": "false"})
	if rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "wiki", ""), auth); rep.code != 201 {
		t.Fatalf("%d %s", rep.code, rep.raw)
	}
}

// A protected user and a user Bare.ID does not know get the same answer, so the API
// reveals neither which users exist nor which are protected; both are audited.
func TestProtectedAndUnknownUsersLookAlike(t *testing.T) {
	f := newFixture(t, nil)
	prot := f.do(t, "POST", "/v1/impersonations", mintBody(protected, "crm", "SUP-1234 check"), auth)
	wantProblem(t, prot, 403, "user-not-allowed")
	if f.up.hits.Load() != 0 {
		t.Error("a protected user reached Bare.ID")
	}
	f.up.mintCode.Store(404)
	unknown := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", "SUP-1234 check"), auth)
	wantProblem(t, unknown, 403, "user-not-allowed")
	delete(prot.body, "requestId")
	delete(unknown.body, "requestId")
	a, _ := json.Marshal(prot.body)
	b, _ := json.Marshal(unknown.body)
	if !bytes.Equal(a, b) {
		t.Errorf("answers differ:\n%s\n%s", a, b)
	}
	rows := f.rows(t)
	if len(rows) != 2 || rows[0]["outcome"] != "denied" || rows[0]["detail"] != "protected-user" ||
		rows[1]["outcome"] != "failed" || rows[1]["status"] != 404 {
		t.Errorf("rows %v", rows)
	}
}

func TestUpstreamFailuresAreAudited(t *testing.T) {
	tests := []struct {
		code   int32
		status int
		slug   string
	}{
		{500, 502, "upstream-failed"},
		{503, 502, "upstream-failed"},
		{403, 502, "upstream-failed"},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(int(tt.code)), func(t *testing.T) {
			f := newFixture(t, nil)
			f.up.mintCode.Store(tt.code)
			wantProblem(t, f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", "SUP-1234 check"), auth), tt.status, tt.slug)
			rows := f.rows(t)
			if len(rows) != 1 || rows[0]["outcome"] != "failed" || rows[0]["status"] != int(tt.code) || rows[0]["detail"] != tt.slug {
				t.Errorf("rows %v", rows)
			}
		})
	}
	// An answer over the read limit arrived: it is a wrong answer (502, its status
	// audited), not an unreachable Bare.ID.
	for _, endpoint := range []string{"token", "mint"} {
		t.Run("oversized "+endpoint+" answer", func(t *testing.T) {
			f := newFixture(t, nil)
			f.up.oversized.Store(endpoint)
			wantProblem(t, f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", "SUP-1234 check"), auth), 502, "upstream-failed")
			rows := f.rows(t)
			if len(rows) != 1 || rows[0]["outcome"] != "failed" || rows[0]["status"] != 200 || rows[0]["detail"] != "upstream-failed" {
				t.Errorf("rows %v", rows)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		f := newFixture(t, nil)
		f.up.srv.Close()
		wantProblem(t, f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", "SUP-1234 check"), auth), 503, "upstream-unavailable")
		if rows := f.rows(t); len(rows) != 1 || rows[0]["outcome"] != "failed" {
			t.Errorf("rows %v", rows)
		}
	})
}

func TestNoTokenWithoutAudit(t *testing.T) {
	t.Run("begin fails", func(t *testing.T) {
		f := newFixture(t, nil)
		f.db.Close()
		wantProblem(t, f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", "SUP-1234 check"), auth), 503, "audit-unavailable")
		if f.up.hits.Load() != 0 {
			t.Error("Bare.ID was called although the audit row could not be written")
		}
	})
	t.Run("completion fails", func(t *testing.T) {
		f := newFixture(t, nil)
		// The row can be begun but never completed: the minted token must be dropped.
		if _, err := f.db.Exec(`CREATE TRIGGER fail_completion BEFORE INSERT ON audit_events WHEN NEW.event <> 'requested' BEGIN SELECT RAISE(ABORT, 'disk full'); END`); err != nil {
			t.Fatal(err)
		}
		rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", "SUP-1234 check"), auth)
		wantProblem(t, rep, 503, "audit-unavailable")
		if f.up.hits.Load() == 0 {
			t.Error("test did not reach the mint")
		}
	})
}

func TestClientsAndMe(t *testing.T) {
	f := newFixture(t, nil)
	rep := f.do(t, "GET", "/v1/clients", "", auth)
	if rep.code != 200 || strings.TrimSpace(rep.raw) != `[{"clientId":"crm","name":"Customer CRM"},{"clientId":"wiki","name":"Team Wiki"}]` {
		t.Errorf("clients: %d %s", rep.code, rep.raw)
	}
	rep = f.do(t, "GET", "/v1/me", "", auth)
	if rep.code != 200 || rep.body["actor"] != "ci-bot" || rep.body["actorKind"] != "api-key" || rep.body["reasonMinLength"] != float64(8) {
		t.Errorf("me: %d %s", rep.code, rep.raw)
	}
	wantProblem(t, f.do(t, "GET", "/v1/clients", "", nil), 401, "unauthenticated")
}

func TestRoutes(t *testing.T) {
	f := newFixture(t, nil)
	if rep := f.do(t, "GET", "/healthz", "", nil); rep.code != 200 || rep.body["status"] != "ok" {
		t.Errorf("healthz %d %s", rep.code, rep.raw)
	}
	rep := f.do(t, "GET", "/openapi.json", "", nil)
	if rep.code != 200 || rep.body["openapi"] == nil {
		t.Errorf("openapi %d", rep.code)
	}
	wantProblem(t, f.do(t, "GET", "/v2/nothing", "", auth), 404, "not-found")
	rep = f.do(t, "DELETE", "/v1/impersonations", "", auth)
	wantProblem(t, rep, 405, "method-not-allowed")
	if rep.header.Get("Allow") != "GET, POST" {
		t.Errorf("Allow %q", rep.header.Get("Allow"))
	}
}

// Every non-canonical path is a 404 problem, never a redirect (Go's mux would answer
// 301 or 307 to the cleaned path), and nothing behind it runs.
func TestNonCanonicalPathsAreNotFound(t *testing.T) {
	f := newFixture(t, nil)
	body := mintBody(alice, "crm", "SUP-1234 check")
	for _, tt := range []struct{ method, path string }{
		{"POST", "//v1/impersonations"},
		{"POST", "/v1//impersonations"},
		{"POST", "/v1/./impersonations"},
		{"POST", "/v1/x/../impersonations"},
		{"POST", "/v1/impersonations/"},
		{"POST", "/v1/impersonations/."},
		{"POST", "/v1/%69mpersonations"},
		{"GET", "/v1/me/"},
		{"GET", "//v1/me"},
		{"GET", "/v1"},
		{"GET", "/v1/"},
		{"GET", "/healthz/"},
		{"GET", "//healthz"},
		{"GET", "/v1/impersonations//verify"},
		{"OPTIONS", "//v1/impersonations"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			rep := f.do(t, tt.method, tt.path, body, auth)
			wantProblem(t, rep, 404, "not-found")
			if loc := rep.header.Get("Location"); loc != "" {
				t.Errorf("Location %q", loc)
			}
		})
	}
	if f.up.hits.Load() != 0 || len(f.rows(t)) != 0 {
		t.Errorf("a non-canonical path reached Bare.ID (%d) or the audit trail (%d)", f.up.hits.Load(), len(f.rows(t)))
	}
	t.Run("misconfigured", func(t *testing.T) {
		f := newFixture(t, map[string]string{"BAREID_INSTANCE": ""})
		rep := f.do(t, "GET", "//healthz", "", nil)
		if rep.code == http.StatusMovedPermanently || rep.code == http.StatusTemporaryRedirect || rep.header.Get("Location") != "" {
			t.Errorf("redirect %d %v", rep.code, rep.header)
		}
	})
}

func TestCORS(t *testing.T) {
	f := newFixture(t, nil)
	pre := f.do(t, "OPTIONS", "/v1/impersonations", "", map[string]string{
		"Origin": extension, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"})
	if pre.code != 204 || pre.header.Get("Access-Control-Allow-Origin") != extension ||
		!strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight %d %v", pre.code, pre.header)
	}
	ok := f.do(t, "GET", "/v1/me", "", map[string]string{"Origin": extension, "Authorization": auth["Authorization"]})
	if ok.code != 200 || ok.header.Get("Access-Control-Allow-Origin") != extension || !strings.Contains(ok.header.Get("Vary"), "Origin") {
		t.Errorf("allowed origin: %d %v", ok.code, ok.header)
	}
	for _, origin := range []string{"https://evil.example", "null", "chrome-extension://otherextensionidotherextensionid"} {
		rep := f.do(t, "GET", "/v1/me", "", map[string]string{"Origin": origin, "Authorization": auth["Authorization"]})
		wantProblem(t, rep, 403, "origin-not-allowed")
		if v := rep.header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("origin %s answered with Access-Control-Allow-Origin %q", origin, v)
		}
	}
}

func TestMisconfigurationNamesVariablesOnly(t *testing.T) {
	f := newFixture(t, map[string]string{"BAREID_INSTANCE": "", "BAREID_TOKEN_URL": "http://" + saSecret + ".example/token"})
	rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", "SUP-1234 check"), auth)
	wantProblem(t, rep, 500, "configuration-invalid")
	vars, _ := json.Marshal(rep.body["variables"])
	if string(vars) != `["BAREID_INSTANCE","BAREID_TOKEN_URL"]` {
		t.Errorf("variables %s", vars)
	}
	if strings.Contains(rep.raw, saSecret) {
		t.Error("problem repeats a value")
	}
	f.do(t, "GET", "/v1/me", "", auth)
	if n := strings.Count(f.log.String(), `"config-invalid"`); n != 1 {
		t.Errorf("configuration error logged %d times, want once", n)
	}
	if rep := f.do(t, "GET", "/healthz", "", nil); rep.code != 200 {
		t.Errorf("healthz %d while misconfigured", rep.code)
	}
	if f.up.hits.Load() != 0 {
		t.Error("misconfigured Worker called Bare.ID")
	}
}

// The OpenAPI description lists every problem type the code can answer with.
func TestOpenAPIListsEveryProblemType(t *testing.T) {
	f := newFixture(t, nil)
	var doc struct {
		Components struct {
			Schemas struct {
				ProblemType struct {
					Enum []string `json:"enum"`
				} `json:"ProblemType"`
			} `json:"schemas"`
		} `json:"components"`
		Paths map[string]any `json:"paths"`
	}
	rep := f.do(t, "GET", "/openapi.json", "", nil)
	if err := json.Unmarshal([]byte(rep.raw), &doc); err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, v := range doc.Components.Schemas.ProblemType.Enum {
		listed[v] = true
	}
	for _, k := range problem.Kinds() {
		if !listed[problem.TypePrefix+string(k)] {
			t.Errorf("openapi.json lacks problem type %s", k)
		}
	}
	if len(listed) != len(problem.Kinds()) {
		t.Errorf("openapi.json lists %d problem types, the code has %d", len(listed), len(problem.Kinds()))
	}
	for _, p := range []string{"/v1/impersonations", "/v1/impersonations/verify", "/v1/impersonations/{id}", "/v1/impersonations/{id}/end", "/v1/clients", "/v1/me", "/healthz", "/readyz", "/open", "/openapi.json"} {
		if doc.Paths[p] == nil {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
}

func TestOpenPage(t *testing.T) {
	f := newFixture(t, nil) // ACTAS_DEV_LOOPBACK: the fixture's Bare.ID is on loopback
	rep := f.do(t, "GET", "/open", "", nil)
	if rep.code != 200 || !strings.HasPrefix(rep.header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %q", rep.code, rep.header.Get("Content-Type"))
	}
	if csp := rep.header.Get("Content-Security-Policy"); csp != "default-src 'none'; script-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action https: http://127.0.0.1:* http://localhost:*" {
		t.Errorf("CSP %q", csp)
	}
	if rep.header.Get("Referrer-Policy") != "no-referrer" || rep.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", rep.header)
	}
	if strings.Contains(rep.raw, "<script") {
		t.Errorf("the page must run no script of its own")
	}
	wantProblem(t, f.do(t, "POST", "/open", "", nil), 405, "method-not-allowed")
}

func TestAuditCallerSettingStoresLess(t *testing.T) {
	for setting, want := range map[string][2]string{
		"network": {"203.0.113.0/24", ""},
		"none":    {"", ""},
	} {
		f := newFixture(t, map[string]string{"ACTAS_AUDIT_CALLER": setting})
		rep := f.do(t, "POST", "/v1/impersonations", mintBody(alice, "crm", "SUP-1234 invoices"),
			map[string]string{"Authorization": "Bearer " + apiKey, "CF-Connecting-IP": "203.0.113.7", "User-Agent": "curl/8"})
		if rep.code != http.StatusCreated {
			t.Fatalf("%s: status %d", setting, rep.code)
		}
		r := f.rows(t)[0]
		if r["ip"] != want[0] || r["ua"] != want[1] {
			t.Errorf("%s: stored ip %q ua %q, want %q %q", setting, r["ip"], r["ua"], want[0], want[1])
		}
	}
}
