package loop

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Host is an interpreter the loop drives: *wasmpy.Interpreter satisfies it.
// Register makes fn callable from Python as _wasmpy.call(name, data); fn's
// ctx is cancelled by an interrupt. Dispatch calls the Python handler of
// target (see _wasmpy_rt.register).
type Host interface {
	Register(name string, fn func(ctx context.Context, data []byte) ([]byte, error))
	Dispatch(ctx context.Context, target string, data []byte) ([]byte, error)
}

// Target is the dispatch target that wasmpy/python/pyodide/webloop.py
// registers.
const Target = "webloop"

// The wire format between this glue and webloop.py. Integers are
// little-endian; lid is a Python event loop's id, tok a nested run's token,
// cid a completion's id (all uint32, chosen by Python).
//
// Host functions (Python calls them):
//
//	loop.hello  ""                         -> "1" (the protocol version)
//	loop.soon   lid                        schedule a drain macrotask for lid
//	loop.more   ""                         -> "1" if a drain may go on with what
//	                                       it scheduled: nothing else is ready on
//	                                       the Go loop, no sleep or nested run ends
//	loop.timer  lid, int64 ns              (re)arm lid's one timer; ns < 0 clears it
//	loop.run    tok                        run the Go loop (nested) until loop.stop(tok)
//	loop.stop   tok                        end the nested run tok (now or when it starts)
//	loop.close  lid                        forget lid and its timer
//	loop.fetch  cid, uint32 n, JSON[n], body   start a fetch; completes as 'c' cid
//	loop.abort  cid                        abort the fetch cid
//	loop.sleep  int64 ns                   block for ns (time.sleep), serving the Go
//	                                       loop meanwhile (see glue.sleep)
//
// Dispatches (Go calls target "webloop"):
//
//	'd' lid        drain lid's ready callbacks
//	't' lid        lid's timer is due
//	'c' cid, data  a completion (of loop.fetch: see fetchReply)
//
// 'd' and 't' return "" or (uint8 flags, int64 ns): flags&1 asks for another
// drain, flags&2 (re)arms the loop's timer to ns from now (ns < 0 clears it).
const protocolVersion = "1"

const (
	flagDrain = 1
	flagTimer = 2
)

// Option configures Attach.
type Option func(*glue)

// BlockFunc runs the loop while Python is blocked in a host function, until
// ready is closed (it returns nil) or ctx is done (it returns ctx's error).
// Call it on the loop goroutine, from the host function.
type BlockFunc func(ctx context.Context, ready <-chan struct{}) error

// WithBlocker stores in *dst the function that blocks Python the way
// time.sleep does here: for other host functions that wait (input()).
func WithBlocker(dst *BlockFunc) Option { return func(g *glue) { *dst = g.blockUntil } }

// WithIdle stores in *dst loop.more's answer as a function, for the
// JavaScript world to send with a call's settled promise (jsbridge
// Options.Idle): loop goroutine only.
func WithIdle(dst *func(context.Context) bool) Option { return func(g *glue) { *dst = g.idle } }

// blockUntil is block until ready is closed.
func (g *glue) blockUntil(ctx context.Context, ready <-chan struct{}) error {
	go func() {
		select {
		case <-ready:
			g.l.Post(func() {}) // wake the loop to see it
		case <-ctx.Done():
		}
	}()
	return g.block(ctx, func() bool {
		select {
		case <-ready:
			return true
		default:
			return false
		}
	})
}

// WithFetcher makes loop.fetch use f (its Policy says what Python may fetch).
// Without it, a Fetcher with the DenyAll policy answers: only data: URLs work.
func WithFetcher(f *Fetcher) Option { return func(g *glue) { g.fetcher = f } }

// glue is the Go side of one interpreter's asyncio loops. Loop goroutine only.
type glue struct {
	l       *Loop
	h       Host
	ctx     context.Context
	fetcher *Fetcher
	loops   map[uint32]*pyLoop
	stops   map[uint32]bool
	aborts  map[uint32]func()

	// blocking counts the time.sleep calls in progress (innermost run):
	// meanwhile Python's asyncio work waits in deferred.
	blocking int
	deferred []func()
}

