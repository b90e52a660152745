package server

import (
	"bufio"
	"io"
	"strings"
)

// csvWriter writes RFC 4180 CSV that keeps every byte of a cell: records end in CRLF,
// and a cell holding a comma, a double quote, a CR or LF (or starting with a space) is
// quoted with its quotes doubled and its line breaks untouched. encoding/csv's Writer
// does not do this: with UseCRLF it turns a LF inside a cell into CRLF and drops a
// lone CR, so an export would not say what the audit trail holds.
type csvWriter struct {
	w *bufio.Writer
}

func newCSVWriter(w io.Writer) *csvWriter { return &csvWriter{w: bufio.NewWriter(w)} }

// Write writes one record; errors surface in Flush.
func (c *csvWriter) Write(cells []string) {
	for i, cell := range cells {
		if i > 0 {
			c.w.WriteByte(',')
		}
		if !strings.ContainsAny(cell, ",\"\r\n") && !strings.HasPrefix(cell, " ") {
			c.w.WriteString(cell)
			continue
		}
		c.w.WriteByte('"')
		c.w.WriteString(strings.ReplaceAll(cell, `"`, `""`))
		c.w.WriteByte('"')
	}
	c.w.WriteString("\r\n")
}

// Flush writes what is buffered.
func (c *csvWriter) Flush() error { return c.w.Flush() }

// defuseFormula prefixes a cell that a spreadsheet would run as a formula (starting
// with = + - @, a tab or a CR: OWASP's CSV injection advice) with an apostrophe.
// A cell that already starts with an apostrophe gets one too, so the rule reverses
// exactly: drop one leading apostrophe from every cell that has one.
func defuseFormula(cell string) string {
	if cell != "" && strings.ContainsRune("=+-@\t\r'", rune(cell[0])) {
		return "'" + cell
	}
	return cell
}
