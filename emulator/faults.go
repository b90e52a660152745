package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Faults are switches that make the emulator misbehave the way a real
// Bare.ID (or the network to it) can, so that tests can watch actas cope.
// The zero value is a healthy emulator.
type Faults struct {
	// LatencyMs delays the token endpoint and the impersonation-token API.
	LatencyMs int `json:"latencyMs"`
	// MintStatus, when non-zero, makes the impersonation-token API answer
	// that status (400-599) with a JSON error body.
	MintStatus int `json:"mintStatus"`
	// MintMalformed makes the impersonation-token API answer 200 with a body
	// that is not JSON.
	MintMalformed bool `json:"mintMalformed"`
	// WrongHost makes the impersonation-token API answer 200 with a valid
	// token but a URL on https://evil.example.
	WrongHost bool `json:"wrongHost"`
	// TokenDown makes the token endpoint answer 503.
	TokenDown bool `json:"tokenDown"`
	// MintMissingFields makes the impersonation-token API answer 200 {}.
	MintMissingFields bool `json:"mintMissingFields"`
	// MintUnauthorizedOnce makes the next impersonation-token call answer
	// 401, as if the access token had been revoked, and then clears itself.
	MintUnauthorizedOnce bool `json:"mintUnauthorizedOnce"`
}

// maxLatencyMs bounds LatencyMs so that a typo cannot hang a test run.
const maxLatencyMs = 60_000

func (f Faults) validate() error {
	if f.LatencyMs < 0 || f.LatencyMs > maxLatencyMs {
		return fmt.Errorf("latencyMs must be between 0 and %d", maxLatencyMs)
	}
	if f.MintStatus != 0 && (f.MintStatus < 400 || f.MintStatus > 599) {
		return fmt.Errorf("mintStatus must be 0 or between 400 and 599")
	}
	return nil
}

// faultSwitch holds the current faults; safe for concurrent use.
type faultSwitch struct {
	mu sync.Mutex
	f  Faults
}

func (s *faultSwitch) get() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f
}

func (s *faultSwitch) set(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f = f
}

// takeUnauthorizedOnce reports whether MintUnauthorizedOnce was set and
// clears it, atomically, so that exactly one call sees it.
func (s *faultSwitch) takeUnauthorizedOnce() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	on := s.f.MintUnauthorizedOnce
	s.f.MintUnauthorizedOnce = false
	return on
}

// delay waits for the configured latency or until ctx ends.
func (s *faultSwitch) delay(ctx context.Context) {
	ms := s.get().LatencyMs
	if ms <= 0 {
		return
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// Stats are counters since start or the last reset.
type Stats struct {
	TokenRequests         int64 `json:"tokenRequests"`
	MintRequests          int64 `json:"mintRequests"`
	ImpersonationsStarted int64 `json:"impersonationsStarted"`
	JWKSRequests          int64 `json:"jwksRequests"`
	AuthorizeRequests     int64 `json:"authorizeRequests"`
}

type counters struct {
	tokenRequests         atomic.Int64
	mintRequests          atomic.Int64
	impersonationsStarted atomic.Int64
	jwksRequests          atomic.Int64
	authorizeRequests     atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		TokenRequests:         c.tokenRequests.Load(),
		MintRequests:          c.mintRequests.Load(),
		ImpersonationsStarted: c.impersonationsStarted.Load(),
		JWKSRequests:          c.jwksRequests.Load(),
		AuthorizeRequests:     c.authorizeRequests.Load(),
	}
}

func (c *counters) reset() {
	c.tokenRequests.Store(0)
	c.mintRequests.Store(0)
	c.impersonationsStarted.Store(0)
	c.jwksRequests.Store(0)
	c.authorizeRequests.Store(0)
}
