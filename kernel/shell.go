package kernel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"wasmpy/interp"
	"wasmpy/messaging"
)

// shellOps maps the shell requests forwarded to the interpreter to their op
// and reply type ("" for the comm messages, which have no reply).
var shellOps = map[string]struct{ op, reply string }{
	"complete_request":    {"complete", "complete_reply"},
	"inspect_request":     {"inspect", "inspect_reply"},
	"is_complete_request": {"is_complete", "is_complete_reply"},
	"history_request":     {"history", "history_reply"},
	"comm_info_request":   {"comm_info", "comm_info_reply"},
	"comm_open":           {"comm_open", ""},
	"comm_msg":            {"comm_msg", ""},
	"comm_close":          {"comm_close", ""},
}

// shellLoop handles shell requests one at a time, in order. After an
// execute_request fails with stop_on_error, the requests already received
// are handled in abort mode: execute requests among them are answered
// "aborted" without running (ipykernel's _abort_queues with its default
// stop_on_error_timeout of 0).
func (k *Kernel) shellLoop(ctx context.Context) {
	var queue []*messaging.Message
	aborting := 0
	for {
		var m *messaging.Message
		if len(queue) > 0 {
			m, queue = queue[0], queue[1:]
		} else {
			select {
			case <-ctx.Done():
				return
			case mm, ok := <-k.conn.Shell():
				if !ok {
					k.log.Warn("shell channel closed; stopping")
					k.requestStop()
					return
				}
				m = mm
			}
		}
		if ctx.Err() != nil {
			return
		}
		abort := aborting > 0
		if abort {
			aborting--
		}
		if queued, ok := k.handleShell(ctx, m, abort); ok {
			queue = append(queue, queued...)
			aborting = len(queue)
			k.log.Info("execute failed with stop_on_error: aborting queued execute requests", "queued", aborting)
		}
	}
}

// drainShell takes every shell request already received.
func (k *Kernel) drainShell() []*messaging.Message {
	var ms []*messaging.Message
	for {
		select {
		case m, ok := <-k.conn.Shell():
			if !ok {
				return ms
			}
			ms = append(ms, m)
		default:
			return ms
		}
	}
}

// handleShell handles one shell request between busy and idle. After a
// failed execute with stop_on_error it returns the requests that were queued
// when it replied, and true: those are to be handled in abort mode.
func (k *Kernel) handleShell(ctx context.Context, m *messaging.Message, abort bool) ([]*messaging.Message, bool) {
	k.publishStatus(m, "busy")
	defer k.publishStatus(m, "idle")
	typ := m.Header.MsgType
	k.log.Debug("shell request", "msg_type", typ, "msg_id", m.Header.MsgID)
	if abort && typ == "execute_request" {
		k.log.Info("aborting", "msg_id", m.Header.MsgID, "msg_type", typ)
		k.send(messaging.Shell, "execute_reply", m, map[string]string{"status": "aborted"}, k.replyMetadata(time.Now(), "aborted"))
		return nil, false
	}
	switch typ {
	case "execute_request":
		return k.execute(ctx, m)
	case "kernel_info_request":
		// Answered at once by default: jupyter_client's wait_for_ready sends
		// another kernel_info_request every second until one is answered,
		// so waiting here would leave stale replies on the client's shell
		// channel. With ReadyWait set, it waits that long for the
		// interpreter to start.
		if k.cfg.ReadyWait > 0 {
			wctx, cancel := context.WithTimeout(ctx, k.cfg.ReadyWait)
			k.interp.wait(wctx)
			cancel()
		}
		k.send(messaging.Shell, "kernel_info_reply", m, k.kernelInfo(), nil)
	case "connect_request":
		k.send(messaging.Shell, "connect_reply", m, k.connectInfo(), nil)
	case "shutdown_request":
		k.shutdown(messaging.Shell, m)
	case "interrupt_request":
		// Only useful on control, but ipykernel accepts it on shell too.
		k.Interrupt()
		k.send(messaging.Shell, "interrupt_reply", m, map[string]string{"status": "ok"}, nil)
	default:
		op, ok := shellOps[typ]
		if !ok {
			k.log.Warn("unknown message type; ignored", "msg_type", typ, "msg_id", m.Header.MsgID)
			return nil, false
		}
		k.forward(ctx, m, op.op, op.reply)
	}
	return nil, false
}

