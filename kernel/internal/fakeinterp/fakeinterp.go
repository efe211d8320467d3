// Package fakeinterp is a scripted interp.Interpreter for the kernel's tests.
// It never runs Python: the "code" of an execute request is a list of
// commands separated by ";" that say what to publish, when to block and how
// to end. It must not be used outside tests.
//
// Commands:
//
//	print:TEXT      stream TEXT to stdout        eprint:TEXT  to stderr
//	chunks:N        stream "chunk I\n" for I in 0..N-1 to stdout, one write each
//	bytes:N:SIZE    stream N writes of SIZE bytes ("x"s) to stdout
//	result:TEXT     publish execute_result with text/plain TEXT
//	display:TEXT    publish display_data with text/plain TEXT
//	wait:NAME       block until Release(NAME) (then go on) or an interrupt
//	                (then end with KeyboardInterrupt)
//	hang            block, ignoring interrupts, until Close (then ErrDead)
//	input:PROMPT    ev.Input(PROMPT, false) and stream "got:VALUE\n"
//	password:PROMPT ev.Input(PROMPT, true) and stream "got:VALUE\n"
//	error:ENAME     end with an error reply (ENAME, evalue "boom")
//	die             end with an error wrapping interp.ErrDead
//	fail            end with a plain Go error
//	panic           panic
//	badreply        return reply content that is not a JSON object
//
// An interrupt during input ends the call with KeyboardInterrupt; a refused
// stdin (interp.ErrStdinNotAllowed) ends it with StdinNotImplementedError.
package fakeinterp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"wasmpy/interp"
)

// Factory makes Interps and remembers them.
type Factory struct {
	mu        sync.Mutex
	instances []*Interp
	// Gate, if set, is waited on before each start (or until ctx ends).
	Gate chan struct{}
	// FailNext makes that many starts fail.
	FailNext int
}

// New is an interp.Factory.
func (f *Factory) New(ctx context.Context, _ interp.Events) (interp.Interpreter, error) {
	if f.Gate != nil {
		select {
		case <-f.Gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.FailNext > 0 {
		f.FailNext--
		return nil, errors.New("fake start failure")
	}
	in := &Interp{
		ID:        len(f.instances) + 1,
		interrupt: make(chan struct{}, 1),
		closed:    make(chan struct{}),
		releases:  map[string]chan struct{}{},
	}
	f.instances = append(f.instances, in)
	return in, nil
}

// Instances returns the interpreters made so far, oldest first.
func (f *Factory) Instances() []*Interp {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*Interp(nil), f.instances...)
}

// Last returns the newest interpreter, or nil.
func (f *Factory) Last() *Interp {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.instances) == 0 {
		return nil
	}
	return f.instances[len(f.instances)-1]
}

// Interp is one fake interpreter.
type Interp struct {
	ID int

	interrupt  chan struct{}
	closed     chan struct{}
	closeOnce  sync.Once
	Interrupts atomic.Int32

	mu       sync.Mutex
	count    int
	ops      []string
	releases map[string]chan struct{}
	waiting  map[string]bool
}

// Ops returns the ops called so far.
func (in *Interp) Ops() []string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]string(nil), in.ops...)
}

// Closed reports whether Close was called.
func (in *Interp) Closed() bool {
	select {
	case <-in.closed:
		return true
	default:
		return false
	}
}

func (in *Interp) release(name string) chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	ch, ok := in.releases[name]
	if !ok {
		ch = make(chan struct{})
		in.releases[name] = ch
	}
	return ch
}

// Release lets a "wait:NAME" go on.
func (in *Interp) Release(name string) { close(in.release(name)) }

// Waiting reports whether a call is blocked in "wait:NAME".
func (in *Interp) Waiting(name string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.waiting[name]
}

func (in *Interp) setWaiting(name string, v bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.waiting == nil {
		in.waiting = map[string]bool{}
	}
	in.waiting[name] = v
}

// Interrupt implements interp.Interpreter.
func (in *Interp) Interrupt() {
	in.Interrupts.Add(1)
	select {
	case in.interrupt <- struct{}{}:
	default:
	}
}

// Info implements interp.Interpreter.
func (in *Interp) Info() interp.LanguageInfo {
	return interp.LanguageInfo{Name: "python", Version: "3.13.0-fake", Banner: "fake banner"}
}

// Close implements interp.Interpreter.
func (in *Interp) Close() error {
	in.closeOnce.Do(func() { close(in.closed) })
	return nil
}

