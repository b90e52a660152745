package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/webhook"
)

// Scheduler is what the Worker's Cron Triggers run (wasm/scheduled.go). The handler
// server.New returns implements it.
type Scheduler interface {
	Scheduled(ctx context.Context, cron string)
}

// worker is the configured Worker: the HTTP API and its scheduled work.
type worker struct {
	http.Handler
	s *server
}

// afterResponse delivers the webhook messages the request's audit events queued, in
// the request's waitUntil, so it never delays or fails the answer. Without waitUntil
// (natively) the cron's run delivers them.
func (s *server) afterResponse(ctx context.Context) {
	if !s.cfg.Webhook.Enabled() || s.waitUntil == nil {
		return
	}
	s.waitUntil(ctx, func(ctx context.Context) { s.deliver(ctx) })
}

// deliver runs the outbox and logs each attempt.
func (s *server) deliver(ctx context.Context) {
	attempts, err := s.outbox.Deliver(ctx)
	for _, a := range attempts {
		ln := logLine{Level: LevelInfo, Msg: "webhook-delivered", Status: a.Status, Seq: a.Seq, Outcome: a.Kind,
			Detail: a.ID + " attempt " + strconv.Itoa(a.Attempt)}
		if a.Err != nil {
			ln.Level, ln.Msg, ln.Error = LevelWarn, "webhook-failed", a.Err.Error()
			ln.Detail += ", next attempt at " + a.Retry.UTC().Format(logTimeLayout)
		}
		s.log.write(ln)
	}
	if err != nil {
		s.log.event(LevelError, "webhook-outbox", err)
	}
}

// Scheduled is a Cron Trigger's run: on the anchor cron, verify the whole chain and
// publish its head; always, deliver what the outbox holds.
func (w *worker) Scheduled(ctx context.Context, cron string) {
	s := w.s
	if cron == s.cfg.Audit.AnchorCron {
		s.anchor(ctx)
	}
	s.deliver(ctx)
}

// anchorPayload is the data of an audit.anchor message.
type anchorPayload struct {
	audit.Verification
	VerifiedAt string `json:"verifiedAt"`
}

// anchor verifies the chain and publishes its head to the log and the webhook, so a
// later truncation of the chain is caught (GET /v1/impersonations/verify?seq=&hash=).
func (s *server) anchor(ctx context.Context) {
	now := s.now()
	v, err := s.store.Verify(ctx)
	if err != nil {
		s.log.event(LevelError, "audit-anchor", err)
		return
	}
	at := now.UTC().Format(logTimeLayout)
	ln := logLine{Time: now, Level: LevelInfo, Msg: "audit-anchor", Seq: v.HeadSeq, Hash: v.HeadHash,
		Outcome: "verified", Detail: "unsigned"}
	if len(s.cfg.Webhook.Secret) > 0 {
		ln.Detail = webhook.SignAnchor(s.cfg.Webhook.Secret, v.HeadSeq, v.HeadHash, at)
	}
	if !v.OK {
		ln.Level, ln.Outcome = LevelError, "broken"
		ln.Error = "audit chain breaks at seq " + strconv.FormatInt(v.FirstBreak.Seq, 10) + ": " + v.FirstBreak.Problem
	}
	s.log.write(ln)
	if !s.cfg.Webhook.Enabled() {
		return
	}
	payload, _ := json.Marshal(anchorPayload{Verification: v, VerifiedAt: at})
	id := "anc_" + strconv.FormatInt(v.HeadSeq, 10) + "_" + strconv.FormatInt(now.UnixMilli(), 10)
	if err := s.outbox.Enqueue(ctx, "audit.anchor", v.HeadSeq, id, string(payload), now); err != nil {
		s.log.event(LevelError, "audit-anchor", err)
	}
}

// misconfiguredWorker runs no scheduled work: it logs why.
type misconfiguredWorker struct {
	http.Handler
	log *logger
	err error
}

func (m misconfiguredWorker) Scheduled(context.Context, string) {
	m.log.event(LevelError, "config-invalid", m.err)
}
