// Package interp is the contract between the kernel and an interpreter: the
// requests the kernel forwards, the events an interpreter sends back while it
// works, and the errors that tell the kernel an interpreter must be replaced.
//
// It holds types only, no behaviour, so that kernel/ (which speaks the Jupyter
// protocol) and wasmpy/ (which hosts CPython) never import each other. Data
// flows one way: the kernel calls an Interpreter; the interpreter answers
// through the Events it was given for that call.
package interp

import (
	"context"
	"encoding/json"
	"errors"
)

// Interpreter runs the requests of one kernel. The kernel calls Call from one
// goroutine at a time; Interrupt may be called from any goroutine at any time.
type Interpreter interface {
	// Call runs one request and returns the content of the reply. While it
	// runs, everything the interpreter publishes for this request (stream
	// text, display data, results, errors, comm messages) goes to ev, in
	// order; what work started by earlier requests publishes meanwhile goes
	// to the background Events given to the Factory.
	//
	// A returned error that wraps ErrDead means the interpreter cannot serve
	// another request and the kernel must replace it.
	Call(ctx context.Context, req Request, ev Events) (json.RawMessage, error)

	// Interrupt asks the running request to stop as a SIGINT would
	// (KeyboardInterrupt in Python). It does not wait.
	Interrupt()

	// Info describes the language for kernel_info_reply.
	Info() LanguageInfo

	// Close releases the interpreter. Safe to call more than once.
	Close() error
}

// Request is one Jupyter request forwarded to the interpreter.
type Request struct {
	// Op is the request type without its "_request" suffix ("execute",
	// "complete", "inspect", "is_complete", "history", "comm_info",
	// "comm_open", "comm_msg", "comm_close", "kernel_info").
	Op string
	// Header is the request's header (the parent of what it publishes).
	Header json.RawMessage
	// Content and Metadata are the request's; Buffers its binary buffers.
	Content  json.RawMessage
	Metadata json.RawMessage
	Buffers  [][]byte
}

// Factory makes a fresh interpreter: at start, and to replace one that died or
// on a restart. bg receives what the interpreter publishes outside the
// request in progress (tasks that outlive their cell, timers): each Message
// then names its Parent. bg.Input always fails.
type Factory func(ctx context.Context, bg Events) (Interpreter, error)

// Events receives what an interpreter publishes while a Call runs. Its methods
// are called on the goroutine that runs Call, in the order things happened.
type Events interface {
	// Stream is text written to "stdout" or "stderr". Chunks may be partial
	// lines; the receiver coalesces them.
	Stream(name, text string)
	// Publish sends an IOPub message of the given type (display_data,
	// update_display_data, execute_input, execute_result, error,
	// clear_output, comm_open, comm_msg, comm_close, ...).
	Publish(msg Message)
	// Input asks the front end for a line of input (input(), getpass). It
	// returns ErrStdinNotAllowed when the request did not allow stdin, or the
	// context's error when the wait was interrupted.
	Input(ctx context.Context, prompt string, password bool) (string, error)
}

// Message is one message an interpreter publishes.
type Message struct {
	// Parent is the header of the request this message belongs to; empty
	// means the request in progress.
	Parent   json.RawMessage `json:"parent,omitempty"`
	Type     string          `json:"msg_type"`
	Content  json.RawMessage `json:"content"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
	Buffers  [][]byte        `json:"buffers,omitempty"`
}

// LanguageInfo is the language_info of kernel_info_reply plus the banner.
type LanguageInfo struct {
	Name              string `json:"name"`
	Version           string `json:"version"`
	Mimetype          string `json:"mimetype"`
	FileExtension     string `json:"file_extension"`
	PygmentsLexer     string `json:"pygments_lexer"`
	CodemirrorMode    any    `json:"codemirror_mode"`
	NbconvertExporter string `json:"nbconvert_exporter"`
	Banner            string `json:"-"`
}

var (
	// ErrDead wraps the reason an interpreter cannot go on (a trap, a hard
	// stop after an interrupt that did not land, a failed start).
	ErrDead = errors.New("interpreter died")
	// ErrStdinNotAllowed is returned by Events.Input when the request said
	// allow_stdin false.
	ErrStdinNotAllowed = errors.New("stdin is not allowed for this request")
)
