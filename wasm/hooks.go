//go:build js && wasm

package main

// Test hooks, for the end-to-end tests of instance reuse (e2e/reuse.test.mjs) only.
// They answer only when the Worker's env sets ACTAS_TEST_HOOKS=true, which no
// deployment does (.dev.vars.example does not list it); otherwise every /_test/ path
// goes to the server like any other path (and is a 404 there).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"
)

const testHooksVar = "ACTAS_TEST_HOOKS"

// instanceID names this Go instance, so tests can tell reuse from a fresh start.
var instanceID = func() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// served counts the requests this instance has answered.
var served atomic.Int64

func countServed(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		next.ServeHTTP(w, r)
	})
}

// taskRecord is what a waitUntil task of /_test/wait-until reports when it is done.
type taskRecord struct {
	Tag     string `json:"tag"`
	Request int    `json:"request"` // the RequestIO id of the request whose ctx ran it
	Status  int    `json:"status"`  // of its fetch to BAREID_API_URL, after the answer
	Error   string `json:"error,omitempty"`
}

type testHooks struct {
	next   http.Handler
	apiURL string
	mu     sync.Mutex
	tasks  []taskRecord
}

// withTestHooks wraps h with the /_test/ routes when getenv enables them.
func withTestHooks(h http.Handler, getenv func(string) string) http.Handler {
	if getenv(testHooksVar) != "true" {
		return h
	}
	t := &testHooks{next: h, apiURL: getenv("BAREID_API_URL"), tasks: []taskRecord{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_test/stats", t.stats)
	mux.HandleFunc("GET /_test/panic", func(http.ResponseWriter, *http.Request) {
		panic("test hook: a handler panics")
	})
	mux.HandleFunc("GET /_test/exit", func(w http.ResponseWriter, _ *http.Request) {
		// A panic on a goroutine nobody recovers ends the Go program.
		go panic("test hook: the Go program dies")
		time.Sleep(time.Second) // not reached: the panic above ends the program first
	})
	mux.HandleFunc("GET /_test/wait-until", t.waitUntil)
	mux.HandleFunc("GET /_test/wait-until-log", func(w http.ResponseWriter, _ *http.Request) {
		t.mu.Lock()
		defer t.mu.Unlock()
		writeJSON(w, t.tasks)
	})
	mux.Handle("/", h)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func requestNumber(ctx context.Context) int {
	rio, err := requestIOFrom(ctx)
	if err != nil {
		return 0
	}
	return rio.v.Get("id").Int()
}

// stats reports the instance's memory after a full GC, and what the bridge holds.
func (t *testHooks) stats(w http.ResponseWriter, r *http.Request) {
	runtime.GC()
	runtime.GC()
	for range 10 {
		runtime.Gosched() // lets finalizers release the JavaScript values they own
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	refs := 0
	if f := jsBinding.Get("liveRefs"); f.Type() == js.TypeFunction {
		refs = f.Invoke().Int()
	}
	writeJSON(w, map[string]any{
		"instance":     instanceID,
		"served":       served.Load(),
		"request":      requestNumber(r.Context()),
		"heapAlloc":    m.HeapAlloc,
		"heapInuse":    m.HeapInuse,
		"heapObjects":  m.HeapObjects,
		"sys":          m.Sys,
		"numGC":        m.NumGC,
		"goroutines":   runtime.NumGoroutine(),
		"idleServers":  idleCount.Load(),
		"funcsLive":    bridgeFuncs.Load(),
		"jsRefsLive":   refs,
		"opsInFlight":  opsInFlight(),
		"d1RoundTrips": jsBinding.Call("d1RoundTrips").Int(),
	})
}

// waitUntil schedules, through this request's ctx, a task that waits ms after the
// answer, fetches BAREID_API_URL and records which request it ran for.
func (t *testHooks) waitUntil(w http.ResponseWriter, r *http.Request) {
	tag := r.URL.Query().Get("tag")
	ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
	ms = min(max(ms, 0), 5000)
	ok := waitUntil(r.Context(), func(ctx context.Context) {
		rec := taskRecord{Tag: tag, Request: requestNumber(ctx)}
		if _, err := do(ctx, "sleep", ms); err != nil {
			rec.Error = err.Error()
		} else if req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.apiURL+"/", http.NoBody); err != nil {
			rec.Error = err.Error()
		} else if res, err := (fetchDoer{}).Do(req); err != nil {
			rec.Error = err.Error()
		} else {
			rec.Status = res.StatusCode
		}
		t.mu.Lock()
		t.tasks = append(t.tasks, rec)
		t.mu.Unlock()
	})
	writeJSON(w, map[string]any{"scheduled": ok, "request": requestNumber(r.Context())})
}
