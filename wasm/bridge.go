//go:build js && wasm

package main

// The request bridge between worker.mjs and an http.Handler, for one Go instance that
// serves every request of its isolate.
//
// It replaces syumai/workers' handler_js.go (workers.Serve), whose design blocks reuse:
// Serve returns after the first response, so the Go program exits; each request and
// each awaited promise creates js.Funcs, some never released (jsutil.AwaitPromise
// keeps whichever of then/catch did not run); and request context (ctx, waitUntil)
// is read from one runtime object fixed when the instance started. Here Go registers
// exactly two js.Funcs for the instance's lifetime, requests and answers cross as
// plain values, and each request carries its own RequestIO (see worker.mjs).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall/js"

	"github.com/actas-dev/actas/worker/problem"
	"github.com/actas-dev/actas/worker/server"
)

// ready tells worker.mjs that the bridge's callbacks are registered. The import
// module and name are the ones the generated runtime already provides.
//
//go:wasmimport workers ready
func ready()

// bridgeFuncs counts the js.Funcs the bridge has created, for the test hooks. None is
// ever released, so it must stay at 3 (serve, complete, scheduled) however many requests pass.
var bridgeFuncs atomic.Int64

func funcOf(fn func(js.Value, []js.Value) any) js.Func {
	bridgeFuncs.Add(1)
	return js.FuncOf(fn)
}

// serve registers handler with worker.mjs and returns; the caller keeps main alive.
// The two callbacks are never released: every later request needs them.
func serve(binding js.Value, handler http.Handler) {
	binding.Set("serve", funcOf(func(_ js.Value, args []js.Value) any {
		// Runs on the JavaScript caller's stack: return at once and do the work on a
		// goroutine, which may wait for I/O: an idle one if there is one.
		select {
		case idleServers <- args:
		default:
			go serveLoop(handler, args)
		}
		return nil
	}))
	binding.Set("complete", funcOf(func(_ js.Value, args []js.Value) any {
		completeOp(args)
		return nil
	}))
	ready()
}

// idleServers hands a request to a goroutine that has finished its last one. A fresh
// goroutine starts on a small stack and grows it, by copying, to the depth a request
// needs: a reused one has that stack already.
var idleServers = make(chan []js.Value)

// maxIdleServers bounds the goroutines kept waiting for a request; after a burst,
// the rest exit.
const maxIdleServers = 16

// idleCount is how many serveLoop goroutines wait on idleServers (test hooks report it).
var idleCount atomic.Int32

// serveLoop serves args, then waits for another request while fewer than
// maxIdleServers others wait.
func serveLoop(h http.Handler, args []js.Value) {
	for {
		handle(h, args)
		if idleCount.Add(1) > maxIdleServers {
			idleCount.Add(-1)
			return
		}
		args = <-idleServers
		idleCount.Add(-1)
	}
}

// Argument positions of binding.serve(method, url, headers, body, io, done).
const (
	argMethod = iota
	argURL
	argHeaders
	argBody
	argIO
	argDone
	serveArgs
)

// handle serves one request and answers it through done(status, headers, body).
// A panic anywhere in the handler becomes a 500 for this request only.
func handle(h http.Handler, args []js.Value) {
	if len(args) != serveArgs {
		panic(fmt.Sprintf("wasm: serve takes %d arguments, got %d", serveArgs, len(args)))
	}
	rio := &requestIO{v: args[argIO]}
	w := &responseWriter{header: http.Header{}}
	defer func() {
		if p := recover(); p != nil {
			// The server's own middleware recovers handler panics; this catches what
			// escapes it (the bridge, test hooks) so the instance lives on.
			server.LogEvent(logs, server.LevelError, "panic", fmt.Errorf("%v", p))
			w = &responseWriter{header: http.Header{}}
			problem.Write(w, problem.Wrap(problem.Internal, "The request could not be completed.",
				fmt.Errorf("panic: %v", p)), "")
		}
		args[argDone].Invoke(w.status(), joinHeader(w.header), w.jsBody())
	}()
	r, err := newRequest(args, rio)
	if err != nil {
		problem.Write(w, problem.Wrap(problem.InvalidBody, "The request could not be read.", err), "")
		return
	}
	h.ServeHTTP(w, r)
}

