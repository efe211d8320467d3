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
	// Call runs one request. op is the Jupyter request type without its
	// "_request" suffix ("execute", "complete", "inspect", "is_complete",
	// "history", "comm_info", "comm_open", "comm_msg", "comm_close",
	// "kernel_info"); content is the request's content. It returns the content
	// of the reply. While it runs, everything the interpreter publishes (stream
	// text, display data, results, errors, comm messages) goes to ev, in order.
	//
	// A returned error that wraps ErrDead means the interpreter cannot serve
	// another request and the kernel must replace it.
	Call(ctx context.Context, op string, content json.RawMessage, ev Events) (json.RawMessage, error)

	// Interrupt asks the running request to stop as a SIGINT would
	// (KeyboardInterrupt in Python). It does not wait.
	Interrupt()

	// Info describes the language for kernel_info_reply.
	Info() LanguageInfo

	// Close releases the interpreter. Safe to call more than once.
	Close() error
}

// Factory makes a fresh interpreter: at start, and to replace one that died or
// on a restart.
type Factory func(ctx context.Context) (Interpreter, error)

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
