package kernel

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"wasmpy/kernel/internal/fakeinterp"
	"wasmpy/kernel/internal/testclient"
	"wasmpy/messaging"
)

func TestNewChecksConfig(t *testing.T) {
	f := &fakeinterp.Factory{}
	if _, err := New(Config{Factory: f.New}); err == nil {
		t.Error("New without Conn succeeded")
	}
	if _, err := New(Config{Conn: &messaging.Conn{}}); err == nil {
		t.Error("New without Factory succeeded")
	}
}

func TestKernelInfo(t *testing.T) {
	gate := make(chan struct{})
	f := &fakeinterp.Factory{Gate: gate}
	h := startKernel(t, f, nil) // WaitReady already needed a kernel_info reply

	check := func(ch messaging.Channel, wantVersion string) {
		t.Helper()
		req := h.send(ch, "kernel_info_request", nil)
		rep := h.reply(ch, req)
		if rep.Header.MsgType != "kernel_info_reply" {
			t.Fatalf("reply type %q", rep.Header.MsgType)
		}
		c := decode(t, rep.Content)
		for k, want := range map[string]any{
			"status": "ok", "protocol_version": "5.5", "implementation": "wasmpy",
			"implementation_version": "9.9.9-test", "debugger": false,
		} {
			if c[k] != want {
				t.Errorf("%s: %s = %v, want %v", ch, k, c[k], want)
			}
		}
		li := c["language_info"].(map[string]any)
		wantLI := map[string]any{
			"name": "python", "version": wantVersion, "mimetype": "text/x-python", "file_extension": ".py",
			"pygments_lexer": "ipython3", "nbconvert_exporter": "python",
			"codemirror_mode": map[string]any{"name": "ipython", "version": float64(3)},
		}
		if !reflect.DeepEqual(li, wantLI) {
			t.Errorf("%s: language_info = %v, want %v", ch, li, wantLI)
		}
		if links, ok := c["help_links"].([]any); !ok || len(links) == 0 {
			t.Errorf("%s: help_links = %v", ch, c["help_links"])
		} else if l := links[0].(map[string]any); l["text"] == "" || !strings.HasPrefix(l["url"].(string), "https://") {
			t.Errorf("%s: help link %v", ch, l)
		}
		if b, _ := c["banner"].(string); b == "" {
			t.Errorf("%s: empty banner", ch)
		}
		if got := types(t, h.iopub(req)); !reflect.DeepEqual(got, []string{"status:busy", "status:idle"}) {
			t.Errorf("%s: iopub %v", ch, got)
		}
	}
	// The interpreter has not started (the factory waits on the gate).
	check(messaging.Shell, "3.13")
	check(messaging.Control, "3.13")
	close(gate)
	waitFor(t, "interpreter start", func() bool { _, ok := h.k.interp.current(); return ok })
	check(messaging.Shell, "3.13.0-fake")
	check(messaging.Control, "3.13.0-fake")
}

func TestExecuteOrder(t *testing.T) {
	h := startKernel(t, nil, nil)
	rep, io := h.runExecute("print:hello\n;display:D;result:42", nil)
	if rep["status"] != "ok" || rep["execution_count"] != float64(1) {
		t.Errorf("reply %v", rep)
	}
	want := []string{"status:busy", "execute_input", "stream", "display_data", "execute_result", "status:idle"}
	if got := types(t, io); !reflect.DeepEqual(got, want) {
		t.Errorf("iopub = %v, want %v", got, want)
	}
	for _, m := range io {
		if m.Header.Session != h.k.Session() || m.Header.Version != "5.5" {
			t.Errorf("%s header %+v", m.Header.MsgType, m.Header)
		}
	}
	if s := streamText(t, io, "stdout"); s != "hello\n" {
		t.Errorf("stdout %q", s)
	}

	req := h.execute("print:x", nil)
	r := h.reply(messaging.Shell, req)
	md := decode(t, r.Metadata)
	if md["status"] != "ok" || md["dependencies_met"] != true || md["engine"] != h.k.Session() || md["started"] == nil {
		t.Errorf("execute_reply metadata %v", md)
	}
	if c := decode(t, r.Content); c["execution_count"] != float64(2) {
		t.Errorf("second execution_count %v", c["execution_count"])
	}
}

