package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/bareid"
	"github.com/actas-dev/actas/worker/identity"
	"github.com/actas-dev/actas/worker/internal/ids"
	"github.com/actas-dev/actas/worker/policy"
	"github.com/actas-dev/actas/worker/problem"
	"github.com/actas-dev/actas/worker/version"
)

type impersonationResponse struct {
	ID        string `json:"id"`
	Token     string `json:"token"`
	URL       string `json:"url"`
	Method    string `json:"method"`
	Field     string `json:"field"`
	ExpiresAt string `json:"expiresAt"`
	UserUUID  string `json:"userUuid"`
	ClientID  string `json:"clientId"`
}

// createImpersonation is POST /v1/impersonations: parse and validate the input
// (authentication is done), audit "requested" (must succeed), apply the policy (a
// refusal is audited as denied), mint at Bare.ID, audit the outcome (must succeed),
// and only then encode the token.
func (s *server) createImpersonation(w http.ResponseWriter, r *http.Request) error {
	id := caller(r)
	req, err := decodeImpersonation(r)
	if err != nil {
		return err
	}
	if err := policy.Validate(&req); err != nil {
		return err
	}
	ri := info(r)
	rec := audit.Record{
		ID:          ids.NewUUID(),
		RequestedAt: s.now(),
		Actor:       id.Actor,
		ActorKind:   string(id.Kind),
		TargetUser:  req.UserUUID,
		ClientID:    req.ClientID,
		Reason:      req.Reason,
		RequestID:   ri.requestID,
	}
	rec.ClientIP, rec.UserAgent = s.cfg.Audit.Caller.Apply(r.Header.Get("CF-Connecting-IP"), r.UserAgent())
	ri.impersonationID, ri.targetUser, ri.clientID = rec.ID, rec.TargetUser, rec.ClientID
	// One round trip writes "requested" and, when there is a rate limit, counts the
	// caller's impersonations in its window (this one included) in the same batch.
	var count policy.Counted
	if since, limited := s.policy.RateWindowStart(rec.RequestedAt); limited {
		n, oldest, err := s.store.BeginCounted(r.Context(), rec, since, policy.CountedDenials...)
		if err != nil {
			return auditUnavailable(err)
		}
		count = policy.Counted{N: n, Oldest: oldest}
	} else if err := s.store.Begin(r.Context(), rec); err != nil {
		return auditUnavailable(err)
	}

	if d := s.policy.DecideWith(r.Context(), id, req, count); d != nil {
		ri.outcome = string(audit.Denied)
		if err := s.complete(r.Context(), rec, audit.Completion{Outcome: audit.Denied, Detail: string(d.Rule)}); err != nil {
			return err
		}
		return d.Err
	}

	imp, mintErr := s.upstr.Mint(r.Context(), req.UserUUID, req.ClientID)
	if mintErr != nil {
		pe, status := upstreamProblem(mintErr)
		ri.outcome = string(audit.Failed)
		if err := s.complete(r.Context(), rec, audit.Completion{Outcome: audit.Failed, Detail: string(pe.Kind), UpstreamStatus: status}); err != nil {
			return err
		}
		return pe
	}
	if err := s.complete(r.Context(), rec, audit.Completion{
		Outcome: audit.Issued, UpstreamStatus: http.StatusOK, ExpiresAt: imp.ExpiresAt,
	}); err != nil {
		return err // the token is dropped: no token without its audit row
	}
	ri.outcome = string(audit.Issued)

	w.Header().Set("Location", "/v1/impersonations/"+rec.ID)
	return writeJSON(w, http.StatusCreated, impersonationResponse{
		ID:        rec.ID,
		Token:     imp.Token,
		URL:       imp.URL.String(),
		Method:    s.cfg.BareID.Method,
		Field:     "token",
		ExpiresAt: imp.ExpiresAt.UTC().Format("2006-01-02T15:04:05Z"),
		UserUUID:  req.UserUUID,
		ClientID:  req.ClientID,
	})
}

