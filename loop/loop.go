package loop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrStopped is returned by Do and RunUntil once the loop was stopped.
	ErrStopped = errors.New("event loop stopped")
	// ErrNotOnLoop is returned by RunUntil called off the loop goroutine.
	ErrNotOnLoop = errors.New("not on the event loop goroutine")
	// ErrRunning is returned by Run when the loop already runs.
	ErrRunning = errors.New("event loop is already running")
)

// Loop is an event loop with browser-like ordering: one macrotask (a posted
// function or a due timer) at a time, then all microtasks (those they queue
// included), then the next macrotask. In each turn the timers that are due
// run first, by deadline (equal deadlines in the order they were set), then
// the functions posted before the turn began, in order; what they add waits
// for the next turn. Post, Do, Stop, Stopped, Done, OnLoop and Stats may be
// called from any goroutine; the other methods only on the loop goroutine
// (inside Run or RunUntil, from its tasks).
type Loop struct {
	log *slog.Logger

	mu      sync.Mutex
	inbox   []func() // posted from any goroutine
	stopped bool

	wake     chan struct{}
	stopCh   chan struct{}
	stopOnce sync.Once
	owner    atomic.Int64 // goroutine id of Run, 0 when not running

	wakeups, tasks, micros atomic.Uint64

	// Touched on the loop goroutine only.
	ready  queue[entry]
	micro  queue[func()]
	timers timerHeap
	byID   map[TimerID]*timer
	lastID TimerID
	seq    uint64
	clock  *time.Timer
	ctxs   []context.Context // of Run and the nested runs in progress
	depth  int
}

// entry is a macrotask: a function, or a timer that came due.
type entry struct {
	fn func()
	t  *timer
}

// Stats counts what the loop did, for tests and benchmarks.
type Stats struct {
	Wakeups    uint64 // times the loop woke up from waiting
	Tasks      uint64 // macrotasks run (posted functions and timers)
	Microtasks uint64
}

// New makes a loop; nothing runs until Run. A nil log means slog.Default().
func New(log *slog.Logger) *Loop {
	if log == nil {
		log = slog.Default()
	}
	return &Loop{
		log:    log,
		wake:   make(chan struct{}, 1),
		stopCh: make(chan struct{}),
		byID:   map[TimerID]*timer{},
	}
}

// Run makes the calling goroutine the loop goroutine and runs tasks until ctx
// is done (it returns ctx's error) or Stop is called (it returns nil). It
// sleeps while there is nothing to do. Pending timers and tasks are dropped
// when the loop stops.
func (l *Loop) Run(ctx context.Context) error {
	if !l.owner.CompareAndSwap(0, goid()) {
		return ErrRunning
	}
	defer l.owner.Store(0)
	if l.clock == nil {
		l.clock = time.NewTimer(time.Hour)
		l.clock.Stop()
	}
	l.ctxs = append(l.ctxs[:0], ctx)
	defer func() { l.ctxs = l.ctxs[:0] }()
	err := l.run(ctx, nil)
	if errors.Is(err, ErrStopped) {
		l.drop()
		return nil
	}
	return err
}

// Stop ends Run (from any goroutine). Pending timers and tasks are dropped;
// later Posts are ignored and Do fails with ErrStopped. A task that is running
// finishes first.
func (l *Loop) Stop() {
	l.stopOnce.Do(func() {
		l.mu.Lock()
		l.stopped = true
		l.inbox = nil
		l.mu.Unlock()
		close(l.stopCh)
	})
}

// Stopped reports whether Stop was called.
func (l *Loop) Stopped() bool {
	select {
	case <-l.stopCh:
		return true
	default:
		return false
	}
}

// Done is closed when the loop is stopped.
func (l *Loop) Done() <-chan struct{} { return l.stopCh }

// OnLoop reports whether the caller runs on the loop goroutine (inside Run).
func (l *Loop) OnLoop() bool {
	o := l.owner.Load()
	return o != 0 && o == goid()
}

// Post enqueues fn as a macrotask (an I/O completion, say). Any goroutine.
// It is dropped if the loop is stopped.
func (l *Loop) Post(fn func()) {
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return
	}
	l.inbox = append(l.inbox, fn)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Do runs fn on the loop as a macrotask and waits for it to return. Called on
// the loop goroutine, it runs fn at once. If ctx is done before fn starts, fn
// does not run and Do returns ctx's error; once fn started, Do waits for it
// (fn should watch ctx itself). A panic in fn is returned as an error.
func (l *Loop) Do(ctx context.Context, fn func()) error {
	if l.OnLoop() {
		return l.guard(fn)
	}
	const (
		pending = iota
		started
		abandoned
	)
	var state atomic.Int32
	done := make(chan error, 1)
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return ErrStopped
	}
	l.inbox = append(l.inbox, func() {
		if state.CompareAndSwap(pending, started) {
			done <- l.guard(fn)
		}
	})
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		if state.CompareAndSwap(pending, abandoned) {
			return ctx.Err()
		}
	case <-l.stopCh:
		if state.CompareAndSwap(pending, abandoned) {
			return ErrStopped
		}
	}
	return <-done
}