// pyLoop is the state of one Python event loop (a WebLoop).
type pyLoop struct {
	timer       TimerID
	drainPosted bool
	retried     bool // a failed drain was re-posted once already
}

// Attach connects an interpreter's asyncio (webloop.py) to l: it registers
// the "loop.*" host functions. ctx scopes the attachment: the fetches Python
// starts are aborted when it is done, so give a context that lives as long as
// the interpreter, not a request's. Python code using the loop must run on the
// loop goroutine (inside Run or a Do task).
func Attach(ctx context.Context, l *Loop, h Host, opts ...Option) error {
	if l == nil || h == nil {
		return errors.New("attach event loop: nil loop or host")
	}
	g := &glue{
		l: l, h: h, ctx: ctx,
		loops:  map[uint32]*pyLoop{},
		stops:  map[uint32]bool{},
		aborts: map[uint32]func(){},
	}
	for _, o := range opts {
		o(g)
	}
	if g.fetcher == nil {
		g.fetcher = &Fetcher{Policy: DenyAll}
	}
	h.Register("loop.hello", func(context.Context, []byte) ([]byte, error) { return []byte(protocolVersion), nil })
	h.Register("loop.soon", g.soon)
	h.Register("loop.more", g.more)
	h.Register("loop.timer", g.timer)
	h.Register("loop.run", g.run)
	h.Register("loop.stop", g.stop)
	h.Register("loop.close", g.close)
	h.Register("loop.fetch", g.fetch)
	h.Register("loop.abort", g.abort)
	h.Register("loop.sleep", g.sleep)
	return nil
}

// sleep is time.sleep: it blocks the Python code that called it for the
// given time, cut short by an interrupt, and runs the Go
// loop meanwhile, so that JavaScript timers, promise jobs and I/O
// completions go on (their callbacks may call Python, as a signal handler
// would). Python's own asyncio work (drains, asyncio timers, pyfetch
// completions) is held back until the sleep ends: running another task's
// step in the middle of the sleeping code would break asyncio's rules.
func (g *glue) sleep(ctx context.Context, data []byte) ([]byte, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("loop.sleep: %w", errShort)
	}
	d := time.Duration(int64(binary.LittleEndian.Uint64(data)))
	expired := false
	t := g.l.SetTimer(max(d, 0), false, func() { expired = true })
	defer g.l.ClearTimer(t)
	if err := g.block(ctx, func() bool { return expired }); err != nil && ctx.Err() == nil {
		return nil, fmt.Errorf("loop.sleep: %w", err)
	}
	// An interrupt ends the sleep early; the SIGINT it left pending raises
	// KeyboardInterrupt in Python once, as after any interrupted sleep.
	return nil, nil
}

// block runs the loop (nested) until done reports true or ctx is done, with
// Python's asyncio work held back meanwhile: the Python code that called the
// host function waiting here is blocked, as in time.sleep or input().
func (g *glue) block(ctx context.Context, done func() bool) error {
	g.blocking++
	defer func() {
		g.blocking--
		if g.blocking == 0 {
			g.resume()
		}
	}()
	return g.l.RunUntil(ctx, done)
}

// held reports whether Python's asyncio work must wait (a sleep is in
// progress) and if so keeps fn to run after it.
func (g *glue) held(fn func()) bool {
	if g.blocking == 0 {
		return false
	}
	g.deferred = append(g.deferred, fn)
	return true
}

// resume posts the work held back during a sleep, in its order.
func (g *glue) resume() {
	work := g.deferred
	g.deferred = nil
	for _, fn := range work {
		g.l.Post(fn)
	}
}

var errShort = errors.New("payload too short")

func u32(data []byte) (uint32, error) {
	if len(data) < 4 {
		return 0, errShort
	}
	return binary.LittleEndian.Uint32(data), nil
}

func (g *glue) pl(lid uint32) *pyLoop {
	p := g.loops[lid]
	if p == nil {
		p = &pyLoop{}
		g.loops[lid] = p
	}
	return p
}

func (g *glue) soon(ctx context.Context, data []byte) ([]byte, error) {
	lid, err := u32(data)
	if err != nil {
		return nil, fmt.Errorf("loop.soon: %w", err)
	}
	g.postDrain(lid)
	return nil, nil
}

