package kernel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"wasmpy/interp"
)

// instance is one interpreter, from the moment its start is requested.
type instance struct {
	id    int
	ready chan struct{} // closed when the factory returned
	it    interp.Interpreter
	info  interp.LanguageInfo
	err   error

	retired    chan struct{} // closed when replaced, restarted or closed
	retireOnce sync.Once
}

// isRetired reports whether the instance has been replaced.
func (in *instance) isRetired() bool {
	select {
	case <-in.retired:
		return true
	default:
		return false
	}
}

// slot holds the kernel's current interpreter and replaces it. The
// interpreter is started in the background so that requests which do not
// need it (kernel_info) are answered at once.
type slot struct {
	ctx     context.Context // the factory's context: Run's
	factory interp.Factory
	bg      interp.Events // what interpreters publish between requests
	log     *slog.Logger

	mu     sync.Mutex
	cur    *instance
	n      int
	closed bool
	wg     sync.WaitGroup // starts and closes in the background
}

func newSlot(ctx context.Context, factory interp.Factory, bg interp.Events, log *slog.Logger) *slot {
	return &slot{ctx: ctx, factory: factory, bg: bg, log: log}
}

var errSlotClosed = errors.New("kernel is shutting down")

// startLocked begins starting a new interpreter and makes it current.
func (s *slot) startLocked() *instance {
	s.n++
	in := &instance{id: s.n, ready: make(chan struct{}), retired: make(chan struct{})}
	s.cur = in
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t0 := time.Now()
		it, err := s.safeFactory()
		if err == nil && it == nil {
			err = errors.New("the interpreter factory returned no interpreter")
		}
		if err != nil {
			err = fmt.Errorf("start interpreter: %w", err)
			s.log.Error("interpreter failed to start", "interpreter", in.id, "err", err)
		} else {
			// Info is read once here, on the goroutine that made the
			// interpreter and before any Call, so that kernel_info never
			// races with a running request.
			in.info = it.Info()
			s.log.Info("interpreter started", "interpreter", in.id, "took", time.Since(t0).Round(time.Millisecond))
		}
		in.it, in.err = it, err
		close(in.ready)
	}()
	return in
}

// safeFactory calls the factory, turning a panic into an error.
func (s *slot) safeFactory() (it interp.Interpreter, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("interpreter factory panicked", "panic", r, "stack", string(debug.Stack()))
			it, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return s.factory(s.ctx, s.bg)
}

// start begins starting the first interpreter.
func (s *slot) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil && !s.closed {
		s.startLocked()
	}
}

// get waits for the current interpreter. After a failed start it tries once
// more, so a transient failure does not stick.
func (s *slot) get(ctx context.Context) (*instance, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errSlotClosed
	}
	in := s.cur
	if in == nil || (isDone(in.ready) && in.err != nil) {
		in = s.startLocked()
	}
	s.mu.Unlock()
	select {
	case <-in.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if in.err != nil {
		return nil, in.err
	}
	return in, nil
}

// wait waits until the interpreter being started (if any) has started or
// failed, without starting another.
func (s *slot) wait(ctx context.Context) {
	s.mu.Lock()
	in := s.cur
	s.mu.Unlock()
	if in == nil {
		return
	}
	select {
	case <-in.ready:
	case <-ctx.Done():
	}
}

// current returns the current interpreter if it has started.
func (s *slot) current() (*instance, bool) {
	s.mu.Lock()
	in := s.cur
	s.mu.Unlock()
	if in == nil || !isDone(in.ready) || in.err != nil {
		return nil, false
	}
	return in, true
}

// replace retires old and starts a new interpreter, unless old is no longer
// current (someone replaced it already). It reports whether it replaced.
func (s *slot) replace(old *instance) bool {
	s.mu.Lock()
	if s.closed || s.cur != old {
		s.mu.Unlock()
		return false
	}
	s.startLocked()
	s.mu.Unlock()
	s.retire(old)
	return true
}

// restart retires the current interpreter and starts a new one.
func (s *slot) restart() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	old := s.cur
	s.startLocked()
	s.mu.Unlock()
	if old != nil {
		s.retire(old)
	}
}

// retire marks in as replaced and closes its interpreter once it has
// started.
func (s *slot) retire(in *instance) {
	in.retireOnce.Do(func() {
		close(in.retired)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			<-in.ready
			if in.it != nil {
				in.it.Interrupt()
				if err := in.it.Close(); err != nil {
					s.log.Warn("close interpreter", "interpreter", in.id, "err", err)
				}
				s.log.Debug("interpreter closed", "interpreter", in.id)
			}
		}()
	})
}

// close retires the current interpreter and waits up to grace for
// background starts and closes to finish.
func (s *slot) close(grace time.Duration) {
	s.mu.Lock()
	s.closed = true
	old := s.cur
	s.cur = nil
	s.mu.Unlock()
	if old != nil {
		s.retire(old)
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		s.log.Warn("interpreter did not close in time", "grace", grace)
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
