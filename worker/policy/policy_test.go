package policy_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/actas-dev/actas/worker/identity"
	"github.com/actas-dev/actas/worker/policy"
	"github.com/actas-dev/actas/worker/problem"
)

const (
	alice     = "3f2c1a9e-8d4b-4c6a-9f1e-2b7d5c8a0e41"
	protected = "0b8f6a52-1c3d-4e5f-8a9b-0c1d2e3f4a5b"
	ada       = "9d5e4c3b-2a19-4f08-8e7d-6c5b4a392817"
)

var now = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// counter is the rate-limit count as the audit store would give it.
type counter struct {
	n      int
	oldest time.Time
	err    error
	asked  []string // actor/kind pairs asked for, with the denials counted
}

func (c *counter) CountSince(_ context.Context, actor, kind string, since time.Time, counted ...string) (int, time.Time, error) {
	c.asked = append(c.asked, actor+"/"+kind+"@"+since.Format(time.RFC3339)+" counting "+strings.Join(counted, ","))
	return c.n, c.oldest, c.err
}

func config() policy.Config {
	return policy.Config{
		Clients: []policy.Client{
			{ID: "crm", Name: "Customer CRM", Roles: []string{"crm-support"}},
			{ID: "wiki", Name: "Team Wiki"},
		},
		ProtectedUsers:   map[string]bool{protected: true},
		ReasonRequired:   true,
		ReasonMinLength:  8,
		RateLimit:        policy.RateLimit{Count: 3, Window: time.Hour},
		ImpersonatorRole: "actas-impersonator",
	}
}

func impersonator(roles ...string) identity.Identity {
	return identity.Identity{Actor: "ada@example.com", Kind: identity.KindOIDC, Subject: ada,
		Roles: roles, Permissions: []identity.Permission{identity.Impersonate}}
}

func TestDecide(t *testing.T) {
	auditor := identity.Identity{Actor: "grace", Kind: identity.KindAPIKey, Permissions: []identity.Permission{identity.Audit}}
	tests := []struct {
		name     string
		cfg      func(*policy.Config)
		id       identity.Identity
		req      policy.Request
		count    counter
		wantRule policy.Rule // "" means allowed
		wantKind problem.Kind
	}{
		{name: "allowed", id: impersonator(), req: policy.Request{UserUUID: alice, ClientID: "wiki", Reason: "SUP-1234 login"}},
		{name: "allowed by client role", id: impersonator("crm-support"), req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1234 login"}},
		{name: "no impersonate permission", id: auditor, req: policy.Request{UserUUID: alice, ClientID: "wiki", Reason: "SUP-1234 login"},
			wantRule: policy.NoImpersonateRole, wantKind: problem.Forbidden},
		{name: "unknown client", id: impersonator(), req: policy.Request{UserUUID: alice, ClientID: "mail", Reason: "SUP-1234 login"},
			wantRule: policy.ClientNotAllowed, wantKind: problem.ClientNotAllowed},
		{name: "client role missing", id: impersonator("wiki-editors"), req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1234 login"},
			wantRule: policy.ClientNotAllowed, wantKind: problem.ClientNotAllowed},
		{name: "no reason", id: impersonator(), req: policy.Request{UserUUID: alice, ClientID: "wiki"},
			wantRule: policy.ReasonRequired, wantKind: problem.ReasonRequired},
		{name: "short reason", id: impersonator(), req: policy.Request{UserUUID: alice, ClientID: "wiki", Reason: "bug"},
			wantRule: policy.ReasonTooShort, wantKind: problem.ReasonRequired},
		{name: "short reason counts characters, not bytes", id: impersonator(), req: policy.Request{UserUUID: alice, ClientID: "wiki", Reason: "äöüäöüä"},
			wantRule: policy.ReasonTooShort, wantKind: problem.ReasonRequired},
		{name: "reason optional", cfg: func(c *policy.Config) { c.ReasonRequired = false },
			id: impersonator(), req: policy.Request{UserUUID: alice, ClientID: "wiki"}},
		{name: "reason pattern", cfg: func(c *policy.Config) { c.ReasonPattern = regexp.MustCompile(`\bSUP-[0-9]+\b`) },
			id: impersonator(), req: policy.Request{UserUUID: alice, ClientID: "wiki", Reason: "customer called"},
			wantRule: policy.ReasonPattern, wantKind: problem.ReasonRequired},
		{name: "reason pattern met", cfg: func(c *policy.Config) { c.ReasonPattern = regexp.MustCompile(`\bSUP-[0-9]+\b`) },
			id: impersonator(), req: policy.Request{UserUUID: alice, ClientID: "wiki", Reason: "customer called, SUP-9"}},
		{name: "protected user", id: impersonator(), req: policy.Request{UserUUID: protected, ClientID: "wiki", Reason: "SUP-1234 login"},
			wantRule: policy.ProtectedUser, wantKind: problem.UserNotAllowed},
		{name: "protected user in upper case", id: impersonator(), req: policy.Request{UserUUID: strings.ToUpper(protected), ClientID: "wiki", Reason: "SUP-1234 login"},
			wantRule: policy.ProtectedUser, wantKind: problem.UserNotAllowed},
		{name: "self", id: impersonator(), req: policy.Request{UserUUID: ada, ClientID: "wiki", Reason: "SUP-1234 login"},
			wantRule: policy.Self, wantKind: problem.UserNotAllowed},
		{name: "at the limit", id: impersonator(), req: policy.Request{UserUUID: alice, ClientID: "wiki", Reason: "SUP-1234 login"},
			count: counter{n: 3, oldest: now.Add(-10 * time.Minute)}},
		{name: "over the limit", id: impersonator(), req: policy.Request{UserUUID: alice, ClientID: "wiki", Reason: "SUP-1234 login"},
			count: counter{n: 4, oldest: now.Add(-10 * time.Minute)}, wantRule: policy.RateLimited, wantKind: problem.RateLimited},
		{name: "limit off", cfg: func(c *policy.Config) { c.RateLimit = policy.RateLimit{} },
			id: impersonator(), req: policy.Request{UserUUID: alice, ClientID: "wiki", Reason: "SUP-1234 login"}, count: counter{n: 1000}},
		{name: "count unknown fails closed", id: impersonator(), req: policy.Request{UserUUID: alice, ClientID: "wiki", Reason: "SUP-1234 login"},
			count: counter{err: errors.New("d1 down")}, wantRule: policy.RateLimitUnknown, wantKind: problem.AuditUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			c := tt.count
			d := policy.New(cfg, &c, func() time.Time { return now }).Decide(context.Background(), tt.id, tt.req)
			switch {
			case tt.wantRule == "" && d != nil:
				t.Fatalf("refused by %s: %v", d.Rule, d.Err)
			case tt.wantRule == "":
				return
			case d == nil:
				t.Fatalf("allowed, want %s", tt.wantRule)
			case d.Rule != tt.wantRule || d.Err.Kind != tt.wantKind:
				t.Fatalf("refused by %s (%s), want %s (%s)", d.Rule, d.Err.Kind, tt.wantRule, tt.wantKind)
			}
		})
	}
}

