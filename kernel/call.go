package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"wasmpy/interp"
	"wasmpy/messaging"
)

// call is one request running in an interpreter.
type call struct {
	inst *instance

	mu          sync.Mutex
	cancelInput context.CancelFunc // set while waiting for stdin
}

// interrupt interrupts the interpreter and ends a wait for input.
func (c *call) interrupt() {
	c.inst.it.Interrupt()
	c.mu.Lock()
	if c.cancelInput != nil {
		c.cancelInput()
	}
	c.mu.Unlock()
}

func (c *call) setCancelInput(f context.CancelFunc) {
	c.mu.Lock()
	c.cancelInput = f
	c.mu.Unlock()
}

// events is the interp.Events of one call: it publishes with the request as
// parent, coalesces stream text, and runs stdin round trips.
type events struct {
	k          *Kernel
	parent     *messaging.Message
	c          *call
	out        *coalescer
	allowStdin bool
	silent     bool         // a silent execute: no notices of our own on IOPub
	execInput  atomic.Int64 // execution_count of the execute_input published, or -1
}

func (k *Kernel) newEvents(parent *messaging.Message, c *call, allowStdin bool) *events {
	ev := &events{k: k, parent: parent, c: c, allowStdin: allowStdin}
	ev.execInput.Store(-1)
	ev.out = newCoalescer(k.cfg.StreamInterval, k.cfg.StreamMaxBytes, func(name, text string) {
		k.publish("stream", parent, map[string]string{"name": name, "text": text}, nil, nil)
	})
	return ev
}

// Stream implements interp.Events.
func (e *events) Stream(name, text string) {
	if !e.out.Write(name, text) {
		e.k.log.Debug("stream text after the request ended; dropped", "name", name, "bytes", len(text))
	}
}

// Publish implements interp.Events.
func (e *events) Publish(msg interp.Message) {
	if msg.Type == "execute_input" {
		var c struct {
			ExecutionCount *int `json:"execution_count"`
		}
		if json.Unmarshal(msg.Content, &c) == nil && c.ExecutionCount != nil {
			e.execInput.Store(int64(*c.ExecutionCount))
		}
	}
	if p := parentOf(msg.Parent); p != nil && p.Header.MsgID != e.parent.Header.MsgID {
		// Work started by an earlier request (a task that outlived its cell).
		e.out.Do(func() { e.k.bg.Publish(msg) })
		return
	}
	var content any = msg.Content
	if len(msg.Content) == 0 {
		content = nil
	}
	if !e.out.Do(func() { e.k.publish(msg.Type, e.parent, content, msg.Metadata, msg.Buffers) }) {
		e.k.log.Debug("message after the request ended; dropped", "msg_type", msg.Type)
	}
}

