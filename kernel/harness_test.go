package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"wasmpy/kernel/internal/fakeinterp"
	"wasmpy/kernel/internal/testclient"
	"wasmpy/messaging"
)

// wait bounds every wait of these tests.
const wait = 10 * time.Second

// testWriter sends logs to t.Log until the test ends.
type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	var out io.Writer = io.Discard
	if os.Getenv("WASMPY_TEST_LOG") != "" {
		w := &testWriter{t: t}
		t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
		out = w
	}
	return slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type harness struct {
	t      *testing.T
	k      *Kernel
	c      *testclient.Client
	f      *fakeinterp.Factory
	runErr chan error
	cancel context.CancelFunc
}

// startKernel runs a kernel with a fake interpreter on 127.0.0.1 and a
// connected, ready client.
func startKernel(t *testing.T, f *fakeinterp.Factory, mod func(*Config)) *harness {
	t.Helper()
	if f == nil {
		f = &fakeinterp.Factory{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := testLogger(t)
	conn, err := messaging.Listen(ctx, messaging.ConnectionInfo{
		Transport: "tcp", IP: "127.0.0.1", Key: "test-key", SignatureScheme: "hmac-sha256",
	}, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	cfg := Config{Conn: conn, Factory: f.New, Log: log, Version: "9.9.9-test"}
	if mod != nil {
		mod(&cfg)
	}
	k, err := New(cfg)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	h := &harness{t: t, k: k, f: f, runErr: make(chan error, 1), cancel: cancel}
	go func() { h.runErr <- k.Run(ctx) }()
	c, err := testclient.Dial(ctx, conn.Info())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	h.c = c
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.runErr:
		case <-time.After(wait):
			t.Error("Run did not return after cancel")
		}
		c.Close()
	})
	if err := c.WaitReady(wait); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) send(ch messaging.Channel, msgType string, content any) *messaging.Message {
	h.t.Helper()
	m, err := h.c.Send(ch, msgType, content)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

func (h *harness) execute(code string, extra map[string]any) *messaging.Message {
	h.t.Helper()
	content := map[string]any{"code": code, "silent": false, "store_history": true,
		"user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": true}
	for k, v := range extra {
		content[k] = v
	}
	return h.send(messaging.Shell, "execute_request", content)
}

func (h *harness) reply(ch messaging.Channel, req *messaging.Message) *messaging.Message {
	h.t.Helper()
	m, err := h.c.WaitReply(ch, req, wait)
	if err != nil {
		h.t.Fatal(err)
	}
	return m
}

func (h *harness) iopub(req *messaging.Message) []*messaging.Message {
	h.t.Helper()
	ms, err := h.c.IOPubFor(req, wait)
	if err != nil {
		h.t.Fatal(err)
	}
	return ms
}

// runExecute sends code and returns its reply content and IOPub messages.
func (h *harness) runExecute(code string, extra map[string]any) (map[string]any, []*messaging.Message) {
	h.t.Helper()
	req := h.execute(code, extra)
	rep := h.reply(messaging.Shell, req)
	return decode(h.t, rep.Content), h.iopub(req)
}

// waitFor polls cond until it holds or the wait bound passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// runReturned waits for Run to return and gives its error.
func (h *harness) runReturned() error {
	h.t.Helper()
	select {
	case err := <-h.runErr:
		h.runErr <- err // for the cleanup
		return err
	case <-time.After(wait):
		h.t.Fatal("Run did not return")
		return errors.New("unreachable")
	}
}

func decode(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return m
}

// types lists the msg_types of ms, with the state of status messages.
func types(t *testing.T, ms []*messaging.Message) []string {
	var out []string
	for _, m := range ms {
		s := m.Header.MsgType
		if s == "status" {
			s += ":" + decode(t, m.Content)["execution_state"].(string)
		}
		out = append(out, s)
	}
	return out
}

func streamText(t *testing.T, ms []*messaging.Message, name string) string {
	var b strings.Builder
	for _, m := range ms {
		if m.Header.MsgType == "stream" {
			c := decode(t, m.Content)
			if c["name"] == name {
				b.WriteString(c["text"].(string))
			}
		}
	}
	return b.String()
}