func TestStreamCoalescing(t *testing.T) {
	h := startKernel(t, nil, nil)
	const n = 10000
	rep, io := h.runExecute(fmt.Sprintf("chunks:%d;eprint:E;print:after\n;result:R", n), nil)
	if rep["status"] != "ok" {
		t.Fatalf("reply %v", rep)
	}
	var want strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&want, "chunk %d\n", i)
	}
	want.WriteString("after\n")
	if got := streamText(t, io, "stdout"); got != want.String() {
		t.Fatalf("stdout text differs: got %d bytes, want %d", len(got), want.Len())
	}
	streams := 0
	sawResult := false
	var order []string
	for _, m := range io {
		switch m.Header.MsgType {
		case "stream":
			streams++
			if sawResult {
				t.Error("stream after execute_result")
			}
			c := decode(t, m.Content)
			order = append(order, c["name"].(string))
			if len(c["text"].(string)) > DefaultStreamMaxBytes+64 {
				t.Errorf("stream message of %d bytes", len(c["text"].(string)))
			}
		case "execute_result":
			sawResult = true
		}
	}
	if !sawResult {
		t.Error("no execute_result")
	}
	// ~119 KB of text: a couple of size flushes plus a few timer flushes.
	if streams > 50 {
		t.Errorf("%d stream messages for %d writes; want far fewer", streams, n)
	}
	// stderr "E" sits between the chunks and "after".
	if order[len(order)-2] != "stderr" || order[len(order)-1] != "stdout" {
		t.Errorf("stream order %v", order)
	}
	t.Logf("%d writes -> %d stream messages", n+2, streams)
}

func TestStreamSizeFlush(t *testing.T) {
	h := startKernel(t, nil, func(c *Config) { c.StreamInterval = time.Hour })
	// 200 writes of 1 KiB with no timer flush: the 64 KiB bound alone splits
	// the text.
	_, io := h.runExecute("bytes:200:1024", nil)
	var sizes []int
	for _, m := range io {
		if m.Header.MsgType == "stream" {
			sizes = append(sizes, len(decode(t, m.Content)["text"].(string)))
		}
	}
	want := []int{64 << 10, 64 << 10, 64 << 10, 8 << 10}
	if !reflect.DeepEqual(sizes, want) {
		t.Errorf("stream sizes %v, want %v", sizes, want)
	}
}

func TestQueuedExecuteRunsAfter(t *testing.T) {
	h := startKernel(t, nil, nil)
	first := h.execute("wait:a;print:one", nil)
	waitFor(t, "first request blocking", func() bool { in := h.f.Last(); return in != nil && in.Waiting("a") })
	second := h.execute("print:two", nil)
	waitFor(t, "second request queued", func() bool { return len(h.k.conn.Shell()) == 1 })
	// Nothing of the second has happened while the first runs.
	if ms := h.c.All(messaging.IOPub, func(m *messaging.Message) bool { return testclient.ParentID(m) == second.Header.MsgID }); len(ms) != 0 {
		t.Fatalf("second request started while the first ran: %v", types(t, ms))
	}
	h.f.Last().Release("a")
	r1 := decode(t, h.reply(messaging.Shell, first).Content)
	r2 := decode(t, h.reply(messaging.Shell, second).Content)
	if r1["status"] != "ok" || r2["status"] != "ok" || r2["execution_count"] != float64(2) {
		t.Errorf("replies %v %v", r1, r2)
	}
	h.iopub(second)
	// The first's idle precedes the second's busy on IOPub.
	var seq []string
	for _, m := range h.c.All(messaging.IOPub, func(m *messaging.Message) bool { return m.Header.MsgType == "status" }) {
		switch testclient.ParentID(m) {
		case first.Header.MsgID:
			seq = append(seq, "first:"+decode(t, m.Content)["execution_state"].(string))
		case second.Header.MsgID:
			seq = append(seq, "second:"+decode(t, m.Content)["execution_state"].(string))
		}
	}
	if want := []string{"first:busy", "first:idle", "second:busy", "second:idle"}; !reflect.DeepEqual(seq, want) {
		t.Errorf("status sequence %v, want %v", seq, want)
	}
}

