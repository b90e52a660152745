// Package webhook pushes the audit trail to the security team's systems as it happens:
// each audit event (and each anchor and checkpoint) is a message in the D1 outbox
// (migrations/0002_outbox_retention.sql), POSTed in order to one URL and signed in the
// style of Standard Webhooks (https://www.standardwebhooks.com/): headers webhook-id,
// webhook-timestamp and webhook-signature "v1,<base64 HMAC-SHA256 of
// id.timestamp.body>", keyed with the base64 secret after "whsec_".
//
// Delivery is at least once: a message is deleted only after a 2xx answer, so a
// receiver deduplicates on webhook-id.
package webhook

import (
	"net/url"
	"time"
)

// Defaults for the optional settings of Config.
const (
	// DefaultRetry is the first retry's delay; each further one doubles, up to MaxRetry.
	DefaultRetry = 30 * time.Second
	// MaxRetry bounds the delay between attempts: a receiver that is down for days
	// is still tried hourly, and gets everything once it is back.
	MaxRetry = time.Hour
	// Timeout bounds one delivery attempt.
	Timeout = 10 * time.Second
)

// Config is where and how audit messages are pushed. The zero value (no URL) pushes
// nothing and lets the cron empty the outbox.
type Config struct {
	URL *url.URL
	// Secret is the HMAC key: the decoded base64 after "whsec_".
	Secret []byte
	// Retry is the delay before the first retry of a refused message.
	Retry time.Duration
}

// Enabled reports whether messages are pushed.
func (c Config) Enabled() bool { return c.URL != nil && len(c.Secret) > 0 }
