package schema

import (
	"errors"
	"regexp"
	"strings"
)

// Split cuts a migration file into the statements D1 runs in one batch, the way
// `wrangler d1 migrations apply --local` does (wrangler's src/d1/splitter.ts and
// trimmer.ts): comments dropped, quoted text and the BEGIN ... END body of a trigger
// (and CASE ... END inside it) kept whole, empty statements left out. Keeping to
// wrangler's rules means a file wrangler applies, the Worker applies identically.
func Split(sql string) ([]string, error) {
	sql, err := trimTransaction(sql)
	if err != nil {
		return nil, err
	}
	s := splitter{src: []rune(sql)}
	return s.run(), nil
}

// trimTransaction drops one BEGIN TRANSACTION; ... COMMIT; pair, as wrangler does: a
// batch is a transaction already, and a nested one would fail.
func trimTransaction(sql string) (string, error) {
	if !strings.Contains(sql, "BEGIN TRANSACTION") {
		return sql, nil
	}
	sql = strings.Replace(sql, "BEGIN TRANSACTION;", "", 1)
	sql = strings.Replace(sql, "COMMIT;", "", 1)
	if strings.Contains(sql, "BEGIN TRANSACTION") {
		return "", errors.New("schema: a migration may hold at most one BEGIN TRANSACTION ... COMMIT (D1 runs each migration in a transaction)")
	}
	return sql, nil
}

var (
	compoundStart = regexp.MustCompile(`(?i)\s(BEGIN|CASE)\s$`)
	compoundEnd   = regexp.MustCompile(`\sEND[;\s]$`)
)

type splitter struct {
	src   []rune
	i     int
	cur   strings.Builder
	stmts []string
	open  int // compound statements (BEGIN/CASE ... END) not yet closed
}

func (s *splitter) next() (rune, bool) {
	if s.i >= len(s.src) {
		return 0, false
	}
	r := s.src[s.i]
	s.i++
	return r, true
}

// untilMarker consumes runes up to and including marker (or to the end).
func (s *splitter) untilMarker(marker string) string {
	var b strings.Builder
	for {
		r, ok := s.next()
		if !ok {
			return b.String()
		}
		b.WriteRune(r)
		if strings.HasSuffix(b.String(), marker) {
			return b.String()
		}
	}
}

// dollarTag consumes a $tag$ quote's tag after the first $, up to and including the
// first rune that cannot be part of it.
func (s *splitter) dollarTag() string {
	var b strings.Builder
	for {
		r, ok := s.next()
		if !ok {
			return b.String()
		}
		b.WriteRune(r)
		if r == '$' || !(r == '_' || (r >= '0' && r <= '9') || strings.ToLower(string(r)) != strings.ToUpper(string(r))) {
			return b.String()
		}
	}
}

func (s *splitter) run() []string {
	for {
		c, ok := s.next()
		if !ok {
			break
		}
		if s.open > 0 && compoundEnd.MatchString(tail(s.cur.String())+string(c)) {
			s.open--
		}
		switch c {
		case '\'', '"', '`':
			s.cur.WriteRune(c)
			s.cur.WriteString(s.untilMarker(string(c)))
		case '$':
			tag := "$" + s.dollarTag()
			s.cur.WriteString(tag)
			if strings.HasSuffix(tag, "$") && len(tag) > 1 {
				s.cur.WriteString(s.untilMarker(tag))
			}
		case '-':
			if s.i < len(s.src) && s.src[s.i] == '-' {
				s.i++
				s.untilMarker("\n")
				s.cur.WriteRune('\n')
			} else {
				s.cur.WriteRune(c)
				continue // as wrangler: the next rune is read afresh, no compound check
			}
		case '/':
			if s.i < len(s.src) && s.src[s.i] == '*' {
				s.i++
				s.untilMarker("*/")
			} else {
				s.cur.WriteRune(c)
				continue
			}
		case ';':
			if s.open == 0 {
				s.flush()
			} else {
				s.cur.WriteRune(c)
			}
		default:
			s.cur.WriteRune(c)
		}
		if compoundStart.MatchString(tail(s.cur.String())) {
			s.open++
		}
	}
	s.flush()
	return s.stmts
}

// tailLen covers the longest keyword match, " BEGIN ", with room to spare. The
// patterns are anchored at the end, so matching only the tail keeps splitting linear.
const tailLen = 16

func tail(s string) string {
	if len(s) > tailLen {
		return s[len(s)-tailLen:]
	}
	return s
}

func (s *splitter) flush() {
	if st := strings.TrimSpace(s.cur.String()); st != "" {
		s.stmts = append(s.stmts, st)
	}
	s.cur.Reset()
}
