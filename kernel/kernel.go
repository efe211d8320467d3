package kernel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"wasmpy/interp"
	"wasmpy/messaging"
)

// Defaults of the Config options.
const (
	DefaultStreamInterval = 50 * time.Millisecond
	DefaultStreamMaxBytes = 64 << 10
	DefaultTimeoutGrace   = 2 * time.Second
	// shutdownGrace bounds how long Run waits for in-flight work when it
	// stops.
	shutdownGrace = 2 * time.Second
	// shutdownLinger is how long at most Run lets IOPub drain after a
	// shutdown_request before it closes the Conn, and shutdownQuiet how
	// long without a write to its subscribers means it has drained.
	shutdownLinger = 250 * time.Millisecond
	shutdownQuiet  = 20 * time.Millisecond
)

// Config configures a Kernel.
type Config struct {
	// Conn is the kernel's sockets. Run closes it before returning.
	Conn *messaging.Conn
	// Factory makes interpreters: one at Run, and one after each crash or
	// restart.
	Factory interp.Factory
	// Log receives the kernel's logs. Nil: slog.Default().
	Log *slog.Logger
	// Version is implementation_version in kernel_info_reply.
	Version string
	// LanguageInfo is sent in kernel_info_reply until the interpreter has
	// started, and fills what the interpreter's Info leaves empty. Zero:
	// DefaultLanguageInfo().
	LanguageInfo interp.LanguageInfo
	// CellTimeout, if positive, interrupts an execute_request that runs
	// longer; if it has not returned TimeoutGrace later, the interpreter is
	// declared dead and replaced.
	CellTimeout  time.Duration
	TimeoutGrace time.Duration // zero: DefaultTimeoutGrace
	// ReadyWait bounds how long a kernel_info_request on shell waits for the
	// interpreter to start (zero: no wait).
	ReadyWait time.Duration
	// ExitOnRestart makes shutdown_request with restart true end Run like
	// any shutdown (ipykernel's behaviour: jupyter_client restarts a kernel
	// by waiting for its process to exit and starting a new one). When
	// false, the kernel replaces its interpreter and keeps running.
	ExitOnRestart bool
	// StreamInterval and StreamMaxBytes bound stream coalescing: pending
	// stream text is published after at most StreamInterval, or as soon as
	// StreamMaxBytes are pending. Zero: the defaults.
	StreamInterval time.Duration
	StreamMaxBytes int
}

// Kernel answers the requests of one Jupyter connection.
type Kernel struct {
	cfg     Config
	conn    *messaging.Conn
	log     *slog.Logger
	session string
	li      interp.LanguageInfo // the default language_info
	interp  *slot               // set by Run before its goroutines start

	mu             sync.Mutex
	cur            *call                   // the running shell call, if any
	inputWaiter    chan *messaging.Message // where stdin replies go, if someone waits
	execCount      int                     // the last execution_count seen
	last           *messaging.Message      // the last shell request run
	starting       bool                    // a request waits for its interpreter
	earlyInterrupt bool                    // an interrupt came while it waited
	bg             background              // publishes what runs between requests

	running  atomic.Bool
	stopOnce sync.Once
	stop     chan struct{} // closed by a shutdown_request
}

