//go:build js && wasm

package main

import "syscall/js"

// workerEnv is the Worker's env object (vars, secrets and bindings), which worker.mjs
// hands this instance as context.env. It is the same for every request of an isolate.
// Everything in wasm/ reads the environment through getenv and binding, nowhere else.
var workerEnv = js.Global().Get("context").Get("env")

// getenv returns a var or secret as text: "" when it is unset or is a binding. A var
// written in wrangler.toml as a number or boolean (REASON_MIN_LENGTH = 8) arrives as a
// JavaScript number or boolean and is converted as JavaScript's String() would.
func getenv(name string) string {
	v := workerEnv.Get(name)
	switch v.Type() {
	case js.TypeString:
		return v.String()
	case js.TypeNumber, js.TypeBoolean:
		return js.Global().Call("String", v).String()
	default:
		return ""
	}
}

// binding returns the binding named name (D1, queue, ...), undefined when absent.
func binding(name string) js.Value { return workerEnv.Get(name) }