func newRequest(args []js.Value, rio *requestIO) (*http.Request, error) {
	u, err := url.Parse(args[argURL].String())
	if err != nil {
		return nil, fmt.Errorf("wasm: request URL: %w", err)
	}
	ctx := context.WithValue(context.Background(), requestIOKey{}, rio)
	r := &http.Request{
		Method:     args[argMethod].String(),
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     splitHeader(args[argHeaders].String()),
		Body:       http.NoBody,
		Host:       u.Host,
		RequestURI: u.RequestURI(),
	}
	r.RemoteAddr = r.Header.Get("CF-Connecting-IP")
	if b := args[argBody]; !b.IsNull() && !b.IsUndefined() {
		buf := make([]byte, b.Length())
		js.CopyBytesToGo(buf, b)
		r.Body = io.NopCloser(bytes.NewReader(buf))
		r.ContentLength = int64(len(buf))
	}
	return r.WithContext(ctx), nil
}

// responseWriter buffers the answer: the API's answers are small JSON documents (and
// paged exports), and one copy into JavaScript is cheaper than a stream of chunks.
type responseWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *responseWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

func (w *responseWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

func (w *responseWriter) jsBody() js.Value {
	if w.body.Len() == 0 {
		return js.Null()
	}
	return bytesToJS(w.body.Bytes())
}

var uint8Array = js.Global().Get("Uint8Array")

func bytesToJS(b []byte) js.Value {
	a := uint8Array.New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// Headers cross the bridge as "name\nvalue\nname\nvalue..." (see worker.mjs).
func joinHeader(h http.Header) string {
	var sb strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				continue // not a valid header value; net/http would drop it too
			}
			if sb.Len() > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(k)
			sb.WriteByte('\n')
			sb.WriteString(v)
		}
	}
	return sb.String()
}

func splitHeader(s string) http.Header {
	h := http.Header{}
	if s == "" {
		return h
	}
	parts := strings.Split(s, "\n")
	for i := 0; i+1 < len(parts); i += 2 {
		h.Add(parts[i], parts[i+1])
	}
	return h
}

// ---- operations run by a request's RequestIO ---------------------------------------

type requestIOKey struct{}

// requestIO is one request's RequestIO object in worker.mjs.
type requestIO struct{ v js.Value }

func requestIOFrom(ctx context.Context) (*requestIO, error) {
	rio, ok := ctx.Value(requestIOKey{}).(*requestIO)
	if !ok {
		return nil, errors.New("wasm: no request in context (I/O outside a request)")
	}
	return rio, nil
}

// errRequestOver is returned for I/O asked for after the request (and its waitUntil
// work) finished: workerd would cancel it anyway.
var errRequestOver = errors.New("wasm: the request that owned this I/O has finished")

type opResult struct {
	err  error
	vals []js.Value
}

// ops holds the operations in flight, by id, until complete reports them.
var ops = struct {
	sync.Mutex
	next    uint32
	waiting map[uint32]chan opResult
}{waiting: map[uint32]chan opResult{}}

// do asks ctx's request to run method(opID, args...) and waits for its completion.
func do(ctx context.Context, method string, args ...any) ([]js.Value, error) {
	rio, err := requestIOFrom(ctx)
	if err != nil {
		return nil, err
	}
	ch := make(chan opResult, 1)
	ops.Lock()
	ops.next++
	id := ops.next
	ops.waiting[id] = ch
	ops.Unlock()
	forget := func() {
		ops.Lock()
		delete(ops.waiting, id)
		ops.Unlock()
	}
	if !rio.v.Call(method, append([]any{id}, args...)...).Bool() {
		forget()
		return nil, errRequestOver
	}
	select {
	case r := <-ch:
		return r.vals, r.err
	case <-ctx.Done():
		forget() // a late completion finds nothing and is dropped
		return nil, ctx.Err()
	}
}

// completeOp is binding.complete(opID, error, ...results).
func completeOp(args []js.Value) {
	id := uint32(args[0].Int())
	ops.Lock()
	ch, ok := ops.waiting[id]
	delete(ops.waiting, id)
	ops.Unlock()
	if !ok {
		return
	}
	r := opResult{vals: args[2:]}
	if e := args[1]; !e.IsNull() {
		r.err = errors.New(e.String())
	}
	ch <- r // buffered: never blocks
}

// opsInFlight is the number of operations awaiting completion, for the test hooks.
func opsInFlight() int {
	ops.Lock()
	defer ops.Unlock()
	return len(ops.waiting)
}