func TestControlWhileBusyAndInterrupt(t *testing.T) {
	h := startKernel(t, nil, nil)
	exec := h.execute("wait:never", nil)
	waitFor(t, "request blocking", func() bool { in := h.f.Last(); return in != nil && in.Waiting("never") })

	ki := h.send(messaging.Control, "kernel_info_request", nil)
	if rep := h.reply(messaging.Control, ki); rep.Header.MsgType != "kernel_info_reply" {
		t.Fatalf("control reply %s", rep.Header.MsgType)
	}
	if got := types(t, h.iopub(ki)); !reflect.DeepEqual(got, []string{"status:busy", "status:idle"}) {
		t.Errorf("control iopub %v", got)
	}
	dbg := h.send(messaging.Control, "debug_request", map[string]any{"command": "initialize"})
	if rep := h.reply(messaging.Control, dbg); rep.Header.MsgType != "debug_reply" || string(rep.Content) != "{}" {
		t.Errorf("debug reply %s %s", rep.Header.MsgType, rep.Content)
	}
	// The execute is still running.
	if ms := h.c.All(messaging.Shell, func(m *messaging.Message) bool { return testclient.ParentID(m) == exec.Header.MsgID }); len(ms) != 0 {
		t.Fatal("execute finished early")
	}

	intr := h.send(messaging.Control, "interrupt_request", nil)
	ir := h.reply(messaging.Control, intr)
	if ir.Header.MsgType != "interrupt_reply" || decode(t, ir.Content)["status"] != "ok" {
		t.Errorf("interrupt reply %s %s", ir.Header.MsgType, ir.Content)
	}
	rep := decode(t, h.reply(messaging.Shell, exec).Content)
	if rep["status"] != "error" || rep["ename"] != "KeyboardInterrupt" {
		t.Errorf("interrupted execute reply %v", rep)
	}
	if n := h.f.Last().Interrupts.Load(); n != 1 {
		t.Errorf("fake saw %d interrupts, want 1", n)
	}
	// An interrupt with nothing running does not reach the interpreter.
	h.reply(messaging.Control, h.send(messaging.Control, "interrupt_request", nil))
	if n := h.f.Last().Interrupts.Load(); n != 1 {
		t.Errorf("idle interrupt reached the interpreter (%d interrupts)", n)
	}
}

func TestStopOnErrorAbortsQueue(t *testing.T) {
	h := startKernel(t, nil, nil)
	first := h.execute("wait:a;error:ValueError", nil)
	waitFor(t, "first blocking", func() bool { in := h.f.Last(); return in != nil && in.Waiting("a") })
	second := h.execute("print:two", nil)
	comp := h.send(messaging.Shell, "complete_request", map[string]any{"code": "x", "cursor_pos": 1})
	third := h.execute("print:three", nil)
	waitFor(t, "requests queued", func() bool { return len(h.k.conn.Shell()) == 3 })
	h.f.Last().Release("a")

	if r := decode(t, h.reply(messaging.Shell, first).Content); r["status"] != "error" || r["ename"] != "ValueError" {
		t.Errorf("first %v", r)
	}
	for _, req := range []*messaging.Message{second, third} {
		rep := h.reply(messaging.Shell, req)
		if rep.Header.MsgType != "execute_reply" {
			t.Errorf("aborted reply type %s", rep.Header.MsgType)
		}
		if c := decode(t, rep.Content); !reflect.DeepEqual(c, map[string]any{"status": "aborted"}) {
			t.Errorf("aborted content %v", c)
		}
		if md := decode(t, rep.Metadata); md["status"] != "aborted" {
			t.Errorf("aborted metadata %v", md)
		}
		if got := types(t, h.iopub(req)); !reflect.DeepEqual(got, []string{"status:busy", "status:idle"}) {
			t.Errorf("aborted iopub %v", got)
		}
	}
	if r := decode(t, h.reply(messaging.Shell, comp).Content); r["status"] != "ok" {
		t.Errorf("queued complete_request was not answered normally: %v", r)
	}
	if ops := h.f.Last().Ops(); !reflect.DeepEqual(ops, []string{"execute", "complete"}) {
		t.Errorf("interpreter ran %v", ops)
	}
	// Requests after the abort run again.
	rep, _ := h.runExecute("print:later", nil)
	if rep["status"] != "ok" || rep["execution_count"] != float64(2) {
		t.Errorf("after abort %v", rep)
	}
}

