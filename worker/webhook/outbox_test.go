package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/internal/sqlitetest"
	"github.com/actas-dev/actas/worker/webhook"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

type receiver struct {
	mu     sync.Mutex
	refuse int
	got    []map[string]any
	ids    []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ts, _ := strconv.ParseInt(r.Header.Get("webhook-timestamp"), 10, 64)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(r.Header.Get("webhook-id") + "." + strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	if r.Header.Get("webhook-signature") != "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if rc.refuse > 0 {
		rc.refuse--
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	rc.got = append(rc.got, m)
	rc.ids = append(rc.ids, r.Header.Get("webhook-id"))
	w.WriteHeader(http.StatusNoContent)
}

// appendEvents appends n requested events a second old, so that their messages are due
// by a test clock read just before (the outbox stores times to the millisecond).
func appendEvents(t *testing.T, st *audit.Store, n int) {
	for i := 0; i < n; i++ {
		rec := audit.Record{ID: "00000000-0000-4000-8000-00000000000" + strconv.Itoa(i), RequestedAt: time.Now().Add(-time.Second), Actor: "bot",
			ActorKind: "api-key", TargetUser: "u", ClientID: "crm", Reason: "r", RequestID: "q"}
		if err := st.Begin(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDeliveryInOrderWithBackoff(t *testing.T) {
	db := sqlitetest.Open(t)
	rc := &receiver{refuse: 2}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	clock := time.Now()
	ob := webhook.New(webhook.Config{URL: u, Secret: secret, Retry: 10 * time.Second}, db, srv.Client(), func() time.Time { return clock })
	appendEvents(t, audit.NewStore(db), 3)

	attempts, err := ob.Deliver(context.Background())
	if err != nil || len(attempts) != 1 || attempts[0].Err == nil || attempts[0].Seq != 1 {
		t.Fatalf("first run: %+v, %v; want one refused attempt at seq 1", attempts, err)
	}
	if d := attempts[0].Retry.Sub(clock); d != 10*time.Second {
		t.Errorf("first retry after %v, want 10s", d)
	}
	if attempts, _ := ob.Deliver(context.Background()); len(attempts) != 0 {
		t.Fatalf("a message not yet due was sent: %+v", attempts)
	}
	clock = clock.Add(10 * time.Second)
	attempts, _ = ob.Deliver(context.Background())
	if len(attempts) != 1 || attempts[0].Attempt != 2 || attempts[0].Retry.Sub(clock) != 20*time.Second {
		t.Fatalf("second run: %+v; want attempt 2 retried after 20s", attempts)
	}
	clock = clock.Add(20 * time.Second)
	attempts, _ = ob.Deliver(context.Background())
	if len(attempts) != 3 {
		t.Fatalf("third run: %+v", attempts)
	}
	for i, m := range rc.got {
		data := m["data"].(map[string]any)
		if m["type"] != "audit.event" || data["seq"] != float64(i+1) || data["event"] != "requested" {
			t.Errorf("message %d: %v", i, m)
		}
	}
	if len(rc.got) != 3 || rc.ids[0] == rc.ids[1] {
		t.Errorf("ids %v", rc.ids)
	}
	var left int
	_ = db.QueryRow(`SELECT COUNT(*) FROM webhook_outbox`).Scan(&left)
	if left != 0 {
		t.Errorf("%d messages left", left)
	}
}

func TestBackoffIsBounded(t *testing.T) {
	db := sqlitetest.Open(t)
	rc := &receiver{refuse: 1000}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	clock := time.Now()
	ob := webhook.New(webhook.Config{URL: u, Secret: secret, Retry: time.Minute}, db, srv.Client(), func() time.Time { return clock })
	appendEvents(t, audit.NewStore(db), 1)
	var last webhook.Attempt
	var wait time.Duration
	for i := 0; i < 12; i++ {
		attempts, _ := ob.Deliver(context.Background())
		last = attempts[0]
		wait, clock = last.Retry.Sub(clock), last.Retry
	}
	if last.Attempt != 12 || wait != webhook.MaxRetry {
		t.Fatalf("attempt %d waits %v, want %v", last.Attempt, wait, webhook.MaxRetry)
	}
}

func TestWithoutWebhookTheOutboxIsEmptied(t *testing.T) {
	db := sqlitetest.Open(t)
	appendEvents(t, audit.NewStore(db), 2)
	ob := webhook.New(webhook.Config{}, db, nil, nil)
	if _, err := ob.Deliver(context.Background()); err != nil {
		t.Fatal(err)
	}
	var left int
	_ = db.QueryRow(`SELECT COUNT(*) FROM webhook_outbox`).Scan(&left)
	if left != 0 {
		t.Errorf("%d messages left", left)
	}
}
