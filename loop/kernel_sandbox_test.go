package loop_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"wasmpy/loop"
	"wasmpy/wasmpy"
)

// kernelBox is the kernel's Python side (wasmpy_kernel, IPython) in the
// sandbox, driven as the Go kernel drives it: each request is a loop task.
// It records what is published with the raw "emit" payloads (to see their
// "parent") and the stream text.
type kernelBox struct {
	t  *testing.T
	l  *loop.Loop
	in *wasmpy.Interpreter

	mu     sync.Mutex
	emits  []emitted
	stream strings.Builder
	parent map[string]any // the stream parent Python set ("stream.parent")
}

type emitted struct {
	Type    string          `json:"msg_type"`
	Content json.RawMessage `json:"content"`
	Parent  map[string]any  `json:"parent"`
}

func newKernelBox(t *testing.T) *kernelBox {
	t.Helper()
	r := runtimeOrSkip(t)
	ctx, cancel := context.WithCancel(context.Background())
	kb := &kernelBox{t: t, l: loop.New(nil)}
	done := make(chan error, 1)
	go func() { done <- kb.l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	dctx, dcancel := context.WithTimeout(ctx, 60*time.Second)
	defer dcancel()
	var err error
	derr := kb.l.Do(dctx, func() {
		var k *wasmpy.Kernel
		k, err = r.NewKernel(dctx, wasmpy.KernelConfig{Setup: []func(context.Context, *wasmpy.Interpreter) error{
			func(_ context.Context, in *wasmpy.Interpreter) error { return loop.Attach(ctx, kb.l, in) },
		}})
		if err != nil {
			return
		}
		kb.in = k.Interpreter()
		// As wasmpy.Kernel does: text printed while Python set a stream
		// parent (a task of an earlier cell runs) is a stream message of
		// that parent's.
		kb.in.SetOutput(func(name, text string) {
			kb.mu.Lock()
			defer kb.mu.Unlock()
			if kb.parent == nil {
				kb.stream.WriteString(text)
				return
			}
			content, _ := json.Marshal(map[string]string{"name": name, "text": text})
			kb.emits = append(kb.emits, emitted{Type: "stream", Content: content, Parent: kb.parent})
		})
		kb.in.Register("stream.parent", func(_ context.Context, data []byte) ([]byte, error) {
			var p map[string]any
			if len(data) > 0 {
				if err := json.Unmarshal(data, &p); err != nil {
					return nil, err
				}
			}
			kb.mu.Lock()
			kb.parent = p
			kb.mu.Unlock()
			return nil, nil
		})
		kb.in.Register("emit", func(_ context.Context, data []byte) ([]byte, error) {
			var e emitted
			if err := json.Unmarshal(data, &e); err != nil {
				return nil, err
			}
			kb.mu.Lock()
			kb.emits = append(kb.emits, e)
			kb.mu.Unlock()
			return nil, nil
		})
	})
	if derr != nil || err != nil {
		t.Fatalf("start the kernel: %v %v", derr, err)
	}
	t.Cleanup(func() { kb.in.Close() })
	return kb
}

type executeReply struct {
	Status string `json:"status"`
	Ename  string `json:"ename"`
}

// execute sends an execute request as the Go kernel would (with a header),
// in a loop task, and returns the reply.
func (kb *kernelBox) execute(msgID, code string) (executeReply, error) {
	req, _ := json.Marshal(map[string]any{
		"op":      "execute",
		"content": map[string]any{"code": code, "silent": false, "store_history": true, "allow_stdin": false},
		"header":  map[string]any{"msg_id": msgID, "msg_type": "execute_request"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []byte
	var err error
	if derr := kb.l.Do(ctx, func() { out, err = kb.in.Dispatch(ctx, "kernel", req) }); derr != nil {
		return executeReply{}, derr
	}
	if err != nil {
		return executeReply{}, err
	}
	var rep executeReply
	err = json.Unmarshal(out, &rep)
	return rep, err
}

func (kb *kernelBox) take() ([]emitted, string) {
	kb.mu.Lock()
	defer kb.mu.Unlock()
	e, s := kb.emits, kb.stream.String()
	kb.emits = nil
	kb.stream.Reset()
	return e, s
}

func textOf(e emitted) string {
	var c struct {
		Text string `json:"text"`
		Data struct {
			Plain string `json:"text/plain"`
		} `json:"data"`
		Ename string `json:"ename"`
	}
	json.Unmarshal(e.Content, &c)
	return c.Text + c.Data.Plain + c.Ename
}

func TestKernelTopLevelAwaitAndBackgroundOutput(t *testing.T) {
	kb := newKernelBox(t)

	rep, err := kb.execute("cell-1", "import asyncio\nawait asyncio.sleep(0.01)\nr = await asyncio.gather(*(asyncio.sleep(0, i) for i in range(3)))\nr")
	if err != nil || rep.Status != "ok" {
		t.Fatalf("top-level await: %+v %v", rep, err)
	}
	emits, _ := kb.take()
	if len(emits) == 0 || textOf(emits[len(emits)-1]) != "[0, 1, 2]" {
		t.Errorf("top-level await result: %+v", emits)
	}

	rep, err = kb.execute("cell-2", `
async def bg():
    await asyncio.sleep(0.2)
    print("printed by cell 2's task")
    display("displayed by cell 2's task")
task = asyncio.create_task(bg())
print("cell 2 ends")`)
	if err != nil || rep.Status != "ok" {
		t.Fatalf("cell 2: %+v %v", rep, err)
	}
	if _, s := kb.take(); s != "cell 2 ends\n" {
		t.Errorf("cell 2 stream %q", s)
	}
	// Cell 3 runs while the task wakes up: its output must name cell 2.
	rep, err = kb.execute("cell-3", "await asyncio.sleep(0.4)\nprint('cell 3 done')")
	if err != nil || rep.Status != "ok" {
		t.Fatalf("cell 3: %+v %v", rep, err)
	}
	emits, s := kb.take()
	if s != "cell 3 done\n" {
		t.Errorf("cell 3's own stream %q (the task's print must not land here)", s)
	}
	var fromTask []string
	for _, e := range emits {
		if e.Type == "execute_input" {
			continue
		}
		fromTask = append(fromTask, fmt.Sprintf("%s %v %s", e.Type, e.Parent["msg_id"], strings.TrimSpace(textOf(e))))
	}
	want := []string{
		"stream cell-2 printed by cell 2's task",
		`display_data cell-2 "displayed by cell 2's task"`,
	}
	if strings.Join(fromTask, "\n") != strings.Join(want, "\n") {
		t.Errorf("published during cell 3:\n%s\nwant:\n%s", strings.Join(fromTask, "\n"), strings.Join(want, "\n"))
	}

	// asyncio.run in a cell, then a background task between requests.
	rep, err = kb.execute("cell-4", "print(asyncio.run(asyncio.sleep(0.01, 'ran')))\n_ = asyncio.get_event_loop().call_later(0.05, print, 'idle callback')")
	if err != nil || rep.Status != "ok" {
		t.Fatalf("cell 4: %+v %v", rep, err)
	}
	// The kernel is idle; the loop serves the timer.
	var all []emitted
	s = ""
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && len(all) < 2; {
		time.Sleep(10 * time.Millisecond)
		e, st := kb.take()
		all, s = append(all, e...), s+st
	}
	emits = all
	if s != "ran\n" || len(emits) != 2 || emits[1].Type != "stream" || emits[1].Parent["msg_id"] != "cell-4" || textOf(emits[1]) != "idle callback\n" {
		t.Errorf("cell 4: stream %q, emits %+v", s, emits)
	}
}

func TestKernelInterruptAwait(t *testing.T) {
	kb := newKernelBox(t)
	type result struct {
		rep executeReply
		err error
	}
	// Warm up IPython's traceback machinery (its first use is slow in wasm).
	if rep, err := kb.execute("warm", "import asyncio\nraise KeyboardInterrupt"); err != nil || rep.Ename != "KeyboardInterrupt" {
		t.Fatalf("warm-up: %+v %v", rep, err)
	}
	kb.take()
	resc := make(chan result, 1)
	go func() {
		rep, err := kb.execute("cell-1", "import asyncio\nprint('waiting')\nawait asyncio.sleep(60)\nprint('not reached')")
		resc <- result{rep, err}
	}()
	time.Sleep(500 * time.Millisecond)
	t0 := time.Now()
	kb.in.Interrupt()
	select {
	case r := <-resc:
		took := time.Since(t0)
		// The interrupt lands in milliseconds (see TestSandboxInterrupt); most
		// of this is IPython formatting the traceback (slow in wasm).
		t.Logf("interrupt of `await asyncio.sleep(60)`: reply after %v", took)
		if took > 2*time.Second {
			t.Errorf("interrupt took %v", took)
		}
		if r.err != nil || r.rep.Status != "error" || r.rep.Ename != "KeyboardInterrupt" {
			t.Errorf("reply %+v, err %v; want status error, KeyboardInterrupt", r.rep, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the cell did not end within 10s of the interrupt")
	}
	emits, s := kb.take()
	if strings.Contains(s, "not reached") {
		t.Errorf("the cell went on after the interrupt: %q", s)
	}
	errs := 0
	for _, e := range emits {
		if e.Type == "error" {
			errs++
		}
	}
	if errs != 1 {
		t.Errorf("%d error messages, want 1: %+v", errs, emits)
	}
	rep, err := kb.execute("cell-2", "await asyncio.sleep(0.01)\nprint(asyncio.run(asyncio.sleep(0, 'usable')))")
	if err != nil || rep.Status != "ok" {
		t.Fatalf("after the interrupt: %+v %v", rep, err)
	}
	if _, s := kb.take(); s != "usable\n" {
		t.Errorf("after the interrupt: %q", s)
	}
}
