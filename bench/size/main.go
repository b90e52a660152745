// Command size breaks a Go-built WebAssembly module down by Go package: the bytes of
// function bodies in its code section, grouped by the package named in each function's
// symbol (from the module's name section, so build it without -s), plus the data
// section. It prints one JSON object: {"total", "code", "data", "packages": [{"name",
// "bytes"}...]}, largest first.
//
//	size build/bench/app-symbols.wasm
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: size MODULE.wasm")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := breakdown(b)
	if err != nil {
		fmt.Fprintln(os.Stderr, "size:", err)
		os.Exit(1)
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
}

type pkg struct {
	Name  string `json:"name"`
	Bytes int    `json:"bytes"`
}

type result struct {
	Total    int   `json:"total"`
	Code     int   `json:"code"`
	Data     int   `json:"data"`
	Packages []pkg `json:"packages"`
}

type reader struct {
	b   []byte
	off int
}

func (r *reader) uleb() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		return 0, errors.New("malformed LEB128")
	}
	r.off += n
	return v, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || r.off+n > len(r.b) {
		return nil, errors.New("truncated module")
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s, nil
}

func breakdown(b []byte) (result, error) {
	res := result{Total: len(b)}
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return res, errors.New("not a wasm module")
	}
	r := &reader{b: b, off: 8}
	var imports int
	var bodies []int
	names := map[int]string{}
	for r.off < len(b) {
		id := b[r.off]
		r.off++
		size, err := r.uleb()
		if err != nil {
			return res, err
		}
		sec, err := r.bytes(int(size))
		if err != nil {
			return res, err
		}
		s := &reader{b: sec}
		switch id {
		case 2: // imports: function imports come first in the function index space
			n, _ := s.uleb()
			for i := 0; i < int(n); i++ {
				for j := 0; j < 2; j++ { // module, name
					l, _ := s.uleb()
					s.off += int(l)
				}
				kind := s.b[s.off]
				s.off++
				switch kind {
				case 0:
					imports++
					s.uleb()
				case 1:
					s.off++
					limits(s)
				case 2:
					limits(s)
				case 3:
					s.off += 2
				}
			}
		case 10:
			n, _ := s.uleb()
			for i := 0; i < int(n); i++ {
				l, _ := s.uleb()
				bodies = append(bodies, int(l))
				s.off += int(l)
			}
			res.Code = len(sec)
		case 11:
			res.Data = len(sec)
		case 0:
			l, _ := s.uleb()
			name, _ := s.bytes(int(l))
			if string(name) == "name" {
				readNames(s, names)
			}
		}
	}
	if len(names) == 0 {
		return res, errors.New("no name section: build the module without -s")
	}
	by := map[string]int{}
	for i, size := range bodies {
		by[pkgOf(names[imports+i])] += size
	}
	for name, n := range by {
		res.Packages = append(res.Packages, pkg{name, n})
	}
	sort.Slice(res.Packages, func(i, j int) bool { return res.Packages[i].Bytes > res.Packages[j].Bytes })
	return res, nil
}

func limits(s *reader) {
	flag := s.b[s.off]
	s.off++
	s.uleb()
	if flag&1 != 0 {
		s.uleb()
	}
}

func readNames(s *reader, names map[int]string) {
	for s.off < len(s.b) {
		id := s.b[s.off]
		s.off++
		size, err := s.uleb()
		if err != nil {
			return
		}
		sub, err := s.bytes(int(size))
		if err != nil {
			return
		}
		if id != 1 {
			continue
		}
		r := &reader{b: sub}
		n, _ := r.uleb()
		for i := 0; i < int(n); i++ {
			idx, _ := r.uleb()
			l, _ := r.uleb()
			name, _ := r.bytes(int(l))
			names[int(idx)] = string(name)
		}
	}
}

// pkgOf is the package of a function's name as Go's wasm linker writes it: the package
// path with "/" and "-" turned into "_" (a domain keeps its dot), then "." and the
// function, e.g. "net_http.(*Request).Context" or "github.com_tidwall_gjson.Get".
func pkgOf(sym string) string {
	if sym == "" {
		return "(unnamed)"
	}
	dot := strings.IndexByte(sym, '.')
	if dot < 0 {
		return sym
	}
	// A first dot inside a leading domain ("github.com_...") is not the separator.
	if !strings.Contains(sym[:dot], "_") {
		rest := sym[dot+1:]
		if u := strings.IndexByte(rest, '_'); u > 0 && !strings.ContainsAny(rest[:u], ".()*") {
			if next := strings.IndexByte(rest[u:], '.'); next >= 0 {
				return sym[:dot+1+u+next]
			}
		}
	}
	return sym[:dot]
}
