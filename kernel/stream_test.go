package kernel

import (
	"strings"
	"sync"
	"testing"
	"time"
)

type piece struct{ name, text string }

type recorder struct {
	mu     sync.Mutex
	pieces []piece
}

func (r *recorder) emit(name, text string) {
	r.mu.Lock()
	r.pieces = append(r.pieces, piece{name, text})
	r.mu.Unlock()
}

func (r *recorder) get() []piece {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]piece(nil), r.pieces...)
}

func TestCoalescerSizeAndOrder(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		writes []piece
		do     bool // call Do after the writes
		want   []piece
	}{
		{
			name:   "small writes wait",
			max:    100,
			writes: []piece{{"stdout", "a"}, {"stdout", "b"}},
			want:   nil,
		},
		{
			name:   "flush at max",
			max:    4,
			writes: []piece{{"stdout", "ab"}, {"stdout", "cd"}, {"stdout", "e"}},
			want:   []piece{{"stdout", "abcd"}},
		},
		{
			name:   "stream switch keeps order",
			max:    100,
			writes: []piece{{"stdout", "a"}, {"stderr", "b"}, {"stdout", "c"}},
			do:     true,
			want:   []piece{{"stdout", "a"}, {"stderr", "b"}, {"stdout", "c"}},
		},
		{
			name:   "incomplete utf-8 held back at max",
			max:    4,
			writes: []piece{{"stdout", "abc\xe2\x82"}, {"stdout", "\xac"}},
			do:     true,
			want:   []piece{{"stdout", "abc"}, {"stdout", "€"}},
		},
		{
			name:   "Do flushes everything",
			max:    100,
			writes: []piece{{"stdout", "x\xe2"}},
			do:     true,
			want:   []piece{{"stdout", "x\xe2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			c := newCoalescer(time.Hour, tt.max, r.emit)
			defer c.Close()
			for _, w := range tt.writes {
				c.Write(w.name, w.text)
			}
			if tt.do {
				ran := false
				c.Do(func() { ran = true; r.emit("marker", "") })
				if !ran {
					t.Fatal("Do did not run f")
				}
				tt.want = append(tt.want, piece{"marker", ""})
			}
			got := r.get()
			if len(got) != len(tt.want) {
				t.Fatalf("emitted %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("emitted %q, want %q", got, tt.want)
				}
			}
		})
	}
}

func TestCoalescerInterval(t *testing.T) {
	var r recorder
	c := newCoalescer(30*time.Millisecond, 1<<20, r.emit)
	defer c.Close()
	start := time.Now()
	var want strings.Builder
	for time.Since(start) < 300*time.Millisecond {
		c.Write("stdout", "x")
		want.WriteString("x")
		time.Sleep(100 * time.Microsecond)
	}
	c.Flush()
	got := r.get()
	var all strings.Builder
	for _, p := range got {
		all.WriteString(p.text)
	}
	if all.String() != want.String() {
		t.Fatalf("lost text: got %d bytes, want %d", all.Len(), want.Len())
	}
	// ~300ms at one flush per 30ms: about 10 pieces, certainly not thousands,
	// and more than one (the timer fires while writes go on).
	if len(got) < 2 || len(got) > 40 {
		t.Errorf("%d pieces for %d writes over 300ms", len(got), want.Len())
	}
}

func TestCoalescerTimerFlushesIdleText(t *testing.T) {
	var r recorder
	c := newCoalescer(20*time.Millisecond, 1<<20, r.emit)
	defer c.Close()
	c.Write("stdout", "hello")
	deadline := time.Now().Add(5 * time.Second)
	for len(r.get()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := r.get(); len(got) != 1 || got[0].text != "hello" {
		t.Fatalf("got %q, want one piece hello", got)
	}
}

func TestCoalescerClose(t *testing.T) {
	var r recorder
	c := newCoalescer(time.Hour, 100, r.emit)
	c.Write("stdout", "pending")
	c.Close()
	if c.Write("stdout", "late") {
		t.Error("Write after Close reported true")
	}
	if c.Do(func() { t.Error("Do ran after Close") }) {
		t.Error("Do after Close reported true")
	}
	c.Close()
	if got := r.get(); len(got) != 1 || got[0].text != "pending" {
		t.Fatalf("got %q, want the pending text once", got)
	}
}

func TestCompleteUTF8(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"ab\xe2", 2},
		{"ab\xe2\x82", 2},
		{"ab\xe2\x82\xac", 5},
		{"\xf0\x9f\x98", 0},
		{"a\x80", 2}, // invalid, not incomplete: sent as is
	}
	for _, tt := range tests {
		if got := completeUTF8([]byte(tt.in)); got != tt.want {
			t.Errorf("completeUTF8(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}
