package server

import (
	"errors"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/bareid"
	"github.com/actas-dev/actas/worker/config"
	"github.com/actas-dev/actas/worker/identity"
	"github.com/actas-dev/actas/worker/problem"
	"github.com/actas-dev/actas/worker/version"
)

// Level is a log line's severity; the Worker writes each line through the console
// method of that name, so Workers Logs files it under the same level.
type Level string

// The levels the Worker logs at.
const (
	LevelInfo  Level = "info"
	LevelWarn  Level = "warn"
	LevelError Level = "error"
)

// LevelWriter receives each log line (one JSON object, no newline) with its level. A
// Deps.Log that implements it gets every line this way; any other io.Writer gets the
// lines newline-terminated.
type LevelWriter interface {
	WriteLevel(level Level, line []byte)
}

// logger writes one JSON line per request, and one per background event (webhook
// delivery, anchoring). Nothing secret is ever passed to it: it sees routes (not query
// strings), actors, ids, outcomes and error texts made safe by logError.
//
// Lines are built by hand rather than with encoding/json: every request pays for one,
// the health check included, and the field set is fixed.
type logger struct {
	mu  sync.Mutex
	w   io.Writer
	lw  LevelWriter
	now func() time.Time
}

func newLogger(w io.Writer, now func() time.Time) *logger {
	l := &logger{w: w, now: now}
	l.lw, _ = w.(LevelWriter)
	return l
}

// logLine is the fixed field set of every line; README's "Logs" section documents it.
// Every field is always present (empty string, 0), so queries and parsers can rely on
// the shape.
type logLine struct {
	Time            time.Time // zero: now
	Level           Level
	Msg             string // "request", or the background event's name
	RequestID       string
	Method          string
	Route           string // the route pattern, never the query string
	Status          int
	Duration        time.Duration
	Actor           string
	ActorKind       string
	ImpersonationID string
	TargetUser      string
	ClientID        string
	Outcome         string // the audit outcome: issued, denied, failed, ended
	Problem         string // the problem type slug the caller got
	Error           string // what failed, without internals (logError)
	Seq             int64  // an audit event's seq (webhook delivery, anchor, checkpoint)
	Hash            string // that event's hash
	Detail          string // a safe note: delivery attempt, anchor signature, migrations applied, a panic's stack
}

const logTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// encode appends the line as one JSON object.
func (ln *logLine) encode(b []byte, t time.Time) []byte {
	b = append(b, `{"time":"`...)
	b = t.UTC().AppendFormat(b, logTimeLayout)
	b = append(b, '"')
	b = appendField(b, "level", string(ln.Level))
	b = appendField(b, "msg", ln.Msg)
	b = appendField(b, "version", version.String())
	b = appendField(b, "requestId", ln.RequestID)
	b = appendField(b, "method", ln.Method)
	b = appendField(b, "route", ln.Route)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(ln.Status), 10)
	b = append(b, `,"durationMs":`...)
	b = strconv.AppendFloat(b, float64(ln.Duration.Microseconds())/1000, 'f', 3, 64)
	b = appendField(b, "actor", ln.Actor)
	b = appendField(b, "actorKind", ln.ActorKind)
	b = appendField(b, "impersonationId", ln.ImpersonationID)
	b = appendField(b, "targetUser", ln.TargetUser)
	b = appendField(b, "clientId", ln.ClientID)
	b = appendField(b, "outcome", ln.Outcome)
	b = appendField(b, "problem", ln.Problem)
	b = appendField(b, "error", ln.Error)
	b = append(b, `,"seq":`...)
	b = strconv.AppendInt(b, ln.Seq, 10)
	b = appendField(b, "hash", ln.Hash)
	b = appendField(b, "detail", ln.Detail)
	return append(b, '}')
}

func appendField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (RFC 8259 §7): quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD, and U+2028/U+2029
// escaped so the line is also valid JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028':
			b = append(b, `\u2028`...)
		case r == '\u2029':
			b = append(b, `\u2029`...)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

func (l *logger) write(ln logLine) {
	buf := make([]byte, 0, 512)
	t := ln.Time
	if t.IsZero() {
		t = l.now()
	}
	buf = ln.encode(buf, t)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lw != nil {
		l.lw.WriteLevel(ln.Level, buf)
		return
	}
	_, _ = l.w.Write(append(buf, '\n'))
}

// event logs something that is not a request, such as a configuration error.
func (l *logger) event(level Level, msg string, err error) {
	l.write(logLine{Level: level, Msg: msg, Error: logError(err)})
}

// maxLogError bounds the error field.
const maxLogError = 300

var (
	urlRE  = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"']+`)
	uuidRE = regexp.MustCompile(`[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}`)
)

// logError says what failed in operator's terms: which dependency and how (status,
// timeout, unreachable, malformed answer), never Go type names, upstream URLs (which
// carry the instance UUID), bodies or tokens.
func logError(err error) string {
	if err == nil {
		return ""
	}
	var be *bareid.Error
	var ce *config.Error
	var pe *problem.Error
	switch {
	case errors.As(err, &be):
		return describeBareID(be)
	case errors.Is(err, audit.ErrUnavailable):
		msg := err.Error()
		if i := strings.Index(msg, audit.ErrUnavailable.Error()); i >= 0 {
			msg = strings.TrimPrefix(msg[i+len(audit.ErrUnavailable.Error()):], ": ")
		}
		return "audit store: " + redact(msg)
	case errors.As(err, &ce):
		return ce.Error() // names variables and rules, never values
	case errors.Is(err, identity.ErrInvalidCredentials), strings.HasPrefix(err.Error(), "identity: "):
		return redact(err.Error())
	case errors.As(err, &pe) && pe.Err == nil:
		return ""
	case errors.As(err, &pe) && pe.Kind == problem.InvalidBody:
		return "request body is not the expected JSON object"
	case errors.As(err, &pe):
		return logError(pe.Err)
	}
	return redact(err.Error())
}

func describeBareID(be *bareid.Error) string {
	what := "Bare.ID impersonation-token API"
	if be.Op == "token" {
		what = "Bare.ID token endpoint"
	}
	switch {
	case be.Timeout:
		return what + ": no answer in time"
	case be.Status == 0:
		return what + ": unreachable"
	case be.Malformed && be.Err != nil:
		// The package's own fixed texts ("answer lacks the token or URL field").
		return what + ": status " + strconv.Itoa(be.Status) + ", " + redact(be.Err.Error())
	case be.Err != nil && be.Op == "token":
		// RFC 6749 error code, checked by bareid.safeCode.
		return what + ": status " + strconv.Itoa(be.Status) + ", " + redact(be.Err.Error())
	}
	return what + ": status " + strconv.Itoa(be.Status)
}

// redact removes URLs and UUIDs from a message and bounds its length.
func redact(s string) string {
	s = urlRE.ReplaceAllString(s, "<url>")
	s = uuidRE.ReplaceAllString(s, "<uuid>")
	if len(s) > maxLogError {
		s = s[:maxLogError]
		for len(s) > 0 && !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// LogEvent writes one line of the fixed field set for something outside a request's
// handler (the platform bridge's panics), to w as Deps.Log would receive it.
func LogEvent(w io.Writer, level Level, msg string, err error) {
	newLogger(w, time.Now).event(level, msg, err)
}