// Call implements interp.Interpreter.
func (in *Interp) Call(ctx context.Context, req interp.Request, ev interp.Events) (json.RawMessage, error) {
	op, content := req.Op, req.Content
	in.mu.Lock()
	in.ops = append(in.ops, op)
	in.mu.Unlock()
	// A stale interrupt must not hit this call.
	select {
	case <-in.interrupt:
	default:
	}
	switch op {
	case "execute":
		return in.execute(ctx, content, ev)
	case "complete":
		return json.RawMessage(`{"status":"ok","matches":["fake_match"],"cursor_start":0,"cursor_end":1,"metadata":{}}`), nil
	case "comm_info":
		return json.RawMessage(`{"status":"ok","comms":{}}`), nil
	case "comm_msg":
		ev.Publish(interp.Message{Type: "comm_msg", Content: json.RawMessage(`{"comm_id":"c1","data":{"echo":true}}`)})
		return nil, nil
	case "comm_open", "comm_close":
		return nil, nil
	default:
		return json.RawMessage(`{"status":"ok","op":` + strconv.Quote(op) + `}`), nil
	}
}

func errorReply(count int, ename, evalue string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{
		"status": "error", "execution_count": count, "ename": ename, "evalue": evalue,
		"traceback": []string{ename + ": " + evalue}, "user_expressions": map[string]any{}, "payload": []any{},
	})
	return b
}

func (in *Interp) execute(ctx context.Context, content json.RawMessage, ev interp.Events) (json.RawMessage, error) {
	var req struct {
		Code   string `json:"code"`
		Silent bool   `json:"silent"`
	}
	if err := json.Unmarshal(content, &req); err != nil {
		return nil, fmt.Errorf("fake: bad execute content: %w", err)
	}
	in.mu.Lock()
	if !req.Silent {
		in.count++
	}
	count := in.count
	in.mu.Unlock()
	if !req.Silent {
		ev.Publish(interp.Message{Type: "execute_input", Content: mustJSON(map[string]any{"code": req.Code, "execution_count": count})})
	}
	fail := func(ename, evalue string) (json.RawMessage, error) {
		if !req.Silent {
			ev.Publish(interp.Message{Type: "error", Content: mustJSON(map[string]any{"ename": ename, "evalue": evalue, "traceback": []string{ename + ": " + evalue}})})
		}
		return errorReply(count, ename, evalue), nil
	}
	for _, cmd := range strings.Split(req.Code, ";") {
		verb, arg, _ := strings.Cut(cmd, ":")
		switch verb {
		case "":
		case "print":
			ev.Stream("stdout", arg)
		case "eprint":
			ev.Stream("stderr", arg)
		case "chunks":
			n, _ := strconv.Atoi(arg)
			for i := 0; i < n; i++ {
				ev.Stream("stdout", fmt.Sprintf("chunk %d\n", i))
			}
		case "bytes":
			ns, ss, _ := strings.Cut(arg, ":")
			n, _ := strconv.Atoi(ns)
			size, _ := strconv.Atoi(ss)
			chunk := strings.Repeat("x", size)
			for i := 0; i < n; i++ {
				ev.Stream("stdout", chunk)
			}
		case "result", "display":
			typ := map[string]string{"result": "execute_result", "display": "display_data"}[verb]
			c := map[string]any{"data": map[string]any{"text/plain": arg}, "metadata": map[string]any{}}
			if verb == "result" {
				c["execution_count"] = count
			}
			ev.Publish(interp.Message{Type: typ, Content: mustJSON(c)})
		case "wait":
			in.setWaiting(arg, true)
			select {
			case <-in.release(arg):
				in.setWaiting(arg, false)
			case <-in.interrupt:
				in.setWaiting(arg, false)
				return fail("KeyboardInterrupt", "")
			case <-in.closed:
				return nil, fmt.Errorf("fake: closed while waiting: %w", interp.ErrDead)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case "hang":
			select {
			case <-in.closed:
				return nil, fmt.Errorf("fake: closed while hanging: %w", interp.ErrDead)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case "input", "password":
			v, err := ev.Input(ctx, arg, verb == "password")
			switch {
			case errors.Is(err, interp.ErrStdinNotAllowed):
				return fail("StdinNotImplementedError", err.Error())
			case errors.Is(err, context.Canceled):
				return fail("KeyboardInterrupt", "Interrupted by user")
			case err != nil:
				return nil, err
			}
			ev.Stream("stdout", "got:"+v+"\n")
		case "error":
			return fail(arg, "boom")
		case "die":
			return nil, fmt.Errorf("fake trap: unreachable executed: %w", interp.ErrDead)
		case "fail":
			return nil, errors.New("fake: plain failure")
		case "panic":
			panic("fake panic")
		case "badreply":
			return json.RawMessage(`[1,2]`), nil
		default:
			return fail("SyntaxError", "unknown fake command "+strconv.Quote(cmd))
		}
	}
	return mustJSON(map[string]any{"status": "ok", "execution_count": count, "user_expressions": map[string]any{}, "payload": []any{}}), nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