// New checks cfg and returns a kernel; Run starts it.
func New(cfg Config) (*Kernel, error) {
	if cfg.Conn == nil {
		return nil, errors.New("kernel: Config.Conn is nil")
	}
	if cfg.Factory == nil {
		return nil, errors.New("kernel: Config.Factory is nil")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.TimeoutGrace <= 0 {
		cfg.TimeoutGrace = DefaultTimeoutGrace
	}
	if cfg.StreamInterval <= 0 {
		cfg.StreamInterval = DefaultStreamInterval
	}
	if cfg.StreamMaxBytes <= 0 {
		cfg.StreamMaxBytes = DefaultStreamMaxBytes
	}
	def := DefaultLanguageInfo()
	def.Banner = fmt.Sprintf("wasmpy %s: Python 3.13 in a WebAssembly sandbox\n", cfg.Version)
	k := &Kernel{
		cfg:     cfg,
		conn:    cfg.Conn,
		log:     cfg.Log,
		session: uuid.NewString(),
		li:      mergeLanguageInfo(cfg.LanguageInfo, def),
		stop:    make(chan struct{}),
	}
	k.bg = background{k}
	return k, nil
}

// Session is the session id of the kernel's messages.
func (k *Kernel) Session() string { return k.session }

// Run serves requests until a shutdown_request (then it returns nil) or
// until ctx ends (then it returns ctx's error). It starts the interpreter in
// the background, and closes the interpreter and the Conn before returning.
func (k *Kernel) Run(ctx context.Context) error {
	if !k.running.CompareAndSwap(false, true) {
		return errors.New("kernel: Run called twice")
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	k.interp = newSlot(ctx, k.cfg.Factory, k.bg, k.log)
	k.interp.start()
	k.publishStatus(nil, "starting")
	info := k.conn.Info()
	k.log.Info("kernel running", "session", k.session,
		"shell", info.ShellPort, "iopub", info.IOPubPort, "stdin", info.StdinPort,
		"control", info.ControlPort, "hb", info.HBPort)

	var wg sync.WaitGroup
	for _, loop := range []func(context.Context){k.shellLoop, k.controlLoop, k.stdinLoop, k.welcomeLoop} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loop(ctx)
		}()
	}

	var err error
	select {
	case <-k.stop:
		k.log.Info("shutting down")
		// The shutdown_reply and status just published may sit in the
		// iopub socket's queue, which closing the Conn discards: let them
		// go out.
		k.conn.Drain(parent, shutdownQuiet, shutdownLinger)
	case <-parent.Done():
		err = parent.Err()
		k.log.Info("stopping", "reason", context.Cause(parent))
	}
	cancel()
	k.Interrupt()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		k.log.Warn("request handlers did not stop in time", "grace", shutdownGrace)
	}
	k.interp.close(shutdownGrace)
	if cerr := k.conn.Close(); cerr != nil {
		k.log.Warn("close connection", "err", cerr)
	}
	return err
}

// Interrupt interrupts the running shell request, if any: the interpreter
// gets a KeyboardInterrupt and a wait for stdin input ends. It is what an
// interrupt_request does, and what SIGINT to the process should do.
func (k *Kernel) Interrupt() {
	k.mu.Lock()
	c := k.cur
	if c == nil && k.starting {
		// The request waits for its interpreter to start: it will not run.
		k.earlyInterrupt = true
		k.mu.Unlock()
		k.log.Info("interrupt while the interpreter starts: the waiting request is cancelled")
		return
	}
	k.mu.Unlock()
	if c == nil {
		k.log.Debug("interrupt: nothing is running")
		return
	}
	k.log.Info("interrupting the running request")
	c.interrupt()
}

// requestStop makes Run return.
func (k *Kernel) requestStop() {
	k.stopOnce.Do(func() { close(k.stop) })
}

func (k *Kernel) setCurrent(c *call) {
	k.mu.Lock()
	k.cur = c
	k.mu.Unlock()
}

// stdinLoop hands input_reply messages to the request waiting for one;
// replies nobody waits for are stale and dropped, as ipykernel does.
func (k *Kernel) stdinLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-k.conn.Stdin():
			if !ok {
				return
			}
			if m.Header.MsgType != "input_reply" {
				k.log.Warn("unexpected message on stdin", "msg_type", m.Header.MsgType)
				continue
			}
			k.mu.Lock()
			w := k.inputWaiter
			k.mu.Unlock()
			if w == nil {
				k.log.Debug("dropping input_reply: nothing waits for input", "msg_id", m.Header.MsgID)
				continue
			}
			k.handInput(w, m)
		}
	}
}

// handInput gives m to the waiter w. If an earlier reply still waits there
// unread, the newest wins: the earlier one is most likely stale (a reply to
// an interrupted request, which the waiter would drop), and dropping m
// instead would leave the waiter without its answer.
func (k *Kernel) handInput(w chan *messaging.Message, m *messaging.Message) {
	for {
		select {
		case w <- m:
			return
		default:
		}
		select {
		case old := <-w:
			k.log.Debug("dropping an unread input_reply for a newer one", "msg_id", old.Header.MsgID)
		default:
		}
	}
}

// waitInput registers for the next input_reply. Call the returned function
// when done waiting.
func (k *Kernel) waitInput() (<-chan *messaging.Message, func()) {
	ch := make(chan *messaging.Message, 1)
	k.mu.Lock()
	k.inputWaiter = ch
	k.mu.Unlock()
	return ch, func() {
		k.mu.Lock()
		if k.inputWaiter == ch {
			k.inputWaiter = nil
		}
		k.mu.Unlock()
	}
}