// Microtask queues fn to run after the current macrotask (or microtask),
// before the next macrotask or timer. Loop goroutine only.
func (l *Loop) Microtask(fn func()) { l.micro.push(fn) }

// RunUntil runs the loop re-entrantly, from inside a task (a host function
// that must wait, say), until done() is true, ctx is done (it returns ctx's
// error) or the loop is stopped (ErrStopped). done is checked before every
// macrotask; nil means never. Loop goroutine only.
//
// If no goroutine runs the loop (Run was not called, or returned), the caller
// becomes the loop goroutine for the duration of the call.
func (l *Loop) RunUntil(ctx context.Context, done func() bool) error {
	if !l.OnLoop() {
		if !l.owner.CompareAndSwap(0, goid()) {
			return ErrNotOnLoop
		}
		defer l.owner.Store(0)
	}
	l.ctxs = append(l.ctxs, ctx)
	l.depth++
	defer func() {
		l.ctxs[len(l.ctxs)-1] = nil
		l.ctxs = l.ctxs[:len(l.ctxs)-1]
		l.depth--
	}()
	return l.run(ctx, done)
}

// Depth is how many RunUntil calls are in progress. Loop goroutine only.
func (l *Loop) Depth() int { return l.depth }

// Context is the context of the innermost run in progress (a RunUntil's, else
// Run's): the one to give calls made from a task. Loop goroutine only.
func (l *Loop) Context() context.Context {
	if n := len(l.ctxs); n > 0 {
		return l.ctxs[n-1]
	}
	return context.Background()
}

// Stats reports counters (any goroutine).
func (l *Loop) Stats() Stats {
	return Stats{Wakeups: l.wakeups.Load(), Tasks: l.tasks.Load(), Microtasks: l.micros.Load()}
}

// run is the body of Run and RunUntil.
func (l *Loop) run(ctx context.Context, done func() bool) error {
	for {
		if done != nil && done() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if l.Stopped() {
			return ErrStopped
		}
		if l.turn(ctx, done) {
			continue
		}
		if err := l.wait(ctx); err != nil {
			return err
		}
	}
}

// turn runs the microtasks left over, then the macrotasks ready now (posted
// ones and due timers, in the order they became ready), each followed by all
// microtasks. It reports whether it ran anything.
func (l *Loop) turn(ctx context.Context, done func() bool) bool {
	ran := l.drainMicro()
	l.mu.Lock()
	inbox := l.inbox
	l.inbox = nil
	l.mu.Unlock()
	l.collectTimers(time.Now())
	for _, fn := range inbox {
		l.ready.push(entry{fn: fn})
	}
	for n := l.ready.len(); n > 0 && l.ready.len() > 0; n-- {
		if (done != nil && done()) || ctx.Err() != nil || l.Stopped() {
			return true
		}
		e := l.ready.pop()
		l.tasks.Add(1)
		if e.t != nil {
			l.fire(e.t)
		} else {
			l.protect(e.fn)
		}
		l.drainMicro()
		ran = true
	}
	return ran
}

// Idle reports whether nothing is ready to run on the loop at now: no
// microtasks, no ready or posted macrotasks, no timer due. Loop goroutine only.
func (l *Loop) Idle(now time.Time) bool {
	if l.micro.len() > 0 || l.ready.len() > 0 {
		return false
	}
	if len(l.timers) > 0 && !l.timers[0].when.After(now) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.inbox) == 0
}

func (l *Loop) drainMicro() bool {
	ran := false
	for l.micro.len() > 0 {
		fn := l.micro.pop()
		l.micros.Add(1)
		l.protect(fn)
		ran = true
	}
	return ran
}

// wait sleeps until something is posted, the next timer is due, ctx is done
// or the loop stops.
func (l *Loop) wait(ctx context.Context) error {
	var tc <-chan time.Time
	if len(l.timers) > 0 {
		d := time.Until(l.timers[0].when)
		if d <= 0 {
			return nil
		}
		if l.clock == nil {
			l.clock = time.NewTimer(d)
		} else {
			l.clock.Reset(d)
		}
		tc = l.clock.C
		defer l.clock.Stop()
	}
	select {
	case <-l.wake:
	case <-tc:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.stopCh:
		return ErrStopped
	}
	l.wakeups.Add(1)
	return nil
}

// drop forgets everything pending (after Stop).
func (l *Loop) drop() {
	for _, t := range l.timers {
		t.cancelled = true
		t.index = -1
	}
	l.timers = l.timers[:0]
	clear(l.byID)
	l.ready.clear()
	l.micro.clear()
}

// protect runs fn, logging a panic instead of letting it end the process.
func (l *Loop) protect(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			l.log.Error("event loop task panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	fn()
}

// guard runs fn and returns a panic as an error.
func (l *Loop) guard(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("event loop task panicked: %v", r)
			l.log.Error("event loop task panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	fn()
	return nil
}
