package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/bareid"
	"github.com/actas-dev/actas/worker/problem"
)

// logFields is the documented field set, in order (README, "Logs").
var logFields = []string{"time", "level", "msg", "version", "requestId", "method", "route", "status",
	"durationMs", "actor", "actorKind", "impersonationId", "targetUser", "clientId", "outcome",
	"problem", "error", "seq", "hash", "detail"}

func TestLogLineIsValidJSONWithEveryField(t *testing.T) {
	nasty := "quote\" backslash\\ nl\n cr\r tab\t nul\x00 del\x7f ls\u2028 ps\u2029 bad\xff é 😀"
	var buf bytes.Buffer
	l := newLogger(&buf, func() time.Time { return time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC) })
	l.write(logLine{Level: LevelWarn, Msg: "request", Actor: nasty, Error: nasty, Status: 403})
	l.write(logLine{Level: LevelInfo, Msg: "request", Duration: 1500 * time.Microsecond})
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	for _, line := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %v: %s", err, line)
		}
		if len(m) != len(logFields) {
			t.Errorf("%d fields, want %d: %s", len(m), len(logFields), line)
		}
		dec := json.NewDecoder(strings.NewReader(line))
		_, _ = dec.Token()
		for i := 0; dec.More(); i++ {
			k, _ := dec.Token()
			if k != logFields[i] {
				t.Errorf("field %d is %v, want %s", i, k, logFields[i])
			}
			var v any
			_ = dec.Decode(&v)
		}
		if !strings.HasPrefix(line, `{"time":"2026-05-01T10:00:00.000Z",`) {
			t.Errorf("time not in fixed millisecond precision: %s", line)
		}
	}
	var first, second map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &first)
	_ = json.Unmarshal([]byte(lines[1]), &second)
	want := strings.ToValidUTF8(nasty, "\ufffd")
	if first["actor"] != want || first["error"] != want {
		t.Errorf("round trip: %q", first["actor"])
	}
	if strings.ContainsAny(lines[0], "\n\r\u2028\u2029") {
		t.Errorf("raw line breaks in the line")
	}
	if !strings.Contains(lines[0], `"durationMs":0.000`) || !strings.Contains(lines[1], `"durationMs":1.500`) {
		t.Errorf("durationMs must always be present with three decimals: %s / %s", lines[0], lines[1])
	}
	if second["problem"] != "" || second["seq"] != float64(0) {
		t.Errorf("empty fields must be present and empty: %s", lines[1])
	}
}

type levelSink struct{ lines map[Level][]string }

func (s *levelSink) Write(p []byte) (int, error) { return 0, errors.New("Write must not be used") }
func (s *levelSink) WriteLevel(level Level, line []byte) {
	s.lines[level] = append(s.lines[level], string(line))
}

func TestLevelWriterGetsEachLineByLevel(t *testing.T) {
	sink := &levelSink{lines: map[Level][]string{}}
	l := newLogger(sink, time.Now)
	l.write(logLine{Level: LevelInfo, Msg: "a"})
	l.write(logLine{Level: LevelWarn, Msg: "b"})
	l.write(logLine{Level: LevelError, Msg: "c"})
	for _, lv := range []Level{LevelInfo, LevelWarn, LevelError} {
		if len(sink.lines[lv]) != 1 || strings.HasSuffix(sink.lines[lv][0], "\n") ||
			!strings.Contains(sink.lines[lv][0], `"level":"`+string(lv)+`"`) {
			t.Errorf("%s: %q", lv, sink.lines[lv])
		}
	}
}

func TestLogErrorNamesWhatFailedWithoutInternals(t *testing.T) {
	instance := "6c0f7d8e-2b1a-4c3d-9e8f-7a6b5c4d3e2f"
	fetchErr := fmt.Errorf("wasm: fetch POST https://api.bare.id/user/v1/%s/impersonation-token: TypeError: fetch failed", instance)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"mint status", problem.Wrap(problem.UpstreamFailed, "x", &bareid.Error{Op: "mint", Status: 500}),
			"Bare.ID impersonation-token API: status 500"},
		{"mint unreachable", problem.Wrap(problem.UpstreamUnavailable, "x", &bareid.Error{Op: "mint", Err: fetchErr}),
			"Bare.ID impersonation-token API: unreachable"},
		{"token timeout", &bareid.Error{Op: "token", Timeout: true, Err: fetchErr},
			"Bare.ID token endpoint: no answer in time"},
		{"token refused", &bareid.Error{Op: "token", Status: 401, Err: errors.New(`error "invalid_client"`)},
			`Bare.ID token endpoint: status 401, error "invalid_client"`},
		{"malformed", &bareid.Error{Op: "mint", Status: 200, Malformed: true, Err: errors.New("impersonation URL host is not allowed")},
			"Bare.ID impersonation-token API: status 200, impersonation URL host is not allowed"},
		{"audit", problem.Wrap(problem.AuditUnavailable, "x", fmt.Errorf("%w: append requested: D1_ERROR: no such table", audit.ErrUnavailable)),
			"audit store: append requested: D1_ERROR: no such table"},
		{"json decoding", problem.Wrap(problem.InvalidBody, "x", errors.New("json: cannot unmarshal number into Go struct field Request.userUuid of type string")),
			"request body is not the expected JSON object"},
		{"plain problem", problem.New(problem.Forbidden, "x"), ""},
		{"unknown with url", fmt.Errorf("something at http://10.0.0.1/x/%s broke", instance), "something at <url> broke"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := logError(tt.err)
			if got != tt.want {
				t.Errorf("logError = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, instance) || strings.Contains(got, "*bareid") || strings.Contains(got, "Go struct") {
				t.Errorf("internals in %q", got)
			}
		})
	}
}
