package main

import "sync/atomic"

// Stats are counters since start or the last reset.
type Stats struct {
	TokenRequests         int64 `json:"tokenRequests"`
	MintRequests          int64 `json:"mintRequests"`
	ImpersonationsStarted int64 `json:"impersonationsStarted"`
	JWKSRequests          int64 `json:"jwksRequests"`
	AuthorizeRequests     int64 `json:"authorizeRequests"`
}

type counters struct {
	tokenRequests         atomic.Int64
	mintRequests          atomic.Int64
	impersonationsStarted atomic.Int64
	jwksRequests          atomic.Int64
	authorizeRequests     atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		TokenRequests:         c.tokenRequests.Load(),
		MintRequests:          c.mintRequests.Load(),
		ImpersonationsStarted: c.impersonationsStarted.Load(),
		JWKSRequests:          c.jwksRequests.Load(),
		AuthorizeRequests:     c.authorizeRequests.Load(),
	}
}

func (c *counters) reset() {
	c.tokenRequests.Store(0)
	c.mintRequests.Store(0)
	c.impersonationsStarted.Store(0)
	c.jwksRequests.Store(0)
	c.authorizeRequests.Store(0)
}
