package main

import (
	"slices"
	"sync"
	"time"
)

// Audit event names, as shown in the emulator's audit log.
const (
	eventTokenIssued    = "token-issued"
	eventSessionStarted = "session-started"
	eventTokenRejected  = "token-rejected"
	eventLogout         = "logout"
)

// maxAuditEvents bounds the in-memory audit log; the oldest events go first.
const maxAuditEvents = 10_000

// AuditEvent is one entry of the emulator's own audit log, modelled on what
// Bare.ID shows in a user's activity overview: the impersonator is the
// service account, not the human behind it. It never holds a token.
type AuditEvent struct {
	Time         time.Time `json:"time"`
	Event        string    `json:"event"`
	Impersonator string    `json:"impersonator,omitempty"`
	UserUUID     string    `json:"userUuid,omitempty"`
	Username     string    `json:"username,omitempty"`
	ClientID     string    `json:"clientId,omitempty"`
	Detail       string    `json:"detail,omitempty"`
}

// auditLog is an append-only, bounded event list. Safe for concurrent use.
type auditLog struct {
	mu     sync.Mutex
	events []AuditEvent
}

func (a *auditLog) record(e AuditEvent) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.events) >= maxAuditEvents {
		a.events = slices.Delete(a.events, 0, len(a.events)-maxAuditEvents+1)
	}
	a.events = append(a.events, e)
}

// list returns a copy of the events, oldest first.
func (a *auditLog) list() []AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.events)
}

func (a *auditLog) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = nil
}
