package wasmpy

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"wasmpy/interp"
)

// An interrupt that comes while an execute request waits to reach the
// interpreter (the loop goroutine is busy, or the guest call has not begun)
// is the request's: the cell starts with KeyboardInterrupt instead of
// running `while True: pass` with the interrupt lost. Found by bench/soak.py.
func TestKernelInterruptBeforeTheCallBegins(t *testing.T) {
	rt := testRuntime(t)
	var (
		mu     sync.Mutex
		gated  bool
		queued = make(chan struct{}, 1)
		gate   = make(chan struct{})
	)
	cfg := KernelConfig{Run: func(ctx context.Context, fn func()) error {
		mu.Lock()
		wait := gated
		mu.Unlock()
		if wait {
			queued <- struct{}{}
			<-gate
		}
		fn()
		return nil
	}}
	k := newKernel(t, rt, cfg)
	// Between calls, an interrupt is not kept for the next one.
	k.Interrupt()
	if _, res := run(t, k, "6 * 7"); res != "42" {
		t.Fatalf("a cell after an idle interrupt: %q", res)
	}

	mu.Lock()
	gated = true
	mu.Unlock()
	type result struct {
		reply json.RawMessage
		err   error
	}
	done := make(chan result, 1)
	go func() {
		content, _ := json.Marshal(map[string]any{"code": "while True: pass", "silent": false, "store_history": true})
		reply, err := k.Call(context.Background(), interp.Request{Op: "execute", Content: content}, &events{})
		done <- result{reply, err}
	}()
	<-queued
	k.Interrupt() // the call waits for the loop goroutine
	close(gate)
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		var reply struct{ Status, Ename string }
		json.Unmarshal(r.reply, &reply)
		if reply.Status != "error" || reply.Ename != "KeyboardInterrupt" {
			t.Fatalf("reply %s", r.reply)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the interrupt was lost: the cell still runs")
	}
	mu.Lock()
	gated = false
	mu.Unlock()
	if _, res := run(t, k, "6 * 7"); res != "42" {
		t.Fatalf("the next cell: %q", res)
	}
}