// more answers loop.more: a drain that scheduled more callbacks may run
// them at once, instead of returning for a drain that the loop would start
// next, when nothing else is ready on the loop (posted work, microtasks,
// due timers), no nested run has been asked to stop and no sleep is in
// progress (its wait must see its own work first).
func (g *glue) more(ctx context.Context, data []byte) ([]byte, error) {
	if !g.idle(ctx) {
		return nil, nil
	}
	return []byte{'1'}, nil
}

// idle is loop.more's answer. Loop goroutine only.
func (g *glue) idle(ctx context.Context) bool {
	return len(g.stops) == 0 && g.blocking == 0 && ctx.Err() == nil && g.l.Idle(time.Now())
}

func (g *glue) postDrain(lid uint32) {
	p := g.pl(lid)
	if p.drainPosted {
		return
	}
	p.drainPosted = true
	g.l.Post(func() {
		p.drainPosted = false
		g.call('d', lid, p)
	})
}

func (g *glue) timer(ctx context.Context, data []byte) ([]byte, error) {
	lid, err := u32(data)
	if err != nil || len(data) < 12 {
		return nil, fmt.Errorf("loop.timer: %w", errShort)
	}
	g.arm(lid, int64(binary.LittleEndian.Uint64(data[4:])))
	return nil, nil
}

func (g *glue) arm(lid uint32, ns int64) {
	p := g.pl(lid)
	if p.timer != 0 {
		g.l.ClearTimer(p.timer)
		p.timer = 0
	}
	if ns < 0 {
		return
	}
	p.timer = g.l.SetTimer(time.Duration(ns), false, func() {
		p.timer = 0
		g.call('t', lid, p)
	})
}

// callCtx is the context of a call into Python from a macrotask: the
// innermost run's, without its cancellation. An interrupt cancels the context
// of the host function waiting in a nested run (so that the wait ends); the
// Python code a macrotask runs must not be cancelled with it (a runtime with
// hard stops would close the module), it gets the KeyboardInterrupt instead.
func (g *glue) callCtx() context.Context {
	return context.WithoutCancel(g.l.Context())
}

// call dispatches a drain or a timer to Python and acts on its reply.
func (g *glue) call(kind byte, lid uint32, p *pyLoop) {
	if g.loops[lid] != p {
		return // closed meanwhile
	}
	if g.held(func() { g.call(kind, lid, p) }) {
		return
	}
	var msg [5]byte
	msg[0] = kind
	binary.LittleEndian.PutUint32(msg[1:], lid)
	out, err := g.h.Dispatch(g.callCtx(), Target, msg[:])
	if err != nil {
		g.l.log.Warn("event loop dispatch failed", "kind", string(kind), "loop", lid, "err", err)
		// Python may have been interrupted before it took the work: try
		// once more, so that its queue does not stall.
		if !p.retried && g.loops[lid] == p {
			p.retried = true
			g.postDrain(lid)
		}
		return
	}
	p.retried = false
	if len(out) == 0 {
		return
	}
	flags := out[0]
	if flags&flagTimer != 0 && len(out) >= 9 {
		g.arm(lid, int64(binary.LittleEndian.Uint64(out[1:])))
	}
	if flags&flagDrain != 0 {
		g.postDrain(lid)
	}
}

func (g *glue) run(ctx context.Context, data []byte) ([]byte, error) {
	tok, err := u32(data)
	if err != nil {
		return nil, fmt.Errorf("loop.run: %w", err)
	}
	defer delete(g.stops, tok)
	// run_sync needs Python's asyncio work, even inside a sleep (from a JS
	// callback that the sleep ran).
	saved := g.blocking
	g.blocking = 0
	g.resume()
	defer func() { g.blocking = saved }()
	if err := g.l.RunUntil(ctx, func() bool { return g.stops[tok] }); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // an interrupt: KeyboardInterrupt in Python
		}
		return nil, fmt.Errorf("loop.run: %w", err)
	}
	return nil, nil
}

func (g *glue) stop(ctx context.Context, data []byte) ([]byte, error) {
	tok, err := u32(data)
	if err != nil {
		return nil, fmt.Errorf("loop.stop: %w", err)
	}
	g.stops[tok] = true
	return nil, nil
}

