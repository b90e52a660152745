package main

import (
	"context"
	"fmt"
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

// takeUnauthorizedOnce reports whether MintUnauthorizedOnce was set and
// clears it, atomically, so that exactly one call sees it.
func takeUnauthorizedOnce(faults *guarded[Faults]) (on bool) {
	faults.update(func(f *Faults) {
		on = f.MintUnauthorizedOnce
		f.MintUnauthorizedOnce = false
	})
	return on
}

// delay waits for the configured latency or until ctx ends.
func delay(ctx context.Context, faults *guarded[Faults]) {
	ms := faults.get().LatencyMs
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
