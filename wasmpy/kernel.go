package wasmpy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"wasmpy/interp"
)

// KernelConfig configures an interpreter that runs the Python side of the
// kernel (the wasmpy_kernel package: IPython's shell inside the sandbox).
type KernelConfig struct {
	Config
	// Setup runs after CPython started and before IPython does: other
	// packages (jsbridge, loop) register their host functions here.
	Setup []func(ctx context.Context, in *Interpreter) error
	// Background receives what the interpreter publishes outside a Call.
	Background interp.Events
	// Run runs fn on the goroutine that owns the interpreter (the kernel's
	// event loop) and waits for it. Nil: fn runs on the caller's goroutine.
	Run func(ctx context.Context, fn func()) error

	// Block, when set, waits for ready to be closed while Python is blocked
	// in a host function (input()), serving the interpreter's event loop
	// meanwhile; it returns early with ctx's error. Nil: just wait.
	Block func(ctx context.Context, ready <-chan struct{}) error

	// Snapshots, when set, makes start-up fast: the first kernel for a given
	// key snapshots its interpreter once IPython is up, and later kernels
	// are restored from that snapshot instead of starting CPython and IPython
	// again. A snapshot that cannot be used is removed, with a log line, and
	// the kernel starts normally.
	Snapshots *SnapshotStore
	// SnapshotKey names what the start-up state depends on besides the
	// runtime and Config: whatever the Setup functions give Python.
	SnapshotKey string
	// WarmCompletion makes the snapshot's warm-up also run completions that
	// need jedi (3 s in wasm; a restored kernel's first such completion then
	// takes 0.4 s instead): for `wasmpy install`, not a user's first start.
	WarmCompletion bool
	// Quiescent, when set, reports why the Setup functions' packages hold
	// state for the interpreter that a snapshot would lose (pending timers,
	// handles), or nil; the snapshot is taken only when it returns nil.
	Quiescent func() error
}

// Kernel is an interp.Interpreter backed by a sandboxed CPython running
// wasmpy_kernel. The Python side answers each request; what it publishes
// meanwhile reaches the Events of the call in progress.
type Kernel struct {
	log *slog.Logger
	in  *Interpreter
	// Restored: the interpreter came from a snapshot.
	Restored bool
	info     interp.LanguageInfo
	bg       interp.Events
	run      func(ctx context.Context, fn func()) error

	mu sync.Mutex
	ev interp.Events // of the call in progress, or nil between calls
	// streamParent, when set, is the header of the request that what the
	// guest prints belongs to: a task of an earlier cell runs (aio.py).
	streamParent json.RawMessage

	saving sync.WaitGroup // the start-up snapshot being saved
	block  func(ctx context.Context, ready <-chan struct{}) error

	// An interrupt that comes while a Call waits to reach the interpreter
	// (the loop is busy, or the guest call has not begun) is kept for that
	// Call's dispatch instead of being lost (or landing in a task of an
	// earlier cell that runs meanwhile).
	intrMu      sync.Mutex
	calls       int  // Calls in progress
	dispatching bool // a Call's dispatch is under way on the loop goroutine
	intrPending bool // an interrupt for the Call whose dispatch has not begun
}

var _ interp.Interpreter = (*Kernel)(nil)