func TestNoAbortWithoutStopOnError(t *testing.T) {
	tests := []struct {
		name  string
		extra map[string]any
	}{
		{"stop_on_error false", map[string]any{"stop_on_error": false}},
		{"silent", map[string]any{"silent": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startKernel(t, nil, nil)
			first := h.execute("wait:a;error:ValueError", tt.extra)
			waitFor(t, "first blocking", func() bool { in := h.f.Last(); return in != nil && in.Waiting("a") })
			second := h.execute("print:two", nil)
			waitFor(t, "second queued", func() bool { return len(h.k.conn.Shell()) == 1 })
			h.f.Last().Release("a")
			h.reply(messaging.Shell, first)
			if r := decode(t, h.reply(messaging.Shell, second).Content); r["status"] != "ok" {
				t.Errorf("second %v", r)
			}
		})
	}
}

func TestStdin(t *testing.T) {
	h := startKernel(t, nil, nil)
	for _, tt := range []struct {
		verb     string
		password bool
	}{{"input", false}, {"password", true}} {
		exec := h.execute(tt.verb+":Name? ", map[string]any{"allow_stdin": true})
		ir, err := h.c.Wait(messaging.Stdin, wait, func(m *messaging.Message) bool {
			return testclient.ParentID(m) == exec.Header.MsgID
		})
		if err != nil {
			t.Fatal(err)
		}
		c := decode(t, ir.Content)
		if ir.Header.MsgType != "input_request" || c["prompt"] != "Name? " || c["password"] != tt.password {
			t.Errorf("input_request %s %v", ir.Header.MsgType, c)
		}
		if err := h.c.Reply(messaging.Stdin, "input_reply", ir, map[string]any{"value": "Ada"}); err != nil {
			t.Fatal(err)
		}
		rep := decode(t, h.reply(messaging.Shell, exec).Content)
		if rep["status"] != "ok" {
			t.Errorf("reply %v", rep)
		}
		if s := streamText(t, h.iopub(exec), "stdout"); s != "got:Ada\n" {
			t.Errorf("stdout %q", s)
		}
	}

	// allow_stdin false: the interpreter is told, nothing goes to stdin.
	rep, _ := h.runExecute("input:x", map[string]any{"allow_stdin": false})
	if rep["ename"] != "StdinNotImplementedError" {
		t.Errorf("allow_stdin false: %v", rep)
	}

	// An interrupt ends the wait for input.
	exec := h.execute("input:wait", map[string]any{"allow_stdin": true})
	if _, err := h.c.Wait(messaging.Stdin, wait, func(m *messaging.Message) bool {
		return testclient.ParentID(m) == exec.Header.MsgID
	}); err != nil {
		t.Fatal(err)
	}
	h.reply(messaging.Control, h.send(messaging.Control, "interrupt_request", nil))
	if rep := decode(t, h.reply(messaging.Shell, exec).Content); rep["ename"] != "KeyboardInterrupt" {
		t.Errorf("interrupted input: %v", rep)
	}
	// A late input_reply is dropped, and the next input waits for a new one.
	h.c.Reply(messaging.Stdin, "input_reply", exec, map[string]any{"value": "stale"})
	exec2 := h.execute("input:again", map[string]any{"allow_stdin": true})
	ir, err := h.c.Wait(messaging.Stdin, wait, func(m *messaging.Message) bool {
		return testclient.ParentID(m) == exec2.Header.MsgID
	})
	if err != nil {
		t.Fatal(err)
	}
	h.c.Reply(messaging.Stdin, "input_reply", ir, map[string]any{"value": "fresh"})
	h.reply(messaging.Shell, exec2)
	if s := streamText(t, h.iopub(exec2), "stdout"); s != "got:fresh\n" {
		t.Errorf("stdout %q", s)
	}
}

func TestDeadInterpreterIsReplaced(t *testing.T) {
	h := startKernel(t, nil, nil)
	h.runExecute("print:warmup", nil)
	old := h.f.Last()
	rep, io := h.runExecute("print:before;die", nil)
	if rep["status"] != "error" || rep["ename"] != "InterpreterCrashed" || rep["execution_count"] != float64(2) {
		t.Errorf("reply %v", rep)
	}
	if tb, ok := rep["traceback"].([]any); !ok || len(tb) == 0 || !strings.Contains(rep["evalue"].(string), "fake trap") {
		t.Errorf("traceback %v evalue %v", rep["traceback"], rep["evalue"])
	}
	want := []string{"status:busy", "execute_input", "stream", "error", "status:idle"}
	if got := types(t, io); !reflect.DeepEqual(got, want) {
		t.Errorf("iopub %v, want %v", got, want)
	}
	waitFor(t, "old interpreter closed", old.Closed)
	rep, _ = h.runExecute("print:after", nil)
	if rep["status"] != "ok" || rep["execution_count"] != float64(1) {
		t.Errorf("after replacement %v", rep)
	}
	if n := len(h.f.Instances()); n != 2 || h.f.Last() == old {
		t.Errorf("%d interpreters made, want 2", n)
	}
}

