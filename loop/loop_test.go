package loop

import (
	"context"
	"errors"
	"math/rand"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// start runs a new loop on its own goroutine for the test's duration.
func start(t *testing.T) *Loop {
	t.Helper()
	l := New(nil)
	errc := make(chan error, 1)
	go func() { errc <- l.Run(context.Background()) }()
	t.Cleanup(func() {
		l.Stop()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run did not return after Stop")
		}
	})
	// Wait until the loop goroutine owns the loop.
	if err := l.Do(ctxT(t, 5*time.Second), func() {}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	return l
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// recorder collects events; it is only touched on the loop goroutine, and
// read after a Do (which orders memory).
type recorder struct{ got []string }

func (r *recorder) add(s string) func() { return func() { r.got = append(r.got, s) } }

func TestOrdering(t *testing.T) {
	l := start(t)
	ctx := ctxT(t, 5*time.Second)
	tests := []struct {
		name  string
		setup func(r *recorder)
		want  []string
	}{
		{
			name: "microtasks run before the next macrotask",
			setup: func(r *recorder) {
				l.Post(func() {
					r.add("post1")()
					l.Microtask(r.add("micro1"))
					l.Microtask(func() {
						r.add("micro2")()
						l.Microtask(r.add("micro3 (queued by a microtask)"))
					})
				})
				l.Post(r.add("post2"))
			},
			want: []string{"post1", "micro1", "micro2", "micro3 (queued by a microtask)", "post2"},
		},
		{
			name: "a microtask queued by a timer runs before the next due timer",
			setup: func(r *recorder) {
				l.SetTimer(0, false, func() {
					r.add("timer1")()
					l.Microtask(r.add("micro of timer1"))
				})
				l.SetTimer(0, false, r.add("timer2"))
			},
			want: []string{"timer1", "micro of timer1", "timer2"},
		},
		{
			name: "the current task's microtasks run before due timers and posted I/O",
			setup: func(r *recorder) {
				l.SetTimer(0, false, r.add("timer"))
				go l.Post(r.add("io from another goroutine"))
				time.Sleep(20 * time.Millisecond) // the timer is due, the post queued
				l.Microtask(r.add("micro"))
			},
			want: []string{"micro", "timer", "io from another goroutine"},
		},
		{
			name: "timers fire after their delay, shortest first",
			setup: func(r *recorder) {
				l.SetTimer(30*time.Millisecond, false, r.add("30ms"))
				l.SetTimer(10*time.Millisecond, false, r.add("10ms"))
				l.Post(r.add("post"))
				l.SetTimer(20*time.Millisecond, false, r.add("20ms"))
			},
			want: []string{"post", "10ms", "20ms", "30ms"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{}
			if err := l.Do(ctx, func() { tc.setup(r) }); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(3 * time.Second)
			for {
				var n int
				if err := l.Do(ctx, func() { n = len(r.got) }); err != nil {
					t.Fatal(err)
				}
				if n >= len(tc.want) || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			var got []string
			l.Do(ctx, func() { got = slices.Clone(r.got) })
			if !slices.Equal(got, tc.want) {
				t.Errorf("order:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestThousandTimersInDeadlineOrder(t *testing.T) {
	l := start(t)
	ctx := ctxT(t, 10*time.Second)
	type set struct {
		id   TimerID
		when time.Time
		seq  uint64
	}
	const n = 1000
	var (
		sets  []set
		fired []TimerID
		early []TimerID
		whens = map[TimerID]time.Time{}
	)
	rng := rand.New(rand.NewSource(1))
	done := make(chan struct{})
	start := time.Now()
	err := l.Do(ctx, func() {
		for i := 0; i < n; i++ {
			d := time.Duration(rng.Intn(50)) * time.Millisecond / 2 // many equal delays
			var id TimerID
			id = l.SetTimer(d, false, func() {
				if time.Now().Before(whens[id]) {
					early = append(early, id)
				}
				fired = append(fired, id)
				if len(fired) == n {
					close(done)
				}
			})
			tm := l.byID[id]
			whens[id] = tm.when
			sets = append(sets, set{id, tm.when, tm.seq})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("timers did not all fire within 5s")
	}
	elapsed := time.Since(start)
	var got []TimerID
	l.Do(ctx, func() { got = slices.Clone(fired) })
	sort.SliceStable(sets, func(i, j int) bool {
		if sets[i].when.Equal(sets[j].when) {
			return sets[i].seq < sets[j].seq
		}
		return sets[i].when.Before(sets[j].when)
	})
	want := make([]TimerID, len(sets))
	for i, s := range sets {
		want[i] = s.id
	}
	if !slices.Equal(got, want) {
		t.Errorf("timers fired out of (deadline, set order) order")
	}
	if len(early) > 0 {
		t.Errorf("%d timers fired before their deadline", len(early))
	}
	t.Logf("1000 timers (0-24.5ms) all fired in order after %v", elapsed)
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestIdleUsesNoCPU(t *testing.T) {
	l := start(t)
	ctx := ctxT(t, 5*time.Second)
	// A far timer must not cause wakeups either.
	l.Do(ctx, func() { l.SetTimer(time.Hour, false, func() {}) })
	time.Sleep(50 * time.Millisecond)
	w0 := l.Stats().Wakeups
	c0 := cpuTime(t)
	time.Sleep(time.Second)
	cpu := cpuTime(t) - c0
	w := l.Stats().Wakeups - w0
	t.Logf("idle for 1s: %d wakeups, %v CPU for the whole test process", w, cpu)
	if w != 0 {
		t.Errorf("idle loop woke up %d times", w)
	}
	if cpu > 50*time.Millisecond {
		t.Errorf("idle loop used %v of CPU in 1s", cpu)
	}
}

func TestNestedRunUntil(t *testing.T) {
	l := start(t)
	ctx := ctxT(t, 5*time.Second)
	r := &recorder{}
	var errs []error
	err := l.Do(ctx, func() {
		r.add("outer task starts")()
		l.Post(r.add("posted before nesting"))
		l.SetTimer(5*time.Millisecond, false, r.add("timer in nested run"))
		l.Microtask(r.add("microtask of the outer task"))
		count := func(s string) func() bool {
			return func() bool { return slices.Contains(r.got, s) }
		}
		errs = append(errs, l.RunUntil(ctx, count("timer in nested run")))
		r.add("outer resumes")()
		// Nested twice.
		l.Post(func() {
			r.add("level 1")()
			l.SetTimer(time.Millisecond, false, r.add("level 2 timer"))
			errs = append(errs, l.RunUntil(ctx, count("level 2 timer")))
			r.add("level 1 resumes")()
		})
		errs = append(errs, l.RunUntil(ctx, count("level 1 resumes")))
		if l.Depth() != 0 {
			r.add("depth not restored")()
		}
		// An interrupt: the nested run's ctx is cancelled from another goroutine.
		ictx, cancel := context.WithCancel(ctx)
		time.AfterFunc(30*time.Millisecond, cancel)
		t0 := time.Now()
		err := l.RunUntil(ictx, nil)
		if !errors.Is(err, context.Canceled) || time.Since(t0) > time.Second {
			errs = append(errs, errors.New("cancelled RunUntil did not return context.Canceled promptly"))
		}
		r.add("after interrupt")()
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range errs {
		if e != nil {
			t.Errorf("RunUntil: %v", e)
		}
	}
	want := []string{
		"outer task starts", "microtask of the outer task", "posted before nesting",
		"timer in nested run", "outer resumes", "level 1", "level 2 timer", "level 1 resumes",
		"after interrupt",
	}
	var got []string
	l.Do(ctx, func() { got = slices.Clone(r.got) })
	if !slices.Equal(got, want) {
		t.Errorf("order:\n got %q\nwant %q", got, want)
	}
	if err := l.RunUntil(ctx, nil); !errors.Is(err, ErrNotOnLoop) {
		t.Errorf("RunUntil off the loop: %v, want ErrNotOnLoop", err)
	}
}

func TestRunUntilBorrowsAnIdleLoop(t *testing.T) {
	l := New(nil)
	ctx := ctxT(t, 5*time.Second)
	n := 0
	l.Post(func() { n++ })
	l.SetTimer(5*time.Millisecond, false, func() { n++ })
	if err := l.RunUntil(ctx, func() bool { return n == 2 }); err != nil {
		t.Fatalf("RunUntil without Run: %v", err)
	}
	if l.OnLoop() {
		t.Error("still the loop goroutine after RunUntil returned")
	}
	errc := make(chan error, 1)
	go func() { errc <- l.Run(ctx) }()
	if err := l.Do(ctx, func() { n++ }); err != nil || n != 3 {
		t.Errorf("Run after a borrowed RunUntil: %v, n=%d", err, n)
	}
	l.Stop()
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func TestStopDropsPendingTimers(t *testing.T) {
	l := New(nil)
	ctx := ctxT(t, 5*time.Second)
	errc := make(chan error, 1)
	go func() { errc <- l.Run(context.Background()) }()
	var fired atomic.Int32
	if err := l.Do(ctx, func() {
		for i := 0; i < 100; i++ {
			l.SetTimer(time.Duration(20+i)*time.Millisecond, false, func() { fired.Add(1) })
		}
		l.SetTimer(time.Millisecond, true, func() { fired.Add(1000) })
		l.ClearTimer(l.SetTimer(0, false, func() { fired.Add(1000) }))
	}); err != nil {
		t.Fatal(err)
	}
	l.Stop()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run after Stop: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return after Stop")
	}
	time.Sleep(150 * time.Millisecond)
	// The repeating 1ms timer (counted in thousands) may have fired before Stop.
	if n := fired.Load() % 1000; n != 0 {
		t.Errorf("%d timers fired after Stop", n)
	}
	if err := l.Do(ctx, func() {}); !errors.Is(err, ErrStopped) {
		t.Errorf("Do after Stop: %v, want ErrStopped", err)
	}
	l.Post(func() { t.Error("a post after Stop ran") })
	if err := l.Run(ctx); err != nil {
		t.Errorf("Run of a stopped loop: %v, want nil", err)
	}
}

func TestDoFromManyGoroutines(t *testing.T) {
	l := start(t)
	ctx := ctxT(t, 10*time.Second)
	counter := 0 // touched only on the loop goroutine
	var wg sync.WaitGroup
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if err := l.Do(ctx, func() { counter++ }); err != nil {
					t.Error(err)
					return
				}
				l.Post(func() { counter++ })
			}
		}()
	}
	wg.Wait()
	var got int
	// Posts are FIFO with Do, so by now all 10,000 ran.
	if err := l.Do(ctx, func() { got = counter }); err != nil {
		t.Fatal(err)
	}
	if got != 10000 {
		t.Errorf("counter = %d, want 10000", got)
	}
}

func TestDo(t *testing.T) {
	l := start(t)
	ctx := ctxT(t, 5*time.Second)
	t.Run("panic becomes an error", func(t *testing.T) {
		if err := l.Do(ctx, func() { panic("boom") }); err == nil {
			t.Error("want an error")
		}
		if err := l.Do(ctx, func() {}); err != nil {
			t.Errorf("loop unusable after a panic: %v", err)
		}
	})
	t.Run("on the loop it runs at once", func(t *testing.T) {
		ran := false
		err := l.Do(ctx, func() {
			if !l.OnLoop() {
				t.Error("OnLoop false inside a task")
			}
			l.Do(ctx, func() { ran = true })
			if !ran {
				t.Error("nested Do did not run at once")
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if l.OnLoop() {
			t.Error("OnLoop true off the loop")
		}
	})
	t.Run("cancelled before it starts, it never runs", func(t *testing.T) {
		block := make(chan struct{})
		l.Post(func() { <-block })
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		var ran atomic.Bool
		err := l.Do(cctx, func() { ran.Store(true) })
		close(block)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Do: %v, want DeadlineExceeded", err)
		}
		l.Do(ctx, func() {})
		if ran.Load() {
			t.Error("abandoned task ran")
		}
	})
	t.Run("Run twice", func(t *testing.T) {
		if err := l.Run(ctx); !errors.Is(err, ErrRunning) {
			t.Errorf("second Run: %v, want ErrRunning", err)
		}
	})
}

func TestTimers(t *testing.T) {
	l := start(t)
	ctx := ctxT(t, 5*time.Second)
	t.Run("repeat until cleared", func(t *testing.T) {
		n := 0
		var id TimerID
		done := make(chan struct{})
		l.Do(ctx, func() {
			id = l.SetTimer(2*time.Millisecond, true, func() {
				n++
				if n == 5 {
					l.ClearTimer(id)
					close(done)
				}
			})
		})
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatal("repeating timer did not fire 5 times")
		}
		time.Sleep(20 * time.Millisecond)
		var got, pending int
		l.Do(ctx, func() { got, pending = n, l.Timers() })
		if got != 5 || pending != 0 {
			t.Errorf("fired %d times (want 5), %d timers pending (want 0)", got, pending)
		}
	})
	t.Run("a due timer cleared by an earlier task does not run", func(t *testing.T) {
		ran := false
		var second TimerID
		l.Do(ctx, func() {
			l.SetTimer(0, false, func() { l.ClearTimer(second) })
			second = l.SetTimer(0, false, func() { ran = true })
			time.Sleep(2 * time.Millisecond) // both due in the same turn
		})
		time.Sleep(20 * time.Millisecond)
		l.Do(ctx, func() {})
		if ran {
			t.Error("cleared timer ran")
		}
	})
}

// Idle is what lets a Python drain go on with the callbacks it scheduled
// (loop.more): it must say no whenever anything else could run now.
func TestIdle(t *testing.T) {
	l := start(t)
	now := time.Now()
	cases := []struct {
		name  string
		setup func() (undo func())
		want  bool
	}{
		{"nothing pending", func() func() { return func() {} }, true},
		{"a timer not due", func() func() {
			id := l.SetTimer(time.Hour, false, func() {})
			return func() { l.ClearTimer(id) }
		}, true},
		{"a timer due", func() func() {
			id := l.SetTimer(0, false, func() {})
			return func() { l.ClearTimer(id) }
		}, false},
		{"a microtask", func() func() {
			l.Microtask(func() {})
			return func() { l.drainMicro() }
		}, false},
		{"posted work", func() func() {
			l.Post(func() {})
			return func() {}
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got bool
			if err := l.Do(ctxT(t, 5*time.Second), func() {
				undo := c.setup()
				got = l.Idle(now.Add(time.Millisecond))
				undo()
			}); err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("Idle = %v, want %v", got, c.want)
			}
		})
	}
}