// NewKernel starts an interpreter and IPython inside it.
func (r *Runtime) NewKernel(ctx context.Context, cfg KernelConfig) (*Kernel, error) {
	k := &Kernel{bg: cfg.Background, run: cfg.Run, block: cfg.Block}
	if k.run == nil {
		k.run = func(_ context.Context, fn func()) error { fn(); return nil }
	}
	var err error
	if rerr := k.run(ctx, func() { err = k.start(ctx, r, cfg) }); rerr != nil {
		return nil, rerr
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Kernel) start(ctx context.Context, r *Runtime, cfg KernelConfig) error {
	cfg.Config.Output = k.stream
	k.log = cfg.Logger
	if k.log == nil {
		k.log = r.log
	}
	key, keyed := "", false
	if cfg.Snapshots != nil {
		key, keyed = r.SnapshotKey(cfg.Config, cfg.SnapshotKey)
	}
	if keyed {
		t0 := time.Now()
		snap, err := cfg.Snapshots.Load(key)
		k.log.Debug("snapshot loaded", "took", time.Since(t0), "found", snap != nil)
		if err != nil {
			k.log.Warn("snapshot unusable; starting normally", "err", err)
			cfg.Snapshots.Remove(key)
		}
		if snap != nil {
			t0 := time.Now()
			err := k.boot(ctx, r, cfg, snap)
			snap.Release()
			if err == nil {
				k.Restored = true
				k.log.Debug("interpreter restored from a snapshot", "took", time.Since(t0))
				return nil
			}
			k.log.Warn("restoring the snapshot failed; starting normally", "err", err)
			cfg.Snapshots.Remove(key)
		}
	}
	if err := k.boot(ctx, r, cfg, nil); err != nil {
		return err
	}
	if keyed {
		if err := k.snapshot(ctx, cfg, key); err != nil {
			k.log.Info("no start-up snapshot", "reason", err)
		}
	}
	return nil
}

// boot makes the interpreter, from snap if not nil, and starts or resumes
// IPython inside.
func (k *Kernel) boot(ctx context.Context, r *Runtime, cfg KernelConfig, snap *Snapshot) error {
	if k.in != nil {
		k.in.Close()
		k.in = nil
	}
	cfg.Config.Restore = snap
	if err := r.Wait(ctx); err != nil {
		return err
	}
	t0 := time.Now()
	in, err := r.NewInterpreter(ctx, cfg.Config)
	if err != nil {
		return err
	}
	t1 := time.Now()
	k.in = in
	in.Register("emit", k.emit)
	in.Register("input", k.input)
	in.Register("stream.parent", k.setStreamParent)
	for _, setup := range cfg.Setup {
		if err := setup(ctx, in); err != nil {
			in.Close()
			return fmt.Errorf("set up interpreter: %w", err)
		}
	}
	tSetup := time.Now()
	if snap != nil {
		if err := k.snapshotStep(ctx, "thaw", cfg.Config, nil); err != nil {
			in.Close()
			return fmt.Errorf("resume IPython in the sandbox: %w", err)
		}
	} else if err := in.Exec(ctx, "import wasmpy_kernel\nwasmpy_kernel.start()\n"); err != nil {
		in.Close()
		return fmt.Errorf("start IPython in the sandbox: %w", err)
	}
	t2 := time.Now()
	reply, err := k.dispatch(ctx, interp.Request{Op: "kernel_info"}, nil, false)
	k.log.Debug("interpreter boot", "restored", snap != nil, "instantiate", t1.Sub(t0),
		"setup", tSetup.Sub(t1), "ipython", t2.Sub(tSetup), "kernel_info", time.Since(t2))
	if err != nil {
		in.Close()
		return fmt.Errorf("kernel_info: %w", err)
	}
	var ki struct {
		LanguageInfo interp.LanguageInfo `json:"language_info"`
		Banner       string              `json:"banner"`
	}
	if err := json.Unmarshal(reply, &ki); err != nil {
		in.Close()
		return fmt.Errorf("kernel_info reply: %w", err)
	}
	k.info = ki.LanguageInfo
	k.info.Banner = ki.Banner
	return nil
}

// snapshotTarget is the Python side's freeze/thaw handler
// (wasmpy_kernel/snapshot.py).
const snapshotTarget = "wasmpy_kernel.snapshot"

// snapshot freezes the freshly started interpreter, saves the snapshot (in
// the background) and thaws the interpreter again.
func (k *Kernel) snapshot(ctx context.Context, cfg KernelConfig, key string) error {
	if err := cfg.Snapshots.Writable(); err != nil {
		return fmt.Errorf("snapshot store: %w", err)
	}
	// Warm up: a first cell runs code that start-up did not (lazy imports,
	// caches); let it run before the snapshot, not in every restored kernel.
	warm := warmUp
	if cfg.WarmCompletion {
		warm = append(warm[:len(warm):len(warm)], warmCompletion...)
	}
	for _, warm := range warm {
		if _, err := k.dispatch(ctx, warm, discard{}, false); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	var open []int
	if err := k.snapshotStep(ctx, "freeze", cfg.Config, &open); err != nil {
		return err
	}
	defer func() {
		if err := k.snapshotStep(ctx, "thaw", cfg.Config, nil); err != nil {
			k.log.Warn("thaw after the snapshot", "err", err)
		}
	}()
	if want := k.in.preopens(); len(open) != want || (want > 0 && open[want-1] != 2+want) {
		return fmt.Errorf("the guest holds files open besides its %d mounts: fds %v", want, open)
	}
	if cfg.Quiescent != nil {
		if err := cfg.Quiescent(); err != nil {
			return err
		}
	}
	snap, err := k.in.Snapshot(key)
	if err != nil {
		return err
	}
	k.saving.Add(1)
	go func() {
		defer k.saving.Done()
		t0 := time.Now()
		if err := cfg.Snapshots.Save(snap); err != nil {
			k.log.Warn("save the start-up snapshot", "err", err)
			return
		}
		k.log.Debug("start-up snapshot saved", "memory_mib", snap.MemorySize()>>20,
			"stored_mib", snap.StoredBytes()>>20, "took", time.Since(t0))
	}()
	return nil
}

// warmUp are the requests run before a snapshot, so that restored kernels
// do not pay for what they load the first time: a silent cell and a
// completion from the live namespace.
var warmUp = []interp.Request{
	{Op: "execute", Content: json.RawMessage(`{"code": "1+1", "silent": true, "store_history": false, "user_expressions": {"w": "1+1"}}`)},
	{Op: "complete", Content: json.RawMessage(`{"code": "import os\nos.pa", "cursor_pos": 14}`)},
}

// warmCompletion are completions that need jedi (a name the cell binds but
// has not run: jedi parses the builtins' stubs, 3 s in wasm the first
// time); see KernelConfig.WarmCompletion.
var warmCompletion = []interp.Request{
	{Op: "complete", Content: json.RawMessage(`{"code": "warm_up = [1]\nwarm_up.app", "cursor_pos": 25}`)},
	// jedi fills its caches over two completions: the second of the same
	// code still takes 0.3-0.6 s, the third 0.17 s.
	{Op: "complete", Content: json.RawMessage(`{"code": "warm_up = [1]\nwarm_up.app", "cursor_pos": 25}`)},
}

// discard drops what the warm-up cell publishes.
type discard struct{}

func (discard) Stream(string, string)  {}
func (discard) Publish(interp.Message) {}
func (discard) Input(context.Context, string, bool) (string, error) {
	return "", interp.ErrStdinNotAllowed
}

// snapshotStep asks the Python side to freeze or thaw (see
// wasmpy_kernel/snapshot.py), giving it the guest's environment, and decodes
// its answer into out (if not nil).
func (k *Kernel) snapshotStep(ctx context.Context, op string, cfg Config, out any) error {
	req, err := json.Marshal(map[string]any{"op": op, "env": guestEnv(cfg)})
	if err != nil {
		return err
	}
	reply, err := k.in.Dispatch(ctx, snapshotTarget, req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if out != nil {
		if err := json.Unmarshal(reply, out); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
	}
	return nil
}

// WaitSnapshot waits until the start-up snapshot this kernel took, if any,
// is saved.
func (k *Kernel) WaitSnapshot() { k.saving.Wait() }

// Interpreter is the sandboxed CPython behind the kernel.
func (k *Kernel) Interpreter() *Interpreter { return k.in }

// Info implements interp.Interpreter.
func (k *Kernel) Info() interp.LanguageInfo { return k.info }

// Interrupt implements interp.Interpreter: it interrupts the Call in
// progress, also when its dispatch has not reached the interpreter yet (it
// then begins with KeyboardInterrupt), or, between Calls, whatever runs.
func (k *Kernel) Interrupt() {
	k.intrMu.Lock()
	defer k.intrMu.Unlock()
	switch {
	case k.calls == 0:
		k.in.Interrupt()
	case k.dispatching:
		k.in.InterruptNext()
	default:
		k.intrPending = true
	}
}

// Close implements interp.Interpreter.
//
// Close first waits for the start-up snapshot being saved, if any, so that
// no file is written after Close returns.
func (k *Kernel) Close() error {
	k.saving.Wait()
	return k.in.Close()
}

// Call implements interp.Interpreter: the request goes to the Python side's
// "kernel" dispatch target, on the goroutine that owns the interpreter.
//
// If the interpreter is abandoned (an interrupt that could not land), Call
// returns at once with an error wrapping interp.ErrDead.
func (k *Kernel) Call(ctx context.Context, req interp.Request, ev interp.Events) (json.RawMessage, error) {
	type result struct {
		out json.RawMessage
		err error
	}
	k.intrMu.Lock()
	k.calls++
	k.intrMu.Unlock()
	defer func() {
		k.intrMu.Lock()
		if k.calls--; k.calls == 0 {
			k.intrPending = false
		}
		k.intrMu.Unlock()
	}()
	done := make(chan result, 1)
	go func() {
		var r result
		err := k.run(ctx, func() {
			k.intrMu.Lock()
			k.dispatching = true
			interrupted := k.intrPending
			k.intrPending = false
			k.intrMu.Unlock()
			r.out, r.err = k.dispatch(ctx, req, ev, interrupted)
			k.intrMu.Lock()
			k.dispatching = false
			k.in.CancelInterruptNext()
			k.intrMu.Unlock()
		})
		if err != nil {
			r.err = fmt.Errorf("%s: %w", req.Op, err)
		}
		done <- r
	}()
	select {
	case r := <-done:
		return r.out, r.err
	case <-k.in.Abandoned():
		return nil, k.in.Dead()
	}
}

// dispatch sends req to the Python side; interrupted says that an interrupt
// came for it before it began (the Python side then answers as for an
// interrupt outside user code, without running it).
func (k *Kernel) dispatch(ctx context.Context, req interp.Request, ev interp.Events, interrupted bool) (json.RawMessage, error) {
	orEmpty := func(b json.RawMessage) json.RawMessage {
		if len(b) == 0 {
			return json.RawMessage(`{}`)
		}
		return b
	}
	bufs := make([]string, len(req.Buffers))
	for i, b := range req.Buffers {
		bufs[i] = base64.StdEncoding.EncodeToString(b)
	}
	payload, err := json.Marshal(struct {
		Op          string          `json:"op"`
		Header      json.RawMessage `json:"header"`
		Content     json.RawMessage `json:"content"`
		Metadata    json.RawMessage `json:"metadata"`
		Buffers     []string        `json:"buffers"`
		Interrupted bool            `json:"interrupted,omitempty"`
	}{req.Op, orEmpty(req.Header), orEmpty(req.Content), orEmpty(req.Metadata), bufs, interrupted})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.Op, err)
	}
	k.setEvents(ev)
	defer k.setEvents(nil)
	out, err := k.in.Dispatch(ctx, "kernel", payload)
	if err != nil {
		if errors.Is(err, interp.ErrDead) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", req.Op, err)
	}
	if !json.Valid(out) {
		return nil, fmt.Errorf("%s: the interpreter's reply is not JSON", req.Op)
	}
	return out, nil
}

func (k *Kernel) setEvents(ev interp.Events) {
	k.mu.Lock()
	k.ev = ev
	k.mu.Unlock()
}

// events is where output goes now: the call in progress, or the background.
func (k *Kernel) events() interp.Events {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.eventsLocked()
}

func (k *Kernel) eventsLocked() interp.Events {
	if k.ev != nil {
		return k.ev
	}
	return k.bg
}

func (k *Kernel) stream(name, text string) {
	k.mu.Lock()
	parent, ev := k.streamParent, k.eventsLocked()
	k.mu.Unlock()
	if ev == nil {
		return
	}
	if parent == nil {
		ev.Stream(name, text)
		return
	}
	content, err := json.Marshal(struct {
		Name string `json:"name"`
		Text string `json:"text"`
	}{name, text})
	if err != nil {
		return // cannot happen: two strings
	}
	ev.Publish(interp.Message{Parent: parent, Type: "stream", Content: content})
}

// setStreamParent is the host function "stream.parent": the JSON header of
// the request that output now belongs to, or nothing for the request in
// progress.
func (k *Kernel) setStreamParent(_ context.Context, data []byte) ([]byte, error) {
	var parent json.RawMessage
	if len(data) > 0 {
		if !json.Valid(data) {
			return nil, errors.New("stream.parent: not JSON")
		}
		parent = append(json.RawMessage(nil), data...)
	}
	k.mu.Lock()
	k.streamParent = parent
	k.mu.Unlock()
	return nil, nil
}

func (k *Kernel) emit(ctx context.Context, data []byte) ([]byte, error) {
	var m struct {
		Parent   json.RawMessage `json:"parent"`
		Type     string          `json:"msg_type"`
		Content  json.RawMessage `json:"content"`
		Metadata json.RawMessage `json:"metadata"`
		Buffers  []string        `json:"buffers"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("emit: %w", err)
	}
	if m.Type == "" || len(m.Content) == 0 {
		return nil, errors.New("emit: msg_type and content are required")
	}
	msg := interp.Message{Parent: m.Parent, Type: m.Type, Content: m.Content, Metadata: m.Metadata}
	for _, b := range m.Buffers {
		raw, err := base64.StdEncoding.DecodeString(b)
		if err != nil {
			return nil, fmt.Errorf("emit: buffer: %w", err)
		}
		msg.Buffers = append(msg.Buffers, raw)
	}
	if ev := k.events(); ev != nil {
		ev.Publish(msg)
	}
	return nil, nil
}

func (k *Kernel) input(ctx context.Context, data []byte) ([]byte, error) {
	var req struct {
		Prompt   string `json:"prompt"`
		Password bool   `json:"password"`
	}
	if err := json.Unmarshal(data, &req); err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	ev := k.events()
	if ev == nil {
		return nil, errors.New("stdin-not-allowed")
	}
	var v string
	var err error
	if k.block == nil {
		v, err = ev.Input(ctx, req.Prompt, req.Password)
	} else {
		// Wait for the reply while the event loop goes on.
		ready := make(chan struct{})
		go func() {
			defer close(ready)
			v, err = ev.Input(ctx, req.Prompt, req.Password)
		}()
		if berr := k.block(ctx, ready); berr != nil {
			<-ready // ctx is done: the input request gives up too
		}
	}
	switch {
	case errors.Is(err, interp.ErrStdinNotAllowed):
		return nil, errors.New("stdin-not-allowed")
	case errors.Is(err, context.Canceled):
		return nil, KeyboardInterrupt("input interrupted")
	case err != nil:
		return nil, fmt.Errorf("input: %w", err)
	}
	return json.Marshal(map[string]string{"value": strings.TrimSuffix(v, "\n")})
}
