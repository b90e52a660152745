package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/actas-dev/actas/worker/internal/ids"
	"github.com/actas-dev/actas/worker/policy"
)

func (l *loader) policy(p *policy.Config, impersonatorRole string) {
	p.ImpersonatorRole = impersonatorRole
	p.Clients = l.clients("ACTAS_CLIENTS")
	l.clientRoles("ACTAS_CLIENT_ROLES", p.Clients)
	p.ProtectedUsers = l.uuidSet("ACTAS_PROTECTED_USERS")
	p.ReasonRequired = l.boolean("ACTAS_REASON_REQUIRED", true)
	p.ReasonMinLength = l.integer("ACTAS_REASON_MIN_LENGTH", policy.DefaultReasonMinLength, 1, policy.MaxReasonMinLength)
	if v := l.get("ACTAS_REASON_PATTERN"); v != "" {
		re, err := regexp.Compile(v)
		if err != nil {
			l.fail("ACTAS_REASON_PATTERN", "must be a valid regular expression (RE2 syntax)")
		}
		p.ReasonPattern = re
	}
	p.RateLimit = l.rateLimit("ACTAS_RATE_LIMIT")
}

func (l *loader) clients(name string) []policy.Client {
	items := list(l.required(name))
	out := make([]policy.Client, 0, len(items))
	seen := map[string]bool{}
	for i, item := range items {
		id, display, _ := strings.Cut(item, "=")
		id, display = strings.TrimSpace(id), strings.TrimSpace(display)
		if !policy.ValidClientID(id) || seen[id] {
			l.fail(name, fmt.Sprintf("entry %d must be clientId=Display Name with a unique client id", i+1))
			continue
		}
		seen[id] = true
		if display == "" {
			display = id
		}
		out = append(out, policy.Client{ID: id, Name: display})
	}
	return out
}

// clientRoles reads "crm=support|admins,wiki=wiki-editors" onto the clients.
func (l *loader) clientRoles(name string, clients []policy.Client) {
	for i, item := range list(l.get(name)) {
		id, roles, ok := strings.Cut(item, "=")
		rs := roleList(roles)
		idx := -1
		for j := range clients {
			if clients[j].ID == strings.TrimSpace(id) {
				idx = j
			}
		}
		if !ok || rs == nil || idx < 0 {
			l.fail(name, fmt.Sprintf("entry %d must be clientId=role|role with a client from ACTAS_CLIENTS", i+1))
			continue
		}
		clients[idx].Roles = rs
	}
}

func (l *loader) uuidSet(name string) map[string]bool {
	set := map[string]bool{}
	for i, item := range list(l.get(name)) {
		if !ids.IsUUID(item) {
			l.fail(name, fmt.Sprintf("entry %d must be a UUID", i+1))
			continue
		}
		set[strings.ToLower(item)] = true
	}
	return set
}

func (l *loader) rateLimit(name string) policy.RateLimit {
	v := l.get(name)
	if v == "" {
		v = policy.DefaultRateLimit
	}
	if v == "off" {
		return policy.RateLimit{}
	}
	n, w, ok := strings.Cut(v, "/")
	count, err := strconv.Atoi(n)
	window, err2 := time.ParseDuration(w)
	if !ok || err != nil || err2 != nil || count < 1 || count > 100000 || window < time.Second || window > 31*24*time.Hour {
		l.fail(name, "must be COUNT/DURATION such as 10/1h, or off")
		return policy.RateLimit{}
	}
	return policy.RateLimit{Count: count, Window: window}
}
