package config

import (
	"encoding/base64"
	"strings"
	"time"

	"github.com/actas-dev/actas/worker/webhook"
)

// minWebhookSecret is Standard Webhooks' least secret length (24 bytes).
const minWebhookSecret = 24

func (l *loader) webhook(w *webhook.Config, devLoopback bool) {
	w.Retry = l.durationIn("ACTAS_WEBHOOK_RETRY", webhook.DefaultRetry, time.Second, webhook.MaxRetry)
	if l.get("ACTAS_WEBHOOK_URL") == "" {
		if l.get("ACTAS_WEBHOOK_SECRET") != "" {
			l.fail("ACTAS_WEBHOOK_SECRET", "is set but ACTAS_WEBHOOK_URL is not")
		}
		return
	}
	w.URL = l.url("ACTAS_WEBHOOK_URL", "", devLoopback)
	raw := l.required("ACTAS_WEBHOOK_SECRET")
	if raw == "" {
		return
	}
	secret, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(raw, webhook.SecretPrefix))
	if !strings.HasPrefix(raw, webhook.SecretPrefix) || err != nil || len(secret) < minWebhookSecret || len(secret) > 64 {
		l.fail("ACTAS_WEBHOOK_SECRET", "must be whsec_ followed by 24 to 64 bytes in base64 (e.g. whsec_$(head -c 32 /dev/urandom | base64))")
		return
	}
	w.Secret = secret
}
