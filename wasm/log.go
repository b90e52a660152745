//go:build js && wasm

package main

import (
	"syscall/js"

	"github.com/actas-dev/actas/worker/server"
)

// logFormatVar chooses how lines reach the console: "json" writes each line as one
// JSON text (wrangler dev's terminal, `wrangler tail`, the end-to-end tests read it);
// anything else, the default, passes the parsed object, which Workers Logs indexes
// field by field (a JSON text would be indexed as one message).
const logFormatVar = "ACTAS_LOG_FORMAT"

// consoleLog writes each log line through the console method of its level, so Workers
// Logs and `wrangler tail` show warnings and errors as such (Go's stdout and stderr
// both end up in console.log).
type consoleLog struct {
	console js.Value
	parse   js.Value // JSON.parse, or undefined to log the text
}

func newConsoleLog(getenv func(string) string) *consoleLog {
	c := &consoleLog{console: js.Global().Get("console")}
	if getenv(logFormatVar) != "json" {
		c.parse = js.Global().Get("JSON").Get("parse")
	}
	return c
}

var consoleMethod = map[server.Level]string{
	server.LevelInfo:  "info",
	server.LevelWarn:  "warn",
	server.LevelError: "error",
}

// WriteLevel implements server.LevelWriter.
func (c *consoleLog) WriteLevel(level server.Level, line []byte) {
	method, ok := consoleMethod[level]
	if !ok {
		method = "log"
	}
	var v any = string(line)
	if c.parse.Type() == js.TypeFunction {
		v = c.parse.Invoke(v)
	}
	c.console.Call(method, v)
}

// Write takes lines without a level (none are expected) as info.
func (c *consoleLog) Write(p []byte) (int, error) {
	for len(p) > 0 && p[len(p)-1] == '\n' {
		p = p[:len(p)-1]
	}
	c.WriteLevel(server.LevelInfo, p)
	return len(p), nil
}

// logs is the instance's console writer, set by main before the first request.
var logs *consoleLog
