package config

import (
	"strconv"
	"strings"
	"time"

	"github.com/actas-dev/actas/worker/audit"
)

// maxRetention bounds ACTAS_AUDIT_RETENTION (100 years).
const maxRetention = 100 * 365 * 24 * time.Hour

func (l *loader) audit(a *audit.Config) {
	switch v := audit.CallerDetails(strings.ToLower(l.get("ACTAS_AUDIT_CALLER"))); v {
	case "":
		a.Caller = audit.CallerFull
	case audit.CallerFull, audit.CallerNetwork, audit.CallerNone:
		a.Caller = v
	default:
		l.fail("ACTAS_AUDIT_CALLER", "must be full, network or none")
	}
	a.Retention = l.retention("ACTAS_AUDIT_RETENTION")
	a.AnchorCron = l.get("ACTAS_ANCHOR_CRON")
	if a.AnchorCron == "" {
		a.AnchorCron = DefaultAnchorCron
	} else if len(strings.Fields(a.AnchorCron)) != 5 {
		l.fail("ACTAS_ANCHOR_CRON", "must be a cron expression of five fields, as in wrangler.toml's [triggers] crons")
	}
}

// DefaultAnchorCron is the Cron Trigger (wrangler.toml) on which the chain is anchored.
const DefaultAnchorCron = "0 3 * * *"

// retention reads "off" (the default), a number of days ("400d") or a Go duration.
func (l *loader) retention(name string) time.Duration {
	v := l.get(name)
	if v == "" || v == "off" {
		return 0
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		n, err = strconv.Atoi(days)
		d = time.Duration(n) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < time.Second || d > maxRetention {
		l.fail(name, "must be off, a number of days such as 400d, or a duration such as 720h")
		return 0
	}
	return d
}
