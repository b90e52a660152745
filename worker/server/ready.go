package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/actas-dev/actas/worker/identity"
	"github.com/actas-dev/actas/worker/version"
)

// checker is one thing the Worker needs before it can serve: the audit store, Bare.ID,
// an issuer's signing keys.
type checker interface {
	Ready(ctx context.Context) error
}

// readyCheck is a named checker; the name is what /readyz reports, never the error.
type readyCheck struct {
	name string
	c    checker
}

// Limits of GET /readyz.
const (
	// readyCheckTimeout bounds each check, so a hung dependency makes the answer
	// "failed", not a hung probe.
	readyCheckTimeout = 5 * time.Second
	// readyReuse is how long an answer is reused within an isolate: anyone may ask,
	// and a flood of probes must not become a flood of requests to Bare.ID's token
	// endpoint or the issuer while they are failing.
	readyReuse = 5 * time.Second
)

// The values of a check in the answer.
const (
	checkOK     = "ok"
	checkFailed = "failed"
)

type readyAnswer struct {
	Status  string            `json:"status"` // "ready" or "not-ready"
	Version string            `json:"version"`
	Checks  map[string]string `json:"checks"`
}

// readiness runs the checks and reuses an answer for readyReuse.
type readiness struct {
	checks []readyCheck
	log    *logger
	now    func() time.Time

	mu   sync.Mutex
	at   time.Time
	last *readyAnswer
}

// readinessOf lists what this configuration depends on: the audit store, Bare.ID, and
// the signing keys of each token issuer the identity chain holds.
func readinessOf(s *server, chain identity.Chain) *readiness {
	checks := []readyCheck{{"auditStore", s.store}, {"bareid", s.upstr}}
	for _, a := range chain {
		switch a := a.(type) {
		case *identity.OIDC:
			checks = append(checks, readyCheck{"oidc", a})
		case *identity.Access:
			checks = append(checks, readyCheck{"access", a})
		}
	}
	return &readiness{checks: checks, log: s.log, now: s.now}
}

// answer runs every check at once (or returns the answer of the last readyReuse).
// The configuration was loaded, or there would be no checks to run.
func (rd *readiness) answer(ctx context.Context) readyAnswer {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	if rd.last != nil && rd.now().Sub(rd.at) < readyReuse {
		return *rd.last
	}
	a := readyAnswer{Status: "ready", Version: version.String(), Checks: map[string]string{"config": checkOK}}
	errs := make([]error, len(rd.checks))
	var wg sync.WaitGroup
	for i, c := range rd.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, readyCheckTimeout)
			defer cancel()
			errs[i] = c.c.Ready(cctx)
		}()
	}
	wg.Wait()
	for i, c := range rd.checks {
		a.Checks[c.name] = checkOK
		if errs[i] != nil {
			a.Status, a.Checks[c.name] = "not-ready", checkFailed
			rd.log.event(LevelWarn, "not-ready", fmt.Errorf("%s: %w", c.name, errs[i]))
		}
	}
	rd.at, rd.last = rd.now(), &a
	return a
}

// ready is GET /readyz: whether this Worker can serve the API now, check by check,
// with its build version. 503 when any check fails. Unlike /healthz (liveness: the
// Worker runs) it looks at the configuration and every dependency. It names checks
// and their state, never an error, a URL or a setting.
func (s *server) ready(w http.ResponseWriter, r *http.Request) {
	writeReady(w, s.readiness.answer(r.Context()))
}

// notReady is GET /readyz of a Worker whose configuration is invalid: nothing else
// can be checked.
func notReady(w http.ResponseWriter, _ *http.Request) {
	writeReady(w, readyAnswer{Status: "not-ready", Version: version.String(), Checks: map[string]string{"config": checkFailed}})
}

func writeReady(w http.ResponseWriter, a readyAnswer) {
	status := http.StatusOK
	if a.Status != "ready" {
		status = http.StatusServiceUnavailable
	}
	_ = writeJSON(w, status, a)
}
