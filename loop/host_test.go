package loop

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// fakeHost stands in for an interpreter: Python's side of the protocol is
// played by onDispatch.
type fakeHost struct {
	mu         sync.Mutex
	fns        map[string]func(context.Context, []byte) ([]byte, error)
	calls      []string
	onDispatch func(kind byte, id uint32, rest []byte) ([]byte, error)
}

func (h *fakeHost) Register(name string, fn func(context.Context, []byte) ([]byte, error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fns == nil {
		h.fns = map[string]func(context.Context, []byte) ([]byte, error){}
	}
	h.fns[name] = fn
}

func (h *fakeHost) Dispatch(ctx context.Context, target string, data []byte) ([]byte, error) {
	if target != Target {
		return nil, errors.New("wrong target " + target)
	}
	if ctx.Done() != nil {
		return nil, errors.New("dispatched with a cancellable context")
	}
	h.mu.Lock()
	h.calls = append(h.calls, string(data[:1]))
	h.mu.Unlock()
	return h.onDispatch(data[0], binary.LittleEndian.Uint32(data[1:5]), data[5:])
}

// call is Python calling a host function (on the loop goroutine).
func (h *fakeHost) call(ctx context.Context, name string, data []byte) ([]byte, error) {
	h.mu.Lock()
	fn := h.fns[name]
	h.mu.Unlock()
	return fn(ctx, data)
}

func (h *fakeHost) kinds() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.calls, "")
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func lidNs(lid uint32, ns int64) []byte {
	return binary.LittleEndian.AppendUint64(le32(lid), uint64(ns))
}

func flags(f byte, ns int64) []byte {
	return binary.LittleEndian.AppendUint64([]byte{f}, uint64(ns))
}

func TestAttachProtocol(t *testing.T) {
	l := start(t)
	ctx := ctxT(t, 10*time.Second)
	h := &fakeHost{}
	if err := Attach(ctx, l, h); err != nil {
		t.Fatal(err)
	}
	if v, err := h.call(ctx, "loop.hello", nil); err != nil || string(v) != protocolVersion {
		t.Fatalf("loop.hello: %q %v", v, err)
	}

	t.Run("soon is deduplicated; a drain may ask for another and for a timer", func(t *testing.T) {
		drains := 0
		timers := 0
		done := make(chan struct{})
		h.onDispatch = func(kind byte, id uint32, _ []byte) ([]byte, error) {
			switch kind {
			case 'd':
				drains++
				if drains == 1 {
					return flags(flagDrain|flagTimer, int64(5*time.Millisecond)), nil
				}
				return nil, nil
			case 't':
				timers++
				close(done)
			}
			return nil, nil
		}
		l.Do(ctx, func() {
			for i := 0; i < 3; i++ {
				h.call(ctx, "loop.soon", le32(7))
			}
		})
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("the timer a drain asked for never fired")
		}
		l.Do(ctx, func() {})
		if drains != 2 || timers != 1 {
			t.Errorf("%d drains (want 2: one for three soons, one asked by the first), %d timers", drains, timers)
		}
	})

	t.Run("a timer is replaced, then cleared", func(t *testing.T) {
		var fired []time.Duration
		t0 := time.Now()
		h.onDispatch = func(kind byte, id uint32, _ []byte) ([]byte, error) {
			fired = append(fired, time.Since(t0))
			return nil, nil
		}
		l.Do(ctx, func() {
			h.call(ctx, "loop.timer", lidNs(8, int64(time.Hour)))
			h.call(ctx, "loop.timer", lidNs(8, int64(20*time.Millisecond)))
		})
		time.Sleep(60 * time.Millisecond)
		l.Do(ctx, func() {
			h.call(ctx, "loop.timer", lidNs(8, int64(20*time.Millisecond)))
			h.call(ctx, "loop.timer", lidNs(8, -1))
		})
		time.Sleep(60 * time.Millisecond)
		var pending int
		l.Do(ctx, func() { pending = l.Timers() })
		if len(fired) != 1 || fired[0] < 20*time.Millisecond || pending != 0 {
			t.Errorf("fired at %v (want once, after 20ms), %d timers pending", fired, pending)
		}
	})

	t.Run("a failed drain is retried once", func(t *testing.T) {
		n := 0
		h.onDispatch = func(kind byte, id uint32, _ []byte) ([]byte, error) {
			n++
			return nil, errors.New("KeyboardInterrupt at the door")
		}
		l.Do(ctx, func() { h.call(ctx, "loop.soon", le32(9)) })
		time.Sleep(50 * time.Millisecond)
		l.Do(ctx, func() {})
		if n != 2 {
			t.Errorf("%d dispatches, want 2", n)
		}
	})

	t.Run("nested run until stop; an interrupt ends it", func(t *testing.T) {
		var order []string
		h.onDispatch = func(kind byte, id uint32, _ []byte) ([]byte, error) {
			order = append(order, "drain")
			if _, err := h.call(ctx, "loop.stop", le32(100)); err != nil {
				t.Error(err)
			}
			return nil, nil
		}
		var runErr, intErr error
		var took time.Duration
		l.Do(ctx, func() {
			h.call(ctx, "loop.soon", le32(10))
			_, runErr = h.call(ctx, "loop.run", le32(100))
			order = append(order, "run returned")
			// A stop before the run starts ends it at once.
			h.call(ctx, "loop.stop", le32(101))
			h.call(ctx, "loop.run", le32(101))
			order = append(order, "pre-stopped run returned")
			ictx, cancel := context.WithCancel(ctx)
			time.AfterFunc(20*time.Millisecond, cancel)
			t0 := time.Now()
			_, intErr = h.call(ictx, "loop.run", le32(102))
			took = time.Since(t0)
		})
		if runErr != nil || strings.Join(order, ",") != "drain,run returned,pre-stopped run returned" {
			t.Errorf("nested run: %v, order %v", runErr, order)
		}
		if !errors.Is(intErr, context.Canceled) || took > time.Second {
			t.Errorf("interrupted run: %v after %v, want context.Canceled quickly", intErr, took)
		}
	})

	t.Run("close forgets the loop and its timer", func(t *testing.T) {
		n := 0
		h.onDispatch = func(kind byte, id uint32, _ []byte) ([]byte, error) { n++; return nil, nil }
		var pending int
		l.Do(ctx, func() {
			h.call(ctx, "loop.timer", lidNs(11, int64(time.Millisecond)))
			h.call(ctx, "loop.soon", le32(11))
			h.call(ctx, "loop.close", le32(11))
		})
		time.Sleep(30 * time.Millisecond)
		l.Do(ctx, func() { pending = l.Timers() })
		if n != 0 || pending != 0 {
			t.Errorf("%d dispatches to a closed loop, %d timers", n, pending)
		}
	})

	t.Run("fetch completes with 'c'; the default policy denies the network", func(t *testing.T) {
		got := make(chan string, 2)
		h.onDispatch = func(kind byte, id uint32, rest []byte) ([]byte, error) {
			if kind != 'c' {
				return nil, nil
			}
			if rest[0] == 1 {
				var e map[string]string
				json.Unmarshal(rest[1:], &e)
				got <- e["kind"]
				return nil, nil
			}
			n := binary.LittleEndian.Uint32(rest[1:])
			m := strings.Split(string(rest[5:5+n]), "\x00")
			got <- string(rest[5+n:]) + " " + m[0] + " " + m[5] + "=" + m[6]
			return nil, nil
		}
		req := func(cid uint32, url string) []byte {
			j, _ := json.Marshal(fetchRequest{URL: url})
			b := binary.LittleEndian.AppendUint32(le32(cid), uint32(len(j)))
			return append(b, j...)
		}
		l.Do(ctx, func() {
			if _, err := h.call(ctx, "loop.fetch", req(1, "data:text/plain,hi")); err != nil {
				t.Error(err)
			}
			h.call(ctx, "loop.fetch", req(2, "http://127.0.0.1:1/"))
		})
		var res []string
		for i := 0; i < 2; i++ {
			select {
			case s := <-got:
				res = append(res, s)
			case <-time.After(5 * time.Second):
				t.Fatal("no completion")
			}
		}
		if !(res[0] == "hi 200 content-type=text/plain" && res[1] == "denied") && !(res[1] == "hi 200 content-type=text/plain" && res[0] == "denied") {
			t.Errorf("completions %q", res)
		}
	})
}