func TestPanicIsACrash(t *testing.T) {
	h := startKernel(t, nil, nil)
	rep, _ := h.runExecute("panic", nil)
	if rep["ename"] != "InterpreterCrashed" || !strings.Contains(rep["evalue"].(string), "fake panic") {
		t.Errorf("reply %v", rep)
	}
	if rep, _ := h.runExecute("print:x", nil); rep["status"] != "ok" || len(h.f.Instances()) != 2 {
		t.Errorf("after panic %v (%d interpreters)", rep, len(h.f.Instances()))
	}
}

func TestOtherErrorsKeepInterpreter(t *testing.T) {
	h := startKernel(t, nil, nil)
	for _, code := range []string{"fail", "badreply"} {
		rep, _ := h.runExecute(code, nil)
		if rep["status"] != "error" || rep["ename"] != "KernelError" {
			t.Errorf("%s: reply %v", code, rep)
		}
	}
	if n := len(h.f.Instances()); n != 1 || h.f.Last().Closed() {
		t.Errorf("interpreter replaced after a plain error (%d made)", n)
	}
}

func TestStartFailureRetried(t *testing.T) {
	h := startKernel(t, &fakeinterp.Factory{FailNext: 2}, nil)
	// The background start and the first request's retry both fail.
	rep, io := h.runExecute("print:x", nil)
	if rep["status"] != "error" || rep["ename"] != "InterpreterStartFailed" {
		t.Errorf("reply %v", rep)
	}
	if got := types(t, io); !reflect.DeepEqual(got, []string{"status:busy", "error", "status:idle"}) {
		t.Errorf("iopub %v", got)
	}
	rep, _ = h.runExecute("print:x", nil)
	if rep["status"] != "ok" {
		t.Errorf("after retry %v", rep)
	}
}

func TestCellTimeout(t *testing.T) {
	h := startKernel(t, nil, func(c *Config) {
		c.CellTimeout = 300 * time.Millisecond
		c.TimeoutGrace = 300 * time.Millisecond
	})
	// An interrupt that lands: KeyboardInterrupt, same interpreter.
	rep, io := h.runExecute("wait:forever", nil)
	if rep["ename"] != "KeyboardInterrupt" {
		t.Errorf("interruptible cell: %v", rep)
	}
	if s := streamText(t, io, "stderr"); !strings.Contains(s, "longer than 300ms") {
		t.Errorf("no timeout notice on stderr: %q", s)
	}
	first := h.f.Last()
	// An interrupt that does not land: the interpreter is replaced.
	start := time.Now()
	rep, _ = h.runExecute("hang", nil)
	if rep["ename"] != "CellTimeoutError" {
		t.Errorf("hanging cell: %v", rep)
	}
	if d := time.Since(start); d < 600*time.Millisecond || d > 5*time.Second {
		t.Errorf("hanging cell took %v, want about 600ms", d)
	}
	waitFor(t, "hung interpreter closed", first.Closed)
	if rep, _ := h.runExecute("print:ok", nil); rep["status"] != "ok" {
		t.Errorf("after timeout %v", rep)
	}
	if n := len(h.f.Instances()); n != 2 {
		t.Errorf("%d interpreters, want 2", n)
	}
}

func TestShutdown(t *testing.T) {
	for _, ch := range []messaging.Channel{messaging.Control, messaging.Shell} {
		t.Run(ch.String(), func(t *testing.T) {
			h := startKernel(t, nil, nil)
			h.runExecute("print:x", nil)
			req := h.send(ch, "shutdown_request", map[string]any{"restart": false})
			rep := h.reply(ch, req)
			if rep.Header.MsgType != "shutdown_reply" || !reflect.DeepEqual(decode(t, rep.Content), map[string]any{"status": "ok", "restart": false}) {
				t.Errorf("reply %s %s", rep.Header.MsgType, rep.Content)
			}
			if got := types(t, h.iopub(req)); !reflect.DeepEqual(got, []string{"status:busy", "shutdown_reply", "status:idle"}) {
				t.Errorf("iopub %v", got)
			}
			if err := h.runReturned(); err != nil {
				t.Errorf("Run returned %v, want nil", err)
			}
			if !h.f.Last().Closed() {
				t.Error("interpreter not closed")
			}
		})
	}
}

