// Package policy decides whether an identified caller may impersonate a user in an
// application: the request's shape (Validate), then the rules (Decide), each refusal
// named by a Rule that the audit trail records.
//
// It knows nothing of HTTP; its refusals are problem.Errors (RFC 9457) that the API
// writes as they are.
package policy

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/actas-dev/actas/worker/identity"
	"github.com/actas-dev/actas/worker/internal/ids"
	"github.com/actas-dev/actas/worker/problem"
)

// MaxReasonLength bounds the stored reason (in characters).
const MaxReasonLength = 1000

// Rule names why a request was refused. The values are what the audit trail records as
// a denied event's detail: they are part of the audit format and never change.
type Rule string

// The rules, in the order Decide applies them.
const (
	NoImpersonateRole Rule = "no-impersonate-role" // the caller lacks the impersonator role
	ClientNotAllowed  Rule = "client-not-allowed"  // unknown application, or one the caller's roles do not open
	ReasonRequired    Rule = "reason-required"     // no reason given
	ReasonTooShort    Rule = "reason-too-short"    // shorter than ReasonMinLength
	ReasonPattern     Rule = "reason-pattern"      // does not match ReasonPattern
	Self              Rule = "self"                // the caller named themself
	RateLimited       Rule = "rate-limit"          // over RateLimit in its window
	RateLimitUnknown  Rule = "rate-limit-unknown"  // the count could not be read: fail closed
	ProtectedUser     Rule = "protected-user"      // the target is in ProtectedUsers
)

// Request is what a caller asks for.
type Request struct {
	UserUUID string `json:"userUuid"`
	ClientID string `json:"clientId"`
	Reason   string `json:"reason"`
}

// Validate checks the request's shape and normalises it (lower-case UUID, trimmed
// reason). What it rejects is malformed input, not a policy decision: the API answers
// 400 and audits nothing, since there is nothing meaningful to record.
func Validate(req *Request) error {
	if !ids.IsUUID(req.UserUUID) {
		return problem.New(problem.InvalidUserID, "userUuid must be a UUID such as 3f2c1a9e-8d4b-4c6a-9f1e-2b7d5c8a0e41.")
	}
	req.UserUUID = strings.ToLower(req.UserUUID)
	if !ValidClientID(req.ClientID) {
		return problem.New(problem.ClientNotAllowed, "clientId must be one of the applications GET /v1/clients lists.")
	}
	req.Reason = strings.TrimSpace(req.Reason)
	switch {
	case !utf8.ValidString(req.Reason):
		return problem.New(problem.ReasonInvalid, "reason must be valid UTF-8 text.")
	case utf8.RuneCountInString(req.Reason) > MaxReasonLength:
		return problem.New(problem.ReasonInvalid, fmt.Sprintf("The reason must be at most %d characters long.", MaxReasonLength))
	case strings.ContainsFunc(req.Reason, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }):
		return problem.New(problem.ReasonInvalid, "The reason may not contain control characters other than line breaks and tabs.")
	case strings.ContainsFunc(req.Reason, invisible):
		return problem.New(problem.ReasonInvalid, "The reason may not contain invisible formatting characters (such as bidi overrides, zero-width characters or line and paragraph separators).")
	}
	return nil
}

// invisible reports a character that changes how a reason reads without being seen:
// format characters (Unicode category Cf: the bidi overrides and isolates such as
// U+202E, zero-width spaces and joiners, the BOM, soft hyphens) and the line and
// paragraph separators U+2028 and U+2029, which break a line only in some viewers.
// They are refused rather than stripped, as control characters are, so the audit
// trail stores exactly what the admin sent.
func invisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// Denial is a refusal: the rule for the audit trail and the answer for the caller.
type Denial struct {
	Rule Rule
	Err  *problem.Error
}

func deny(rule Rule, kind problem.Kind, detail string) *Denial {
	return &Denial{Rule: rule, Err: problem.New(kind, detail)}
}

// Counter counts a caller's impersonations for the rate limit. The audit store
// satisfies it, so the limit holds across isolates and restarts. It must be safe for
// concurrent use.
type Counter interface {
	// CountSince returns how many impersonations actor (identified by kind) requested
	// at or after since that were not denied, or were denied for one of the counted
	// rules, and the oldest one's time.
	CountSince(ctx context.Context, actor, kind string, since time.Time, counted ...string) (int, time.Time, error)
}

// CountedDenials are the refusals that count toward the rate limit. Other refusals
// cost nothing, so a mistyped reason does not lock an admin out; a protected user
// must cost what an unknown user costs (whose request reaches Bare.ID and counts),
// or the count would tell the two apart.
var CountedDenials = []string{string(ProtectedUser)}

// Policy applies a Config. It is safe for concurrent use.
type Policy struct {
	cfg   Config
	count Counter
	now   func() time.Time
}

// New returns the policy of cfg; count backs the rate limit and now may be nil
// (time.Now).
func New(cfg Config, count Counter, now func() time.Time) *Policy {
	if now == nil {
		now = time.Now
	}
	return &Policy{cfg: cfg, count: count, now: now}
}

// Counted is a Counter whose answer was read beforehand: by the audit store in the
// same database batch that wrote the "requested" event (audit.Store.BeginCounted).
type Counted struct {
	N      int
	Oldest time.Time
}

// CountSince implements Counter.
func (c Counted) CountSince(context.Context, string, string, time.Time, ...string) (int, time.Time, error) {
	return c.N, c.Oldest, nil
}