func (s *server) complete(ctx context.Context, rec audit.Record, c audit.Completion) error {
	c.CompletedAt = s.now()
	if err := s.store.Complete(ctx, rec, c); err != nil {
		return auditUnavailable(err)
	}
	return nil
}

func auditUnavailable(err error) error {
	return problem.Wrap(problem.AuditUnavailable, "The audit trail could not be written, so no impersonation was started. Try again later.", err)
}

// upstreamProblem maps a failed mint to the caller's problem and the upstream status
// for the audit row.
func upstreamProblem(err error) (*problem.Error, int) {
	var be *bareid.Error
	if !errors.As(err, &be) {
		return problem.Wrap(problem.UpstreamFailed, "Bare.ID could not be asked for a token.", err), 0
	}
	switch {
	case be.Timeout:
		return problem.Wrap(problem.UpstreamTimeout, "Bare.ID did not answer in time; nothing was started. Try again.", err), 0
	case be.Status == 0:
		return problem.Wrap(problem.UpstreamUnavailable, "Bare.ID could not be reached; nothing was started. Try again later.", err), 0
	case be.Op == "mint" && be.Status == http.StatusNotFound:
		// Bare.ID does not know the user (or the application): answered exactly as a
		// protected user, see policy.
		pe := policy.UserNotAllowed()
		pe.Err = err
		return pe, be.Status
	case be.Op == "token" && be.Malformed:
		return problem.Wrap(problem.UpstreamFailed, "Bare.ID's token endpoint answered unexpectedly; nothing was started.", err), be.Status
	case be.Op == "token":
		return problem.Wrap(problem.UpstreamFailed, "Bare.ID refused the Worker's service account; an operator must check its credentials.", err), be.Status
	case be.Status == http.StatusUnauthorized || be.Status == http.StatusForbidden:
		return problem.Wrap(problem.UpstreamFailed, "Bare.ID refused the Worker's service account; an operator must check its impersonation role.", err), be.Status
	default:
		return problem.Wrap(problem.UpstreamFailed, "Bare.ID answered unexpectedly; nothing was started.", err), be.Status
	}
}

// listClients is GET /v1/clients: the applications this caller may choose.
func (s *server) listClients(w http.ResponseWriter, r *http.Request) error {
	id := caller(r)
	if !id.Can(identity.Impersonate) {
		return problem.New(problem.Forbidden, "You may not impersonate users.")
	}
	return writeJSON(w, http.StatusOK, s.policy.ClientsFor(id))
}

type meResponse struct {
	Actor           string                `json:"actor"`
	ActorKind       identity.Kind         `json:"actorKind"`
	Subject         string                `json:"subject,omitempty"`
	Roles           []string              `json:"roles"`
	Permissions     []identity.Permission `json:"permissions"`
	Clients         []policy.Client       `json:"clients"`
	ReasonRequired  bool                  `json:"reasonRequired"`
	ReasonMinLength int                   `json:"reasonMinLength,omitempty"`
	ReasonPattern   string                `json:"reasonPattern,omitempty"`
	RateLimit       string                `json:"rateLimit"`
	Version         string                `json:"version"` // the Worker's build version
}

// me is GET /v1/me: who the Worker thinks the caller is and what they may do.
func (s *server) me(w http.ResponseWriter, r *http.Request) error {
	id := caller(r)
	p := s.cfg.Policy
	resp := meResponse{
		Actor:          id.Actor,
		ActorKind:      id.Kind,
		Subject:        id.Subject,
		Roles:          append([]string{}, id.Roles...),
		Permissions:    append([]identity.Permission{}, id.Permissions...),
		Clients:        []policy.Client{},
		ReasonRequired: p.ReasonRequired,
		RateLimit:      p.RateLimit.String(),
		Version:        version.String(),
	}
	if id.Can(identity.Impersonate) {
		resp.Clients = s.policy.ClientsFor(id)
	}
	if p.ReasonRequired {
		resp.ReasonMinLength = p.ReasonMinLength
		if p.ReasonPattern != nil {
			resp.ReasonPattern = p.ReasonPattern.String()
		}
	}
	return writeJSON(w, http.StatusOK, resp)
}