// Input implements interp.Events: an input_request on stdin with the
// request as parent, then the value of the next input_reply. An interrupt
// ends the wait with context.Canceled.
func (e *events) Input(ctx context.Context, prompt string, password bool) (string, error) {
	if !e.allowStdin {
		return "", interp.ErrStdinNotAllowed
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.c.setCancelInput(cancel)
	defer e.c.setCancelInput(nil)

	replies, done := e.k.waitInput()
	defer done()
	var sendErr error
	var inputID string
	sent := e.out.Do(func() {
		m := e.k.newMessage("input_request", e.parent, map[string]any{"prompt": prompt, "password": password}, nil)
		if m == nil {
			sendErr = errors.New("cannot build input_request")
			return
		}
		inputID = m.Header.MsgID
		sendErr = e.k.conn.Send(messaging.Stdin, m)
	})
	if !sent {
		return "", context.Canceled
	}
	if sendErr != nil {
		return "", fmt.Errorf("send input_request: %w", sendErr)
	}
	for {
		select {
		case m := <-replies:
			if p := parentMsgID(m); p != "" && p != inputID {
				// A reply to an earlier input_request (one that was
				// interrupted, say): not ours. Replies without a parent
				// (jupyter_client's KernelClient.input) are taken.
				e.k.log.Debug("dropping input_reply to another request", "parent", p)
				continue
			}
			var r struct {
				Value *string `json:"value"`
			}
			if json.Unmarshal(m.Content, &r) != nil || r.Value == nil {
				e.k.log.Error("bad input_reply: no value", "msg_id", m.Header.MsgID)
				return "", nil
			}
			return *r.Value, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// close flushes pending stream text and drops anything published later.
func (e *events) close() { e.out.Close() }

// Errors that end a call without the interpreter's reply.
var (
	errRestarted   = errors.New("the interpreter was restarted while the request ran")
	errCellTimeout = errors.New("cell timeout")
)

// runCall runs op in the interpreter of c. With a positive timeout it
// interrupts the call at the deadline and gives up on it (an error wrapping
// interp.ErrDead) if it has not returned TimeoutGrace later. It also gives
// up when the interpreter is retired (restart) or ctx ends. A call given up
// on keeps running in the background; its events are dropped.
func (k *Kernel) runCall(ctx context.Context, c *call, req interp.Request, ev *events, timeout time.Duration) (json.RawMessage, error) {
	op := req.Op
	type result struct {
		out json.RawMessage
		err error
	}
	callCtx, cancel := context.WithCancel(ctx)
	done := make(chan result, 1)
	go func() {
		// A panic in the interpreter must not take the kernel down: treat
		// it as a crash.
		defer func() {
			if r := recover(); r != nil {
				k.log.Error("interpreter panicked", "op", op, "panic", r, "stack", string(debug.Stack()))
				done <- result{nil, fmt.Errorf("interpreter panicked: %v: %w", r, interp.ErrDead)}
			}
		}()
		out, err := c.inst.it.Call(callCtx, req, ev)
		done <- result{out, err}
	}()
	var deadline, hard <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	giveUp := func(err error) (json.RawMessage, error) {
		ev.close()
		cancel()
		return nil, err
	}
	for {
		select {
		case r := <-done:
			cancel()
			return r.out, r.err
		case <-deadline:
			deadline = nil
			k.log.Warn("cell timeout: interrupting", "timeout", timeout)
			if !ev.silent {
				ev.Stream("stderr", fmt.Sprintf("\nwasmpy: the cell ran longer than %v and is being interrupted.\n", timeout))
			}
			c.inst.it.Interrupt()
			t := time.NewTimer(k.cfg.TimeoutGrace)
			defer t.Stop()
			hard = t.C
		case <-hard:
			return giveUp(fmt.Errorf("%w: the cell ran longer than %v and did not stop within %v of an interrupt: %w",
				errCellTimeout, timeout, k.cfg.TimeoutGrace, interp.ErrDead))
		case <-c.inst.retired:
			return giveUp(errRestarted)
		case <-ctx.Done():
			return giveUp(ctx.Err())
		}
	}
}

// parentMsgID is the msg_id of m's parent header, or "".
func parentMsgID(m *messaging.Message) string {
	var h struct {
		MsgID string `json:"msg_id"`
	}
	if json.Unmarshal(m.ParentHeader, &h) != nil {
		return ""
	}
	return h.MsgID
}

// parentOf decodes a parent header an interpreter names, or nil.
func parentOf(raw json.RawMessage) *messaging.Message {
	if len(raw) == 0 || string(raw) == "null" || string(raw) == "{}" {
		return nil
	}
	var h messaging.Header
	if err := json.Unmarshal(raw, &h); err != nil || h.MsgID == "" {
		return nil
	}
	return &messaging.Message{Header: h}
}

// background publishes what an interpreter sends outside the request in
// progress: with the parent each message names, else the last request's.
type background struct {
	k *Kernel
}

func (b background) parent(msg *interp.Message) *messaging.Message {
	if p := parentOf(msg.Parent); p != nil {
		return p
	}
	return b.k.lastParent()
}

// Stream implements interp.Events.
func (b background) Stream(name, text string) {
	b.k.publish("stream", b.k.lastParent(), map[string]string{"name": name, "text": text}, nil, nil)
}

// Publish implements interp.Events.
func (b background) Publish(msg interp.Message) {
	var content any = msg.Content
	if len(msg.Content) == 0 {
		content = nil
	}
	b.k.publish(msg.Type, b.parent(&msg), content, msg.Metadata, msg.Buffers)
}

// Input implements interp.Events: there is no request to ask for input.
func (b background) Input(context.Context, string, bool) (string, error) {
	return "", interp.ErrStdinNotAllowed
}