// TestFetchReplyFields: the completion of a fetch is NUL-separated valid
// UTF-8 (what webloop's pyodide.http splits), whatever the server sent.
func TestFetchReplyFields(t *testing.T) {
	tests := []struct {
		name string
		resp Response
		want []string
	}{
		{"plain", Response{Status: 200, StatusText: "OK", URL: "http://h/x", Type: "basic",
			Header: [][2]string{{"a", "1"}, {"b", "two words"}}},
			[]string{"200", "OK", "http://h/x", "", "basic", "a", "1", "b", "two words"}},
		{"redirected, no headers", Response{Status: 404, StatusText: "Not Found", URL: "http://h/é", Redirected: true, Type: "basic"},
			[]string{"404", "Not Found", "http://h/é", "1", "basic"}},
		{"NUL and invalid UTF-8 replaced", Response{Status: 200, StatusText: "O\x00K", URL: "u", Type: "basic",
			Header: [][2]string{{"x", "a\xffb"}, {"y", "\x00"}}},
			[]string{"200", "O\uFFFDK", "u", "", "basic", "x", "a\uFFFDb", "y", "\uFFFD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.resp.Body = []byte("body\x00bytes")
			out := fetchReply(&tt.resp, nil)
			if out[0] != 0 {
				t.Fatalf("kind %d", out[0])
			}
			n := binary.LittleEndian.Uint32(out[1:])
			meta := out[5 : 5+n]
			if !utf8.Valid(meta) {
				t.Errorf("meta is not UTF-8: %q", meta)
			}
			if got := strings.Split(string(meta), "\x00"); !slices.Equal(got, tt.want) {
				t.Errorf("fields %q, want %q", got, tt.want)
			}
			if body := string(out[5+n:]); body != "body\x00bytes" {
				t.Errorf("body %q", body)
			}
		})
	}
}