// outcome is how a call to the interpreter ended.
type outcome struct {
	out       json.RawMessage // the reply content, when err is nil
	err       error           // the call failed; the fields below describe it
	ename     string
	traceback []string
	execInput int // execution_count of the call's execute_input, or -1
}

const (
	lostState   = "A fresh interpreter has been started: variables, imports and definitions from earlier cells are gone."
	ansiRed     = "\x1b[0;31m"
	ansiDefault = "\x1b[0m"
)

// call runs op for request m in the current interpreter and classifies a
// failure; a dead interpreter is replaced. It reports false when the kernel
// is shutting down (then nothing must be sent).
func (k *Kernel) call(ctx context.Context, m *messaging.Message, op string, allowStdin, silent bool, timeout time.Duration) (outcome, bool) {
	k.mu.Lock()
	k.starting, k.earlyInterrupt = true, false
	k.mu.Unlock()
	in, err := k.interp.get(ctx)
	k.mu.Lock()
	early := k.earlyInterrupt
	k.starting, k.earlyInterrupt = false, false
	k.mu.Unlock()
	if err == nil && early {
		return outcome{err: errors.New("interrupted before it ran"), ename: "KeyboardInterrupt", execInput: -1, traceback: []string{
			ansiRed + "KeyboardInterrupt" + ansiDefault + ": interrupted while the interpreter was starting; the cell did not run",
		}}, true
	}
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, errSlotClosed) {
			return outcome{}, false
		}
		return outcome{err: err, ename: "InterpreterStartFailed", execInput: -1, traceback: []string{
			ansiRed + "InterpreterStartFailed" + ansiDefault + ": " + err.Error(),
			"The Python interpreter could not be started; the next request will try again. See the kernel's log for details.",
		}}, true
	}
	c := &call{inst: in}
	ev := k.newEvents(m, c, allowStdin)
	ev.silent = silent
	k.setCurrent(c)
	k.setLastParent(m)
	hdr, _ := json.Marshal(m.Header)
	req := interp.Request{Op: op, Header: hdr, Content: m.Content, Metadata: m.Metadata, Buffers: m.Buffers}
	out, err := k.runCall(ctx, c, req, ev, timeout)
	k.setCurrent(nil)
	ev.close()
	if ctx.Err() != nil {
		return outcome{}, false
	}
	o := outcome{out: out, err: err, execInput: int(ev.execInput.Load())}
	if err == nil {
		return o, true
	}
	dead := false
	var explain string
	switch {
	case errors.Is(err, errRestarted):
		o.ename, explain = "KernelRestarted", "The kernel was restarted while this request ran."
	case errors.Is(err, errCellTimeout):
		o.ename, explain, dead = "CellTimeoutError", lostState, true
	case errors.Is(err, interp.ErrDead):
		o.ename, explain, dead = "InterpreterCrashed", lostState, true
	default:
		o.ename, explain = "KernelError", "The kernel could not run this request; the interpreter is still running."
	}
	o.traceback = []string{ansiRed + o.ename + ansiDefault + ": " + err.Error(), explain}
	if dead {
		k.log.Error("interpreter died; replacing it", "op", op, "msg_id", m.Header.MsgID, "interpreter", in.id, "err", err)
		if k.interp.replace(in) {
			k.mu.Lock()
			k.execCount = 0
			k.mu.Unlock()
		}
	} else {
		k.log.Warn("request failed", "op", op, "msg_id", m.Header.MsgID, "err", err)
	}
	return o, true
}

