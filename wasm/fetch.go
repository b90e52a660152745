//go:build js && wasm

package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"syscall/js"
	"time"
)

// fetchDoer sends outbound requests through the Workers Fetch API, run by the calling
// request's RequestIO (worker.mjs) so that the fetch belongs to that request.
//
// It avoids net/http.Client (and syumai/workers' fetch.Client.HTTPClient): either
// links net/http's default transport (HTTP/2, TLS) into the module, about 1.2 MB gzip,
// and Go's own transport cannot open sockets inside workerd anyway. It also avoids
// syumai/workers' fetch.Client.Do, which starts the fetch on whatever request's stack
// the goroutine runs on and leaks a js.Func per call (see bridge.go).
//
// Bodies are read whole on both sides: Bare.ID's requests and answers are small forms
// and JSON documents, and worker.mjs caps an answer at 4 MiB.
type fetchDoer struct{}

// maxOutboundBody bounds a request body sent upstream.
const maxOutboundBody = 1 << 20

// Do implements server.Doer. Redirects are returned, not followed: Bare.ID's token
// and impersonation-token endpoints never redirect, and a redirect there is an
// upstream fault to report. The request's context deadline becomes the fetch's
// AbortSignal timeout, so a slow upstream is cut off by JavaScript's own timer, which
// belongs to the right request.
func (fetchDoer) Do(r *http.Request) (*http.Response, error) {
	ctx := r.Context()
	fail := func(err error) (*http.Response, error) {
		// Scheme, host and path only: the query holds user ids, which belong in the
		// audit trail rather than in log lines.
		return nil, fmt.Errorf("wasm: fetch %s %s://%s%s: %w", r.Method, r.URL.Scheme, r.URL.Host, r.URL.Path, err)
	}
	body := any(nil)
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(r.Body, maxOutboundBody+1))
		_ = r.Body.Close()
		if err != nil {
			return fail(err)
		}
		if len(b) > maxOutboundBody {
			return fail(fmt.Errorf("request body exceeds %d bytes", maxOutboundBody))
		}
		body = bytesToJS(b)
	}
	var timeoutMS int64
	if dl, ok := ctx.Deadline(); ok {
		timeoutMS = max(1, time.Until(dl).Milliseconds())
	}
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	if r.Host != "" && r.Host != r.URL.Host {
		h.Set("Host", r.Host)
	}
	vals, err := do(ctx, "fetch", r.Method, r.URL.String(), joinHeader(h), body, timeoutMS)
	if err != nil {
		// Past the deadline, JavaScript's AbortSignal fired: say so in Go's terms even
		// if Go's own timer (a setTimeout that may belong to a finished request) has
		// not yet cancelled ctx.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			err = fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
		}
		return fail(err)
	}
	status := vals[0].Int()
	res := &http.Response{
		Status:     strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode: status,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     splitHeader(vals[1].String()),
		Body:       http.NoBody,
		Request:    r,
	}
	if b := vals[2]; !b.IsNull() {
		buf := make([]byte, b.Length())
		n := js.CopyBytesToGo(buf, b)
		res.Body = io.NopCloser(bytes.NewReader(buf[:n]))
		res.ContentLength = int64(n)
	}
	return res, nil
}
