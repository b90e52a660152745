package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A panic in a handler answers a 500 problem that says nothing of it, and logs the
// panic's value and the stack that raised it.
func TestPanicIsLoggedWithValueAndStack(t *testing.T) {
	var buf bytes.Buffer
	lg := &logger{w: &buf, now: time.Now}
	h := lg.middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panicInHandler()
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/me", nil))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "index out of range") {
		t.Errorf("answer %d %s", w.Code, w.Body.String())
	}
	var line struct {
		Level, Problem, Error, Detail string
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log %q: %v", buf.String(), err)
	}
	if line.Level != "error" || line.Problem != "internal" ||
		!strings.Contains(line.Error, "index out of range [7] with length 3") ||
		!strings.Contains(line.Detail, "server.panicInHandler") {
		t.Errorf("log line lacks the panic's value or stack: %+v", line)
	}
}

//go:noinline
func panicInHandler() {
	s := []int{1, 2, 3}
	i := 7
	_ = s[i]
}
