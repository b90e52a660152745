package identity

import (
	"context"
	"errors"
)

// Ready reports whether the issuer's signing keys are loaded, fetching them (through
// discovery) if they are not.
func (o *OIDC) Ready(ctx context.Context) error { return o.verify.keys.ready(ctx) }

// Ready reports whether the Access team's signing keys are loaded, fetching them if
// they are not.
func (a *Access) Ready(ctx context.Context) error { return a.verify.keys.ready(ctx) }

// ready loads the key set if it holds none that is fresh. It goes through key (with
// no kid), so the refetch throttle applies to readiness probes too.
func (k *keySet) ready(ctx context.Context) error {
	k.mu.Lock()
	loaded := k.keys != nil && k.now().Sub(k.fetchedAt) < keySetMaxAge
	k.mu.Unlock()
	if loaded {
		return nil
	}
	if _, err := k.key(ctx, ""); err != nil && !errors.Is(err, errUnknownKey) {
		return err
	}
	return nil
}
