package server

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/actas-dev/actas/worker/config"
	"github.com/actas-dev/actas/worker/identity"
	"github.com/actas-dev/actas/worker/problem"
)

// maxReasonLength bounds the stored reason (in characters).
const maxReasonLength = 1000

// clientIDShape is what a client id may look like at all; whether it is allowed is
// policy.
var clientIDShape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,254}$`)

// validate checks the request's shape and normalises it. What it rejects is malformed
// input (400) and is not audited: there is nothing meaningful to record.
func validate(req *impersonationRequest) error {
	if !config.IsUUID(req.UserUUID) {
		return problem.New(problem.InvalidUserID, "userUuid must be a UUID such as 3f2c1a9e-8d4b-4c6a-9f1e-2b7d5c8a0e41.")
	}
	req.UserUUID = strings.ToLower(req.UserUUID)
	if !clientIDShape.MatchString(req.ClientID) {
		return problem.New(problem.ClientNotAllowed, "clientId must be one of the applications GET /v1/clients lists.")
	}
	req.Reason = strings.TrimSpace(req.Reason)
	switch {
	case !utf8.ValidString(req.Reason):
		return problem.New(problem.ReasonInvalid, "reason must be valid UTF-8 text.")
	case utf8.RuneCountInString(req.Reason) > maxReasonLength:
		return problem.New(problem.ReasonInvalid, fmt.Sprintf("The reason must be at most %d characters long.", maxReasonLength))
	case strings.ContainsFunc(req.Reason, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t' }):
		return problem.New(problem.ReasonInvalid, "The reason may not contain control characters other than line breaks and tabs.")
	}
	return nil
}

// denial is a policy refusal: the rule recorded in the audit trail and the answer.
type denial struct {
	rule string
	err  error
}

func deny(rule string, kind problem.Kind, detail string) *denial {
	return &denial{rule: rule, err: problem.New(kind, detail)}
}

// decide applies the policy to a validated request whose "requested" event is already
// written, so the rate limit counts this request too and concurrent requests cannot
// both slip under it. It returns nil when the impersonation may go ahead.
func (s *server) decide(ctx context.Context, id identity.Identity, req impersonationRequest) *denial {
	p := s.cfg.Policy
	if !id.Can(identity.Impersonate) {
		return deny("no-impersonate-role", problem.Forbidden, "You may not impersonate users: your roles lack "+s.cfg.Roles.Impersonator+".")
	}
	if _, ok := s.clientFor(id, req.ClientID); !ok {
		return deny("client-not-allowed", problem.ClientNotAllowed, "clientId must be one of the applications GET /v1/clients lists for you.")
	}
	if d := reasonDenial(p, req.Reason); d != nil {
		return d
	}
	// A protected user is refused exactly like a user Bare.ID does not know, so the
	// answer never reveals which users are protected or exist.
	if p.ProtectedUsers[req.UserUUID] {
		return &denial{rule: "protected-user", err: userNotAllowed()}
	}
	if id.Subject != "" && strings.EqualFold(id.Subject, req.UserUUID) {
		return deny("self", problem.UserNotAllowed, "You cannot impersonate yourself.")
	}
	return s.rateLimit(ctx, id)
}

func reasonDenial(p config.Policy, reason string) *denial {
	n := utf8.RuneCountInString(reason)
	switch {
	case !p.ReasonRequired:
		return nil
	case n == 0:
		return deny("reason-required", problem.ReasonRequired, fmt.Sprintf("Give a reason (at least %d characters), such as a ticket id.", p.ReasonMinLength))
	case n < p.ReasonMinLength:
		return deny("reason-too-short", problem.ReasonRequired, fmt.Sprintf("The reason must be at least %d characters long.", p.ReasonMinLength))
	case p.ReasonPattern != nil && !p.ReasonPattern.MatchString(reason):
		return deny("reason-pattern", problem.ReasonRequired, "The reason must match the required pattern "+p.ReasonPattern.String()+" (for example a ticket id).")
	}
	return nil
}

// rateLimit counts the caller's impersonations in the window from the audit trail, so
// the limit holds across isolates and restarts.
func (s *server) rateLimit(ctx context.Context, id identity.Identity) *denial {
	rl := s.cfg.RateLimit
	if rl.Count == 0 {
		return nil
	}
	now := s.now()
	n, oldest, err := s.store.CountSince(ctx, id.Actor, string(id.Kind), now.Add(-rl.Window))
	if err != nil {
		return &denial{rule: "rate-limit-unknown", err: auditUnavailable(err)}
	}
	if n <= rl.Count {
		return nil
	}
	retry := int(math.Ceil(oldest.Add(rl.Window).Sub(now).Seconds()))
	pe := problem.New(problem.RateLimited, fmt.Sprintf("At most %d impersonations per %v; try again in %d seconds.", rl.Count, rl.Window, max(retry, 1)))
	pe.RetryAfter = max(retry, 1)
	return &denial{rule: "rate-limit", err: pe}
}

func userNotAllowed() *problem.Error {
	return problem.New(problem.UserNotAllowed, "This user cannot be impersonated in this application.")
}

// clientFor returns the application if it is configured and the caller holds one of
// its roles (when it names any).
func (s *server) clientFor(id identity.Identity, clientID string) (config.Client, bool) {
	c, ok := s.cfg.Client(clientID)
	if !ok || (len(c.Roles) > 0 && !id.HasRole(c.Roles...)) {
		return config.Client{}, false
	}
	return c, true
}

// clientsFor lists the applications the caller may choose.
func (s *server) clientsFor(id identity.Identity) []config.Client {
	out := []config.Client{}
	for _, c := range s.cfg.Clients {
		if _, ok := s.clientFor(id, c.ID); ok {
			out = append(out, c)
		}
	}
	return out
}
