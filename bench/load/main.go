// Command load is the benchmark's load generator: it sends one kind of request to a
// loopback URL from a fixed number of concurrent clients, for a bounded time and count,
// and prints one JSON object with the latencies and the request rate.
//
// It only ever talks to loopback (127.0.0.1, ::1, localhost) and stops at whichever of
// -n and -d comes first. The Authorization header, if any, comes from the environment
// variable LOAD_AUTHORIZATION so that no credential shows up in a process listing; it is
// never printed.
//
//	load -url http://127.0.0.1:8787/healthz -c 8 -d 3s -n 20000
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Upper bounds whatever the flags say, so a typo cannot turn a benchmark into a flood.
const (
	maxRequests    = 200_000
	maxDuration    = 60 * time.Second
	maxConcurrency = 64
	requestTimeout = 10 * time.Second
)

type options struct {
	url         string
	method      string
	body        string
	contentType string
	concurrency int
	requests    int
	duration    time.Duration
	expect      int
	warmup      int
}

// result is what load prints. Latencies are in milliseconds; LatenciesUS holds every
// sample (microseconds) so that runs can be merged before taking percentiles.
type result struct {
	Requests    int            `json:"requests"`
	OK          int            `json:"ok"`
	Errors      int            `json:"errors"`
	Statuses    map[string]int `json:"statuses"`
	FirstError  string         `json:"firstError,omitempty"`
	Concurrency int            `json:"concurrency"`
	Seconds     float64        `json:"seconds"`
	RPS         float64        `json:"rps"`
	P50MS       float64        `json:"p50Ms"`
	P99MS       float64        `json:"p99Ms"`
	MaxMS       float64        `json:"maxMs"`
	LatenciesUS []int64        `json:"latenciesUs"`
}

func main() {
	var o options
	flag.StringVar(&o.url, "url", "", "loopback URL to request")
	flag.StringVar(&o.method, "method", http.MethodGet, "HTTP method")
	flag.StringVar(&o.body, "body", "", "request body")
	flag.StringVar(&o.contentType, "content-type", "application/json", "Content-Type when -body is set")
	flag.IntVar(&o.concurrency, "c", 1, "concurrent clients")
	flag.IntVar(&o.requests, "n", 10_000, "stop after this many requests")
	flag.DurationVar(&o.duration, "d", 3*time.Second, "stop after this long")
	flag.IntVar(&o.expect, "expect", http.StatusOK, "status that counts as success")
	flag.IntVar(&o.warmup, "warmup", 0, "requests per client sent (and not measured) before the run")
	flag.Parse()
	res, err := run(o, os.Getenv("LOAD_AUTHORIZATION"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	_ = json.NewEncoder(os.Stdout).Encode(res)
}

func checkOptions(o options) error {
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("-url must be an http(s) URL")
	}
	switch host := u.Hostname(); {
	case host == "localhost":
	case net.ParseIP(host) != nil && net.ParseIP(host).IsLoopback():
	default:
		return fmt.Errorf("-url must point at loopback, not %q", host)
	}
	if o.concurrency < 1 || o.concurrency > maxConcurrency {
		return fmt.Errorf("-c must be 1..%d", maxConcurrency)
	}
	if o.requests < 1 || o.requests > maxRequests {
		return fmt.Errorf("-n must be 1..%d", maxRequests)
	}
	if o.duration <= 0 || o.duration > maxDuration {
		return fmt.Errorf("-d must be in (0, %s]", maxDuration)
	}
	if o.warmup < 0 || o.warmup*o.concurrency > maxRequests {
		return fmt.Errorf("-warmup out of range")
	}
	return nil
}

func run(o options, authorization string) (*result, error) {
	if err := checkOptions(o); err != nil {
		return nil, err
	}
	client := &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: o.concurrency,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	send := func(ctx context.Context) (int, error) {
		var body io.Reader
		if o.body != "" {
			body = bytes.NewReader([]byte(o.body))
		}
		req, err := http.NewRequestWithContext(ctx, o.method, o.url, body)
		if err != nil {
			return 0, err
		}
		if o.body != "" {
			req.Header.Set("Content-Type", o.contentType)
		}
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer res.Body.Close()
		_, err = io.Copy(io.Discard, res.Body)
		return res.StatusCode, err
	}

	var wg sync.WaitGroup
	for range o.concurrency {
		wg.Go(func() {
			for range o.warmup {
				_, _ = send(context.Background())
			}
		})
	}
	wg.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var (
		mu        sync.Mutex
		issued    int
		latencies = make([]int64, 0, 1024)
		statuses  = map[string]int{}
		errs      int
		firstErr  string
	)
	start := time.Now()
	for range o.concurrency {
		wg.Go(func() {
			for {
				mu.Lock()
				if issued >= o.requests || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				issued++
				mu.Unlock()
				// A request still in flight at the deadline runs to its end (bounded by
				// requestTimeout), so that what the server did and what is counted agree.
				t := time.Now()
				status, err := send(context.Background())
				d := time.Since(t)
				mu.Lock()
				latencies = append(latencies, d.Microseconds())
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
				} else {
					statuses[strconv.Itoa(status)]++
					if status != o.expect {
						errs++
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()

	r := &result{
		Requests:    len(latencies),
		Errors:      errs,
		OK:          len(latencies) - errs,
		Statuses:    statuses,
		FirstError:  firstErr,
		Concurrency: o.concurrency,
		Seconds:     elapsed,
		LatenciesUS: latencies,
	}
	if elapsed > 0 {
		r.RPS = float64(len(latencies)) / elapsed
	}
	sorted := append([]int64(nil), latencies...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	r.P50MS = percentileMS(sorted, 0.50)
	r.P99MS = percentileMS(sorted, 0.99)
	if n := len(sorted); n > 0 {
		r.MaxMS = float64(sorted[n-1]) / 1000
	}
	return r, nil
}

// percentileMS is the nearest-rank percentile of sorted microsecond samples, in ms.
func percentileMS(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / 1000
}