func (g *glue) close(ctx context.Context, data []byte) ([]byte, error) {
	lid, err := u32(data)
	if err != nil {
		return nil, fmt.Errorf("loop.close: %w", err)
	}
	if p := g.loops[lid]; p != nil && p.timer != 0 {
		g.l.ClearTimer(p.timer)
	}
	delete(g.loops, lid)
	return nil, nil
}

// fetchRequest is the JSON part of loop.fetch.
type fetchRequest struct {
	Method    string      `json:"method"`
	URL       string      `json:"url"`
	Headers   [][2]string `json:"headers"`
	Redirect  string      `json:"redirect"`
	TimeoutMS int64       `json:"timeout_ms"`
}

func (g *glue) fetch(ctx context.Context, data []byte) ([]byte, error) {
	cid, err := u32(data)
	if err != nil || len(data) < 8 {
		return nil, fmt.Errorf("loop.fetch: %w", errShort)
	}
	n := binary.LittleEndian.Uint32(data[4:])
	if uint64(len(data)) < 8+uint64(n) {
		return nil, fmt.Errorf("loop.fetch: %w", errShort)
	}
	var fr fetchRequest
	if err := json.Unmarshal(data[8:8+n], &fr); err != nil {
		return nil, fmt.Errorf("loop.fetch: %w", err)
	}
	req := &Request{
		Method: fr.Method, URL: fr.URL, Header: fr.Headers, Redirect: fr.Redirect,
		Timeout: time.Duration(fr.TimeoutMS) * time.Millisecond,
	}
	if body := data[8+n:]; len(body) > 0 {
		req.Body = body
	}
	g.aborts[cid] = g.fetcher.Start(g.l, g.ctx, req, func(resp *Response, err error) {
		delete(g.aborts, cid)
		g.complete(cid, fetchReply(resp, err))
	})
	return nil, nil
}

// fetchReply encodes a fetch's outcome: 0, uint32 n, meta[n], body; or 1,
// JSON {"kind", "message"}. meta is UTF-8 fields joined by NUL (which they
// cannot hold: it is replaced, as invalid UTF-8 is): status, status text,
// URL, "1" if redirected or "", type, then each header's name and value.
// (Python splits it in a microsecond; JSON took 15 in the sandbox.)
func fetchReply(resp *Response, err error) []byte {
	if err != nil {
		kind := FetchNetwork
		var fe *FetchError
		if errors.As(err, &fe) {
			kind = fe.Kind
		}
		b, _ := json.Marshal(map[string]string{"kind": string(kind), "message": err.Error()})
		return append([]byte{1}, b...)
	}
	out := make([]byte, 5, 5+128+len(resp.Body))
	out = strconv.AppendInt(out, int64(resp.Status), 10)
	out = appendField(out, resp.StatusText)
	out = appendField(out, resp.URL)
	if resp.Redirected {
		out = appendField(out, "1")
	} else {
		out = appendField(out, "")
	}
	out = appendField(out, resp.Type)
	for _, h := range resp.Header {
		out = appendField(appendField(out, h[0]), h[1])
	}
	binary.LittleEndian.PutUint32(out[1:], uint32(len(out)-5))
	return append(out, resp.Body...)
}

// appendField appends NUL and s as valid UTF-8 without NUL.
func appendField(b []byte, s string) []byte {
	b = append(b, 0)
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return append(b, s...)
	}
	return append(b, strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")...)
}

func (g *glue) complete(cid uint32, payload []byte) {
	if g.held(func() { g.complete(cid, payload) }) {
		return
	}
	msg := make([]byte, 5, 5+len(payload))
	msg[0] = 'c'
	binary.LittleEndian.PutUint32(msg[1:], cid)
	msg = append(msg, payload...)
	if _, err := g.h.Dispatch(g.callCtx(), Target, msg); err != nil {
		g.l.log.Warn("event loop completion failed", "id", cid, "err", err)
	}
}

func (g *glue) abort(ctx context.Context, data []byte) ([]byte, error) {
	cid, err := u32(data)
	if err != nil {
		return nil, fmt.Errorf("loop.abort: %w", err)
	}
	if cancel := g.aborts[cid]; cancel != nil {
		cancel()
	}
	return nil, nil
}
