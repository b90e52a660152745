package main

import "sync"

// guarded is a value behind a mutex, for the switches tests flip at run time
// (faults, the sign-in mode). Safe for concurrent use; the zero value holds
// T's zero value.
type guarded[T any] struct {
	mu sync.Mutex
	v  T
}

func (g *guarded[T]) get() T {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.v
}

func (g *guarded[T]) set(v T) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.v = v
}

// update changes the value in place under the lock, so that a read and a
// write happen as one.
func (g *guarded[T]) update(f func(*T)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(&g.v)
}