// checkReply turns reply content that is not a JSON object into a failure.
func (o *outcome) checkReply() {
	if o.err != nil {
		return
	}
	t := bytes.TrimLeft(o.out, " \t\r\n")
	if len(t) > 0 && t[0] == '{' && json.Valid(o.out) {
		return
	}
	o.err = errors.New("the interpreter's reply is not a JSON object")
	o.ename = "KernelError"
	o.traceback = []string{ansiRed + "KernelError" + ansiDefault + ": " + o.err.Error()}
}

func (o *outcome) errorContent(status string) errorContent {
	return errorContent{Status: status, Ename: o.ename, Evalue: o.err.Error(), Traceback: o.traceback}
}

// execute handles an execute_request. When it fails with stop_on_error (and
// is not silent), it takes the requests received so far off the queue
// before it replies, and returns them and true.
func (k *Kernel) execute(ctx context.Context, m *messaging.Message) ([]*messaging.Message, bool) {
	var req struct {
		Silent      bool  `json:"silent"`
		AllowStdin  bool  `json:"allow_stdin"`
		StopOnError *bool `json:"stop_on_error"`
	}
	if err := json.Unmarshal(m.Content, &req); err != nil {
		k.log.Error("bad execute_request content; ignored", "msg_id", m.Header.MsgID, "err", err)
		return nil, false
	}
	stopOnError := req.StopOnError == nil || *req.StopOnError
	started := time.Now()
	o, ok := k.call(ctx, m, "execute", req.AllowStdin, req.Silent, k.cfg.CellTimeout)
	if !ok {
		return nil, false
	}
	o.checkReply()
	var content any
	var status string
	if o.err != nil {
		k.mu.Lock()
		count := k.execCount
		k.mu.Unlock()
		if o.execInput >= 0 {
			count = o.execInput
		}
		if !req.Silent {
			k.publish("error", m, o.errorContent(""), nil, nil)
		}
		status = "error"
		content = executeErrorContent{
			errorContent:    o.errorContent(status),
			ExecutionCount:  count,
			UserExpressions: map[string]any{},
			Payload:         []any{},
		}
	} else {
		var count int
		var hasCount bool
		status, count, hasCount = replyStatus(o.out)
		if hasCount {
			k.mu.Lock()
			k.execCount = count
			k.mu.Unlock()
		}
		content = o.out
	}
	var queued []*messaging.Message
	abort := !req.Silent && status == "error" && stopOnError
	if abort {
		// "Already queued" means received before the reply goes out.
		queued = k.drainShell()
	}
	k.send(messaging.Shell, "execute_reply", m, content, k.replyMetadata(started, status))
	return queued, abort
}

// forward handles a request that the interpreter answers.
func (k *Kernel) forward(ctx context.Context, m *messaging.Message, op, replyType string) {
	if _, started := k.interp.current(); !started {
		// Front ends ask these at connection time, while the interpreter
		// may still be starting, and wait only briefly (jupyter console:
		// one second for is_complete), so they are answered at once.
		switch op {
		case "history":
			// It has run nothing: its history (kept per interpreter) is empty.
			k.send(messaging.Shell, replyType, m, map[string]any{"status": "ok", "history": []any{}}, nil)
			return
		case "is_complete":
			// The protocol's answer when the kernel cannot tell yet.
			k.send(messaging.Shell, replyType, m, map[string]any{"status": "unknown"}, nil)
			return
		}
	}
	o, ok := k.call(ctx, m, op, false, false, 0)
	if !ok || replyType == "" {
		return
	}
	o.checkReply()
	if o.err != nil {
		k.send(messaging.Shell, replyType, m, o.errorContent("error"), nil)
		return
	}
	k.send(messaging.Shell, replyType, m, o.out, nil)
}

// replyMetadata is the metadata ipykernel puts on execute replies.
func (k *Kernel) replyMetadata(started time.Time, status string) json.RawMessage {
	b, err := json.Marshal(map[string]any{
		"started":          started.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		"dependencies_met": true,
		"engine":           k.session,
		"status":           status,
	})
	if err != nil {
		return nil
	}
	return b
}