// newMessage builds a message in the kernel's session, logging failures.
func (k *Kernel) newMessage(msgType string, parent *messaging.Message, content any, metadata json.RawMessage) *messaging.Message {
	m, err := messaging.NewMessage(msgType, parent, k.session, content)
	if err != nil {
		k.log.Error("build message", "msg_type", msgType, "err", err)
		return nil
	}
	if len(metadata) > 0 {
		m.Metadata = metadata
	}
	return m
}

// send sends a reply (or input_request) on a ROUTER channel.
func (k *Kernel) send(ch messaging.Channel, msgType string, parent *messaging.Message, content any, metadata json.RawMessage) {
	m := k.newMessage(msgType, parent, content, metadata)
	if m == nil {
		return
	}
	if err := k.conn.Send(ch, m); err != nil {
		k.log.Warn("send", "msg_type", msgType, "err", err)
	}
}

// publish sends a message on IOPub.
func (k *Kernel) publish(msgType string, parent *messaging.Message, content any, metadata json.RawMessage, buffers [][]byte) {
	m := k.newMessage(msgType, parent, content, metadata)
	if m == nil {
		return
	}
	m.Identities = nil // IOPub routes by topic, not by the requester's identity
	m.Buffers = buffers
	if err := k.conn.Publish(m); err != nil {
		k.log.Warn("publish", "msg_type", msgType, "err", err)
	}
}

// welcomeLoop sends protocol 5.5's iopub_welcome for each new iopub
// subscription, so that a client knows its subscription is in effect (and
// need not nudge the kernel with kernel_info requests until IOPub answers).
func (k *Kernel) welcomeLoop(ctx context.Context) {
	for {
		select {
		case topic := <-k.conn.Subscriptions():
			k.publish("iopub_welcome", nil, map[string]string{"subscription": topic}, nil, nil)
		case <-ctx.Done():
			return
		}
	}
}

func (k *Kernel) publishStatus(parent *messaging.Message, state string) {
	k.publish("status", parent, map[string]string{"execution_state": state}, nil, nil)
}

// kernelInfo is the content of kernel_info_reply: the running interpreter's
// language_info, or the default one while it starts.
func (k *Kernel) kernelInfo() kernelInfoContent {
	li := k.li
	if in, ok := k.interp.current(); ok {
		li = mergeLanguageInfo(in.info, k.li)
	}
	return kernelInfoContent{
		Status:                "ok",
		ProtocolVersion:       ProtocolVersion,
		SupportedFeatures:     []string{"iopub_welcome"},
		Implementation:        Implementation,
		ImplementationVersion: k.cfg.Version,
		LanguageInfo:          li,
		Banner:                li.Banner,
		HelpLinks:             HelpLinks(),
		Debugger:              false,
	}
}

func (k *Kernel) connectInfo() connectContent {
	info := k.conn.Info()
	return connectContent{
		Status:      "ok",
		ShellPort:   info.ShellPort,
		IOPubPort:   info.IOPubPort,
		StdinPort:   info.StdinPort,
		HBPort:      info.HBPort,
		ControlPort: info.ControlPort,
	}
}

// shutdown answers a shutdown_request on channel ch: the reply, the same on
// IOPub (as ipykernel 6 does), then a restart or the end of Run.
func (k *Kernel) shutdown(ch messaging.Channel, m *messaging.Message) {
	var req struct {
		Restart bool `json:"restart"`
	}
	if err := json.Unmarshal(m.Content, &req); err != nil {
		k.log.Warn("bad shutdown_request content; treating as restart=false", "err", err)
	}
	content := map[string]any{"status": "ok", "restart": req.Restart}
	k.send(ch, "shutdown_reply", m, content, nil)
	k.publish("shutdown_reply", m, content, nil, nil)
	if req.Restart && !k.cfg.ExitOnRestart {
		k.log.Info("restarting the interpreter")
		k.mu.Lock()
		k.execCount = 0
		k.mu.Unlock()
		k.interp.restart()
		return
	}
	k.requestStop()
}

func (k *Kernel) setLastParent(m *messaging.Message) {
	k.mu.Lock()
	k.last = m
	k.mu.Unlock()
}

// lastParent is the parent for output that names none: the last request.
func (k *Kernel) lastParent() *messaging.Message {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.last
}
