package wasmpy

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"wasmpy/interp"
)

// KernelConfig configures an interpreter that runs the Python side of the
// kernel (the wasmpy_kernel package: IPython's shell inside the sandbox).
type KernelConfig struct {
	Config
	// Setup runs after CPython started and before IPython does: other
	// packages (jsbridge, loop) register their host functions here.
	Setup []func(ctx context.Context, in *Interpreter) error
}

// Kernel is an interp.Interpreter backed by a sandboxed CPython running
// wasmpy_kernel. The Python side answers each request; what it publishes
// meanwhile reaches the Events of the call in progress.
type Kernel struct {
	in   *Interpreter
	info interp.LanguageInfo

	mu sync.Mutex
	ev interp.Events // of the call in progress, or of the last one
}

var _ interp.Interpreter = (*Kernel)(nil)

// NewKernel starts an interpreter and IPython inside it.
func (r *Runtime) NewKernel(ctx context.Context, cfg KernelConfig) (*Kernel, error) {
	k := &Kernel{}
	cfg.Config.Output = k.stream
	in, err := r.NewInterpreter(ctx, cfg.Config)
	if err != nil {
		return nil, err
	}
	k.in = in
	in.Register("emit", k.emit)
	in.Register("input", k.input)
	for _, setup := range cfg.Setup {
		if err := setup(ctx, in); err != nil {
			in.Close()
			return nil, fmt.Errorf("set up interpreter: %w", err)
		}
	}
	if err := in.Exec(ctx, "import wasmpy_kernel\nwasmpy_kernel.start()\n"); err != nil {
		in.Close()
		return nil, fmt.Errorf("start IPython in the sandbox: %w", err)
	}
	reply, err := k.Call(ctx, "kernel_info", json.RawMessage(`{}`), nil)
	if err != nil {
		in.Close()
		return nil, fmt.Errorf("kernel_info: %w", err)
	}
	var ki struct {
		LanguageInfo interp.LanguageInfo `json:"language_info"`
		Banner       string              `json:"banner"`
	}
	if err := json.Unmarshal(reply, &ki); err != nil {
		in.Close()
		return nil, fmt.Errorf("kernel_info reply: %w", err)
	}
	k.info = ki.LanguageInfo
	k.info.Banner = ki.Banner
	return k, nil
}

// Interpreter is the sandboxed CPython behind the kernel.
func (k *Kernel) Interpreter() *Interpreter { return k.in }

// Info implements interp.Interpreter.
func (k *Kernel) Info() interp.LanguageInfo { return k.info }

// Interrupt implements interp.Interpreter.
func (k *Kernel) Interrupt() { k.in.Interrupt() }

// Close implements interp.Interpreter.
func (k *Kernel) Close() error { return k.in.Close() }

// Call implements interp.Interpreter: the request goes to the Python side's
// "kernel" dispatch target.
func (k *Kernel) Call(ctx context.Context, op string, content json.RawMessage, ev interp.Events) (json.RawMessage, error) {
	if len(content) == 0 {
		content = json.RawMessage(`{}`)
	}
	req, err := json.Marshal(struct {
		Op      string          `json:"op"`
		Content json.RawMessage `json:"content"`
	}{op, content})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	k.mu.Lock()
	k.ev = ev
	k.mu.Unlock()
	out, err := k.in.Dispatch(ctx, "kernel", req)
	if err != nil {
		if errors.Is(err, interp.ErrDead) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if !json.Valid(out) {
		return nil, fmt.Errorf("%s: the interpreter's reply is not JSON", op)
	}
	return out, nil
}

func (k *Kernel) events() interp.Events {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.ev
}

func (k *Kernel) stream(name, text string) {
	if ev := k.events(); ev != nil {
		ev.Stream(name, text)
	}
}

func (k *Kernel) emit(ctx context.Context, data []byte) ([]byte, error) {
	var m struct {
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
	msg := interp.Message{Type: m.Type, Content: m.Content, Metadata: m.Metadata}
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
	v, err := ev.Input(ctx, req.Prompt, req.Password)
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