// A protected user and a user Bare.ID does not know get the same answer, so the answer
// never tells an impersonator which users are protected.
func TestProtectedAnswersLikeUnknown(t *testing.T) {
	d := policy.New(config(), &counter{}, nil).Decide(context.Background(), impersonator(),
		policy.Request{UserUUID: protected, ClientID: "wiki", Reason: "SUP-1234 login"})
	unknown := policy.UserNotAllowed()
	if d == nil || d.Err.Kind != unknown.Kind || d.Err.Detail != unknown.Detail {
		t.Fatalf("protected: %+v, unknown: %+v", d, unknown)
	}
}

// Over the limit, a protected user gets the rate-limit answer an unknown user would
// get (whose request would not reach Bare.ID either), and the count asked for
// includes earlier protected-user refusals.
func TestProtectedUserIsRateLimitedLikeUnknown(t *testing.T) {
	for _, user := range []string{protected, alice} {
		c := &counter{n: 4, oldest: now.Add(-10 * time.Minute)}
		d := policy.New(config(), c, func() time.Time { return now }).Decide(context.Background(), impersonator(),
			policy.Request{UserUUID: user, ClientID: "wiki", Reason: "SUP-1234 login"})
		if d == nil || d.Rule != policy.RateLimited {
			t.Errorf("%s over the limit: %+v", user, d)
		}
		if len(c.asked) != 1 || !strings.HasSuffix(c.asked[0], "counting protected-user") {
			t.Errorf("%s: asked %v", user, c.asked)
		}
	}
}