// RateWindowStart is the start of the rate limit's window at now, and false when there
// is no limit (nothing to count).
func (p *Policy) RateWindowStart(now time.Time) (time.Time, bool) {
	if p.cfg.RateLimit.Count == 0 {
		return time.Time{}, false
	}
	return now.Add(-p.cfg.RateLimit.Window), true
}

// Decide applies the rules to a validated request whose "requested" event is already
// written, so the rate limit counts this request too and concurrent requests cannot
// both slip under it. It returns nil when the impersonation may go ahead.
func (p *Policy) Decide(ctx context.Context, id identity.Identity, req Request) *Denial {
	return p.DecideWith(ctx, id, req, p.count)
}

// DecideWith is Decide with the rate limit counted by count, such as a Counted read
// together with the "requested" event.
func (p *Policy) DecideWith(ctx context.Context, id identity.Identity, req Request, count Counter) *Denial {
	if !id.Can(identity.Impersonate) {
		return deny(NoImpersonateRole, problem.Forbidden, "You may not impersonate users: your roles lack "+p.cfg.ImpersonatorRole+".")
	}
	if _, ok := p.ClientFor(id, req.ClientID); !ok {
		return deny(ClientNotAllowed, problem.ClientNotAllowed, "clientId must be one of the applications GET /v1/clients lists for you.")
	}
	if d := p.reason(req.Reason); d != nil {
		return d
	}
	if id.Subject != "" && strings.EqualFold(id.Subject, req.UserUUID) {
		return deny(Self, problem.UserNotAllowed, "You cannot impersonate yourself.")
	}
	if d := p.rateLimit(ctx, id, count); d != nil {
		return d
	}
	// A protected user is refused exactly like a user Bare.ID does not know: the same
	// answer, after the same rules (the rate limit included) and counted toward the
	// limit like a request that reached Bare.ID, so neither the answer nor the limit
	// reveals which users are protected or exist. The server shows the refusal to the
	// caller's own audit listing as the unknown user's failure, too.
	//
	// Bare.ID is not asked, not even about a made-up user to spend the same time: a
	// protected user's id never goes upstream, and a decoy request would put an
	// impersonation attempt nobody made into Bare.ID's own audit log. What remains is
	// the time of that round trip, which only an authenticated impersonator can
	// measure, one audited, rate-limited request at a time.
	if p.cfg.ProtectedUsers[strings.ToLower(req.UserUUID)] {
		return &Denial{Rule: ProtectedUser, Err: UserNotAllowed()}
	}
	return nil
}

func (p *Policy) reason(reason string) *Denial {
	n := utf8.RuneCountInString(reason)
	switch {
	case !p.cfg.ReasonRequired:
		return nil
	case n == 0:
		return deny(ReasonRequired, problem.ReasonRequired, fmt.Sprintf("Give a reason (at least %d characters), such as a ticket id.", p.cfg.ReasonMinLength))
	case n < p.cfg.ReasonMinLength:
		return deny(ReasonTooShort, problem.ReasonRequired, fmt.Sprintf("The reason must be at least %d characters long.", p.cfg.ReasonMinLength))
	case p.cfg.ReasonPattern != nil && !p.cfg.ReasonPattern.MatchString(reason):
		return deny(ReasonPattern, problem.ReasonRequired, "The reason must match the required pattern "+p.cfg.ReasonPattern.String()+" (for example a ticket id).")
	}
	return nil
}

// rateLimit counts the caller's impersonations in the window, this one included.
func (p *Policy) rateLimit(ctx context.Context, id identity.Identity, count Counter) *Denial {
	rl := p.cfg.RateLimit
	if rl.Count == 0 {
		return nil
	}
	now := p.now()
	n, oldest, err := count.CountSince(ctx, id.Actor, string(id.Kind), now.Add(-rl.Window), CountedDenials...)
	if err != nil {
		return &Denial{Rule: RateLimitUnknown, Err: problem.Wrap(problem.AuditUnavailable,
			"The audit trail could not be read, so no impersonation was started. Try again later.", err)}
	}
	if n <= rl.Count {
		return nil
	}
	retry := max(int(math.Ceil(oldest.Add(rl.Window).Sub(now).Seconds())), 1)
	pe := problem.New(problem.RateLimited, fmt.Sprintf("At most %d impersonations per %s; try again in %d seconds.", rl.Count, rl.windowString(), retry))
	pe.RetryAfter = retry
	return &Denial{Rule: RateLimited, Err: pe}
}

// UserNotAllowed is the one answer for a user who may not be impersonated, whether
// protected here or unknown to Bare.ID, so neither can be told from the other.
func UserNotAllowed() *problem.Error {
	return problem.New(problem.UserNotAllowed, "This user cannot be impersonated in this application.")
}

// ClientFor returns the application if it is configured and the caller holds one of
// its roles (when it names any).
func (p *Policy) ClientFor(id identity.Identity, clientID string) (Client, bool) {
	for _, c := range p.cfg.Clients {
		if c.ID == clientID {
			if len(c.Roles) > 0 && !id.HasRole(c.Roles...) {
				return Client{}, false
			}
			return c, true
		}
	}
	return Client{}, false
}

// ClientsFor lists the applications the caller may choose, in configured order.
func (p *Policy) ClientsFor(id identity.Identity) []Client {
	out := []Client{}
	for _, c := range p.cfg.Clients {
		if _, ok := p.ClientFor(id, c.ID); ok {
			out = append(out, c)
		}
	}
	return out
}