func TestShutdownWhileBusy(t *testing.T) {
	h := startKernel(t, nil, nil)
	h.execute("hang", nil)
	waitFor(t, "execute running", func() bool { in := h.f.Last(); return in != nil && len(in.Ops()) == 1 })
	h.reply(messaging.Control, h.send(messaging.Control, "shutdown_request", map[string]any{"restart": false}))
	if err := h.runReturned(); err != nil {
		t.Errorf("Run returned %v", err)
	}
}

func TestRestart(t *testing.T) {
	h := startKernel(t, nil, nil)
	h.runExecute("print:x", nil)
	h.runExecute("print:x", nil)
	old := h.f.Last()
	req := h.send(messaging.Control, "shutdown_request", map[string]any{"restart": true})
	if c := decode(t, h.reply(messaging.Control, req).Content); c["restart"] != true || c["status"] != "ok" {
		t.Errorf("reply %v", c)
	}
	if got := types(t, h.iopub(req)); !reflect.DeepEqual(got, []string{"status:busy", "shutdown_reply", "status:idle"}) {
		t.Errorf("iopub %v", got)
	}
	waitFor(t, "old interpreter closed", old.Closed)
	rep, _ := h.runExecute("print:x", nil)
	if rep["status"] != "ok" || rep["execution_count"] != float64(1) {
		t.Errorf("after restart %v", rep)
	}
	if h.f.Last() == old {
		t.Error("no new interpreter")
	}
	select {
	case err := <-h.runErr:
		t.Fatalf("Run returned %v after a restart", err)
	default:
	}
}

func TestRestartWhileBusy(t *testing.T) {
	h := startKernel(t, nil, nil)
	exec := h.execute("hang", nil)
	waitFor(t, "execute running", func() bool { in := h.f.Last(); return in != nil && len(in.Ops()) == 1 })
	h.reply(messaging.Control, h.send(messaging.Control, "shutdown_request", map[string]any{"restart": true}))
	if rep := decode(t, h.reply(messaging.Shell, exec).Content); rep["ename"] != "KernelRestarted" {
		t.Errorf("running execute: %v", rep)
	}
	if rep, _ := h.runExecute("print:x", nil); rep["status"] != "ok" {
		t.Errorf("after restart: %v", rep)
	}
}

func TestExitOnRestart(t *testing.T) {
	h := startKernel(t, nil, func(c *Config) { c.ExitOnRestart = true })
	req := h.send(messaging.Control, "shutdown_request", map[string]any{"restart": true})
	if c := decode(t, h.reply(messaging.Control, req).Content); c["restart"] != true {
		t.Errorf("reply %v", c)
	}
	if err := h.runReturned(); err != nil {
		t.Errorf("Run returned %v", err)
	}
}

func TestUnknownMessageIgnored(t *testing.T) {
	h := startKernel(t, nil, nil)
	for _, ch := range []messaging.Channel{messaging.Shell, messaging.Control} {
		bogus := h.send(ch, "bogus_request", map[string]any{})
		// busy/idle as ipykernel does, but no reply.
		if got := types(t, h.iopub(bogus)); !reflect.DeepEqual(got, []string{"status:busy", "status:idle"}) {
			t.Errorf("%s: iopub %v", ch, got)
		}
		h.reply(ch, h.send(ch, "kernel_info_request", nil)) // the kernel still answers
		if ms := h.c.All(ch, func(m *messaging.Message) bool { return testclient.ParentID(m) == bogus.Header.MsgID }); len(ms) != 0 {
			t.Errorf("%s: bogus request got a reply %s", ch, ms[0].Header.MsgType)
		}
	}
	if ops := h.f.Last().Ops(); len(ops) != 0 {
		t.Errorf("interpreter saw %v", ops)
	}
}