func TestRateLimitCountsTheCallerInTheWindow(t *testing.T) {
	c := &counter{n: 5, oldest: now.Add(-50 * time.Minute)}
	d := policy.New(config(), c, func() time.Time { return now }).Decide(context.Background(), impersonator(),
		policy.Request{UserUUID: alice, ClientID: "wiki", Reason: "SUP-1234 login"})
	if d == nil || d.Rule != policy.RateLimited {
		t.Fatalf("decision %+v", d)
	}
	if want := "ada@example.com/oidc@2026-12-02T09:00:00Z counting protected-user"; len(c.asked) != 1 || c.asked[0] != want {
		t.Errorf("asked %v, want [%s]", c.asked, want)
	}
	// The oldest counted impersonation leaves the window in 10 minutes.
	if d.Err.RetryAfter != 600 {
		t.Errorf("Retry-After %d, want 600", d.Err.RetryAfter)
	}
	if !strings.Contains(d.Err.Detail, "per 1h;") {
		t.Errorf("detail %q does not name the window as configured", d.Err.Detail)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		req      policy.Request
		wantKind problem.Kind // "" means valid
		want     policy.Request
	}{
		{name: "normalised", req: policy.Request{UserUUID: strings.ToUpper(alice), ClientID: "crm", Reason: "  SUP-1\r\n\tline two  "},
			want: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1\r\n\tline two"}},
		{name: "user not a uuid", req: policy.Request{UserUUID: "alice", ClientID: "crm"}, wantKind: problem.InvalidUserID},
		{name: "user uuid without dashes", req: policy.Request{UserUUID: strings.ReplaceAll(alice, "-", ""), ClientID: "crm"}, wantKind: problem.InvalidUserID},
		{name: "client id empty", req: policy.Request{UserUUID: alice}, wantKind: problem.ClientNotAllowed},
		{name: "client id with space", req: policy.Request{UserUUID: alice, ClientID: "c rm"}, wantKind: problem.ClientNotAllowed},
		{name: "reason with control character", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1\x1b[31m"}, wantKind: problem.ReasonInvalid},
		{name: "reason with a right-to-left override", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1 \u202etxt.exe"}, wantKind: problem.ReasonInvalid},
		{name: "reason with a bidi isolate", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1 \u2067x\u2069"}, wantKind: problem.ReasonInvalid},
		{name: "reason with a zero-width space", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP\u200b-1234"}, wantKind: problem.ReasonInvalid},
		{name: "reason with a zero-width joiner", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1234 \u200d"}, wantKind: problem.ReasonInvalid},
		{name: "reason with a byte order mark", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-\ufeff1234"}, wantKind: problem.ReasonInvalid},
		{name: "reason with a soft hyphen", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP\u00ad1234"}, wantKind: problem.ReasonInvalid},
		{name: "reason with a line separator", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1234\u2028x"}, wantKind: problem.ReasonInvalid},
		{name: "reason with a paragraph separator", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1234\u2029x"}, wantKind: problem.ReasonInvalid},
		{name: "reason with a tag character", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1234\U000E0041"}, wantKind: problem.ReasonInvalid},
		{name: "reason with invalid UTF-8", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1234 \xff"}, wantKind: problem.ReasonInvalid},
		{name: "reason of every visible class", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1 Åé 漢字 ١٢ ½ \u0301 ¿?\"' €+ 😀 \u00a0\u3000 \ue000"},
			want: policy.Request{UserUUID: alice, ClientID: "crm", Reason: "SUP-1 Åé 漢字 ١٢ ½ \u0301 ¿?\"' €+ 😀 \u00a0\u3000 \ue000"}},
		{name: "reason too long", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: strings.Repeat("ä", policy.MaxReasonLength+1)}, wantKind: problem.ReasonInvalid},
		{name: "reason at the limit", req: policy.Request{UserUUID: alice, ClientID: "crm", Reason: strings.Repeat("ä", policy.MaxReasonLength)},
			want: policy.Request{UserUUID: alice, ClientID: "crm", Reason: strings.Repeat("ä", policy.MaxReasonLength)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			err := policy.Validate(&req)
			var pe *problem.Error
			switch {
			case tt.wantKind == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wantKind == "" && req != tt.want:
				t.Fatalf("normalised to %+v, want %+v", req, tt.want)
			case tt.wantKind != "" && (!errors.As(err, &pe) || pe.Kind != tt.wantKind):
				t.Fatalf("err = %v, want %s", err, tt.wantKind)
			}
		})
	}
}

func TestClientsFor(t *testing.T) {
	p := policy.New(config(), &counter{}, nil)
	if got := p.ClientsFor(impersonator()); len(got) != 1 || got[0].ID != "wiki" {
		t.Errorf("without crm-support: %v", got)
	}
	if got := p.ClientsFor(impersonator("crm-support")); len(got) != 2 || got[0].ID != "crm" {
		t.Errorf("with crm-support: %v", got)
	}
}

func TestRateLimitString(t *testing.T) {
	for rl, want := range map[policy.RateLimit]string{
		{}:                                   "off",
		{Count: 20, Window: time.Hour}:       "20/1h",
		{Count: 5, Window: 90 * time.Minute}: "5/1h30m",
		{Count: 5, Window: 30 * time.Minute}: "5/30m",
		{Count: 1, Window: 45 * time.Second}: "1/45s",
		{Count: 2, Window: 24 * time.Hour}:   "2/24h",
		{Count: 2, Window: 61 * time.Second}: "2/1m1s",
	} {
		if got := rl.String(); got != want {
			t.Errorf("%+v: %q, want %q", rl, got, want)
		}
		if want == "off" {
			continue
		}
		// What /v1/me shows must read back as the same limit.
		_, w, _ := strings.Cut(want, "/")
		if d, err := time.ParseDuration(w); err != nil || d != rl.Window {
			t.Errorf("%q does not parse back to %v", want, rl.Window)
		}
	}
}