func TestForwardedRequests(t *testing.T) {
	h := startKernel(t, nil, nil)
	tests := []struct {
		msgType, reply, op string
	}{
		{"complete_request", "complete_reply", "complete"},
		{"inspect_request", "inspect_reply", "inspect"},
		{"is_complete_request", "is_complete_reply", "is_complete"},
		{"history_request", "history_reply", "history"},
		{"comm_info_request", "comm_info_reply", "comm_info"},
	}
	for _, tt := range tests {
		req := h.send(messaging.Shell, tt.msgType, map[string]any{"code": "x", "cursor_pos": 1})
		rep := h.reply(messaging.Shell, req)
		if rep.Header.MsgType != tt.reply || decode(t, rep.Content)["status"] != "ok" {
			t.Errorf("%s: %s %s", tt.msgType, rep.Header.MsgType, rep.Content)
		}
		h.iopub(req)
	}
	if c := decode(t, h.reply(messaging.Shell, h.send(messaging.Shell, "complete_request", map[string]any{"code": "f", "cursor_pos": 1})).Content); !reflect.DeepEqual(c["matches"], []any{"fake_match"}) {
		t.Errorf("complete content %v", c)
	}

	// Comm messages have no reply; what the interpreter publishes goes out
	// with the comm message as parent.
	cm := h.send(messaging.Shell, "comm_msg", map[string]any{"comm_id": "c1", "data": map[string]any{}})
	io := h.iopub(cm)
	if got := types(t, io); !reflect.DeepEqual(got, []string{"status:busy", "comm_msg", "status:idle"}) {
		t.Errorf("comm_msg iopub %v", got)
	}
	for _, typ := range []string{"comm_open", "comm_close"} {
		h.iopub(h.send(messaging.Shell, typ, map[string]any{"comm_id": "c1", "target_name": "t", "data": map[string]any{}}))
	}
	h.reply(messaging.Shell, h.send(messaging.Shell, "kernel_info_request", nil))
	for _, typ := range []string{"comm_msg", "comm_open", "comm_close"} {
		if ms := h.c.All(messaging.Shell, func(m *messaging.Message) bool { return strings.HasPrefix(m.Header.MsgType, typ) }); len(ms) != 0 {
			t.Errorf("%s got a reply", typ)
		}
	}
	want := []string{"complete", "inspect", "is_complete", "history", "comm_info", "complete", "comm_msg", "comm_open", "comm_close"}
	if ops := h.f.Last().Ops(); !reflect.DeepEqual(ops, want) {
		t.Errorf("ops %v, want %v", ops, want)
	}
}

func TestConnectRequest(t *testing.T) {
	h := startKernel(t, nil, nil)
	rep := decode(t, h.reply(messaging.Shell, h.send(messaging.Shell, "connect_request", nil)).Content)
	info := h.k.conn.Info()
	if rep["status"] != "ok" || rep["shell_port"] != float64(info.ShellPort) || rep["hb_port"] != float64(info.HBPort) {
		t.Errorf("connect_reply %v", rep)
	}
}

func TestSilentExecute(t *testing.T) {
	h := startKernel(t, nil, nil)
	rep, io := h.runExecute("die", map[string]any{"silent": true})
	if rep["status"] != "error" {
		t.Errorf("reply %v", rep)
	}
	// No error on IOPub for a silent request, only status.
	if got := types(t, io); !reflect.DeepEqual(got, []string{"status:busy", "status:idle"}) {
		t.Errorf("iopub %v", got)
	}
}

func TestRunCancel(t *testing.T) {
	h := startKernel(t, nil, nil)
	h.cancel()
	if err := h.runReturned(); err == nil {
		t.Error("Run returned nil after its context was cancelled")
	}
	if err := h.k.Run(t.Context()); err == nil {
		t.Error("second Run succeeded")
	}
}

// While the interpreter starts, the requests front ends send at connection
// time are answered at once: history is empty, is_complete is "unknown".
func TestAnsweredWhileStarting(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	h := startKernel(t, &fakeinterp.Factory{Gate: gate}, nil)
	req := h.send(messaging.Shell, "is_complete_request", map[string]any{"code": "for x in y:"})
	if c := decode(t, h.reply(messaging.Shell, req).Content); c["status"] != "unknown" {
		t.Errorf("is_complete while starting: %v", c)
	}
	req = h.send(messaging.Shell, "history_request", map[string]any{"hist_access_type": "tail", "n": 10})
	if c := decode(t, h.reply(messaging.Shell, req).Content); c["status"] != "ok" || len(c["history"].([]any)) != 0 {
		t.Errorf("history while starting: %v", c)
	}
}
