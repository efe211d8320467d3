package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
)

// Channel names one of the five kernel sockets.
type Channel int

// The kernel sockets.
const (
	Shell Channel = iota
	Control
	Stdin
	IOPub
	Heartbeat
	numChannels
)

func (ch Channel) String() string {
	switch ch {
	case Shell:
		return "shell"
	case Control:
		return "control"
	case Stdin:
		return "stdin"
	case IOPub:
		return "iopub"
	case Heartbeat:
		return "heartbeat"
	}
	return "channel(" + strconv.Itoa(int(ch)) + ")"
}

// Option configures Listen.
type Option func(*options)

type options struct {
	maxSize   int64
	buffer    int
	handshake time.Duration // ZMTP handshake deadline; tests shorten it
}

// WithMaxMessageSize sets the largest message accepted, in bytes summed over
// its frames (default DefaultMaxMessageSize). Larger messages are dropped;
// a peer announcing one has its connection closed before the bytes are read.
func WithMaxMessageSize(n int64) Option {
	return func(o *options) {
		if n > 0 {
			o.maxSize = n
		}
	}
}

// WithBuffer sets how many decoded messages each of Shell, Control and Stdin
// holds before its socket stops reading (default 16).
func WithBuffer(n int) Option {
	return func(o *options) {
		if n >= 0 {
			o.buffer = n
		}
	}
}

// iopubHWM is how many published messages zmq4 queues for the iopub
// subscribers; beyond it Publish drops messages (silently: zmq4 reports no
// error), like libzmq's PUB at its high-water mark.
const iopubHWM = 100_000

// sendTimeout bounds how long a ROUTER send waits for a first peer.
const sendTimeout = 5 * time.Second

// Conn is the set of bound kernel sockets. Each socket has its own reader
// goroutine, so the heartbeat and control keep working while the consumer of
// Shell is busy. Send and Publish are safe for concurrent use.
type Conn struct {
	info  ConnectionInfo
	log   *slog.Logger
	codec *Codec

	ctx    context.Context
	cancel context.CancelFunc
	socks  [numChannels]zmq4.Socket
	sendMu [numChannels]sync.Mutex
	// writes follows the writes of each socket's peer connections; Drain
	// uses iopub's.
	writes [numChannels]writeTracker
	subs   chan string          // see Subscriptions
	in     [IOPub]chan *Message // Shell, Control, Stdin
	wg     sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Listen binds the five sockets described by info: ROUTER for shell, control
// and stdin, PUB for iopub and a ROUTER echoing every heartbeat message
// back unchanged (as ipykernel's heartbeat device does). A port 0 means any
// free port (tcp) or the first unused socket file name (ipc); Info reports
// the chosen ports. Cancelling ctx closes the Conn's sockets like Close. log
// may be nil.
func Listen(ctx context.Context, info ConnectionInfo, log *slog.Logger, opts ...Option) (*Conn, error) {
	o := options{maxSize: DefaultMaxMessageSize, buffer: 16, handshake: handshakeTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if info.SignatureScheme == "" {
		info.SignatureScheme = DefaultSignatureScheme
	}
	if err := info.validate(true); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	codec, err := NewCodec(info.SignatureScheme, []byte(info.Key), o.maxSize)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &Conn{info: info, log: log, codec: codec, ctx: ctx, cancel: cancel, subs: make(chan string, maxPendingSubs)}

	zlog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	for ch := Shell; ch < numChannels; ch++ {
		gc := guardConfig{limit: o.maxSize, handshake: o.handshake, socket: ch.String(), log: log, writes: &c.writes[ch]}
		if ch == IOPub {
			gc.onSubscribe = c.subscribed
		}
		sctx := withGuard(ctx, gc)
		zopts := []zmq4.Option{zmq4.WithLogger(zlog), zmq4.WithTimeout(sendTimeout)}
		var s zmq4.Socket
		if ch == IOPub {
			s = zmq4.NewPub(sctx, zopts...)
			if err := s.SetOption(zmq4.OptionHWM, iopubHWM); err != nil {
				c.Close()
				return nil, fmt.Errorf("listen %s: %w", ch, err)
			}
		} else {
			s = zmq4.NewRouter(sctx, zopts...)
		}
		c.socks[ch] = s
		if err := c.bind(ch, s); err != nil {
			c.Close()
			return nil, fmt.Errorf("listen %s: %w", ch, err)
		}
	}
	for ch := Shell; ch < IOPub; ch++ {
		c.in[ch] = make(chan *Message, o.buffer)
		c.wg.Add(1)
		go c.readLoop(ch, c.in[ch])
	}
	c.wg.Add(1)
	go c.heartbeat()
	go func() {
		<-ctx.Done()
		c.Close()
	}()
	log.Debug("listening", "transport", c.info.Transport, "ip", c.info.IP,
		"shell", c.info.ShellPort, "control", c.info.ControlPort, "stdin", c.info.StdinPort,
		"iopub", c.info.IOPubPort, "hb", c.info.HBPort)
	return c, nil
}

func (c *Conn) bind(ch Channel, s zmq4.Socket) error {
	port := c.info.Port(ch)
	if c.info.Transport == "ipc" {
		if port == 0 {
			port = c.freeIPCPort()
		}
		if err := s.Listen(guardedIPC + "://" + c.info.ipcPath(port)); err != nil {
			return err
		}
		c.info.setPort(ch, port)
		return nil
	}
	ep := guardedTCP + "://" + net.JoinHostPort(c.info.IP, strconv.Itoa(port))
	if err := s.Listen(ep); err != nil {
		return err
	}
	addr, ok := s.Addr().(*net.TCPAddr)
	if !ok {
		return fmt.Errorf("listen %s: unexpected address %v", ep, s.Addr())
	}
	c.info.setPort(ch, addr.Port)
	return nil
}

// freeIPCPort returns the smallest port whose socket file does not exist
// and that no other channel uses.
func (c *Conn) freeIPCPort() int {
	used := map[int]bool{}
	for _, p := range c.info.ports() {
		used[p.port] = true
	}
	for port := 1; ; port++ {
		if used[port] {
			continue
		}
		if _, err := os.Stat(c.info.ipcPath(port)); errors.Is(err, os.ErrNotExist) {
			return port
		}
	}
}

// Info returns the connection info with the ports actually bound.
func (c *Conn) Info() ConnectionInfo { return c.info }

// Shell returns verified shell requests. It is closed by Close.
func (c *Conn) Shell() <-chan *Message { return c.in[Shell] }

// Control returns verified control requests. It is closed by Close.
func (c *Conn) Control() <-chan *Message { return c.in[Control] }

// Stdin returns verified stdin replies. It is closed by Close.
func (c *Conn) Stdin() <-chan *Message { return c.in[Stdin] }

// Send signs and sends msg on a ROUTER channel (Shell, Control or Stdin) to
// the peer named by msg.Identities; IOPub is forwarded to Publish. A peer
// that has gone away is silently skipped, as with libzmq's ROUTER.
func (c *Conn) Send(ch Channel, msg *Message) error {
	switch ch {
	case Shell, Control, Stdin:
	case IOPub:
		return c.Publish(msg)
	default:
		return fmt.Errorf("send on %s: not a message channel", ch)
	}
	if len(msg.Identities) == 0 {
		return fmt.Errorf("send %s on %s: %w: no routing identity", msg.Header.MsgType, ch, ErrMalformed)
	}
	frames, err := c.codec.Encode(msg)
	if err != nil {
		return fmt.Errorf("send on %s: %w", ch, err)
	}
	return c.send(ch, msg, frames)
}

// Publish signs and broadcasts msg on iopub. The topic frame is
// "kernel.<session>.<msg_type>"; msg.Identities is ignored. Publish
// only queues the message, so it does not block on slow subscribers; see
// iopubHWM.
func (c *Conn) Publish(msg *Message) error {
	m := *msg
	m.Identities = [][]byte{[]byte("kernel." + msg.Header.Session + "." + msg.Header.MsgType)}
	frames, err := c.codec.Encode(&m)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	c.writes[IOPub].queued()
	return c.send(IOPub, msg, frames)
}

// maxPendingSubs is how many subscriptions Subscriptions holds unread.
const maxPendingSubs = 64

// Subscriptions reports the topic of each subscription an iopub peer makes,
// once it is in effect (what is published to the topic from then on reaches
// that peer), for protocol 5.5's iopub_welcome. Subscriptions beyond
// maxPendingSubs unread are dropped.
func (c *Conn) Subscriptions() <-chan string { return c.subs }

func (c *Conn) subscribed(topic string) {
	select {
	case c.subs <- topic:
	default:
		c.log.Warn("iopub subscription not reported: too many unread", "topic", topic)
	}
}

// Drain waits until what was published has been written to the iopub
// subscribers' connections: zmq4 queues published messages and writes them
// from a goroutine of its own, and closing the Conn discards the queue. It
// returns once no write has been made or started for quiet since the last
// Publish, or after max (a stalled subscriber), or when ctx is done.
func (c *Conn) Drain(ctx context.Context, quiet, max time.Duration) {
	deadline := time.Now().Add(max)
	w := &c.writes[IOPub]
	for {
		idle := w.idleFor()
		if idle >= quiet || !time.Now().Before(deadline) {
			return
		}
		wait := min(quiet-idle, time.Until(deadline))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return
		}
	}
}

func (c *Conn) send(ch Channel, msg *Message, frames [][]byte) error {
	c.sendMu[ch].Lock()
	defer c.sendMu[ch].Unlock()
	if c.ctx.Err() != nil {
		return fmt.Errorf("send %s on %s: %w", msg.Header.MsgType, ch, ErrClosed)
	}
	if err := c.socks[ch].SendMulti(zmq4.NewMsgFrom(frames...)); err != nil {
		return fmt.Errorf("send %s on %s: %w", msg.Header.MsgType, ch, err)
	}
	c.log.Debug("sent", "socket", ch.String(), "msg_type", msg.Header.MsgType, "msg_id", msg.Header.MsgID)
	return nil
}

// readLoop decodes messages from ch's socket into out until the Conn closes.
func (c *Conn) readLoop(ch Channel, out chan<- *Message) {
	defer c.wg.Done()
	defer close(out)
	for {
		zm, ok := c.recv(ch)
		if !ok {
			return
		}
		m, err := c.codec.Decode(zm.Frames)
		if err != nil {
			c.log.Warn("dropped message", "socket", ch.String(), "reason", err.Error(), "frames", len(zm.Frames))
			continue
		}
		c.log.Debug("received", "socket", ch.String(), "msg_type", m.Header.MsgType, "msg_id", m.Header.MsgID)
		select {
		case out <- m:
		case <-c.ctx.Done():
			return
		}
	}
}

// heartbeat echoes every message back to its sender, identity included.
func (c *Conn) heartbeat() {
	defer c.wg.Done()
	for {
		zm, ok := c.recv(Heartbeat)
		if !ok {
			return
		}
		if len(zm.Frames) < 2 {
			continue
		}
		c.sendMu[Heartbeat].Lock()
		err := c.socks[Heartbeat].SendMulti(zmq4.NewMsgFrom(zm.Frames...))
		c.sendMu[Heartbeat].Unlock()
		if err != nil && c.ctx.Err() == nil {
			c.log.Warn("heartbeat echo failed", "socket", Heartbeat.String(), "reason", err.Error())
		}
	}
}

// recv returns the next user message of ch's socket; false once closed.
func (c *Conn) recv(ch Channel) (zmq4.Msg, bool) {
	for {
		zm, err := c.socks[ch].Recv()
		if c.ctx.Err() != nil {
			return zmq4.Msg{}, false
		}
		if err != nil {
			c.log.Warn("receive failed", "socket", ch.String(), "reason", err.Error())
			select {
			case <-time.After(10 * time.Millisecond):
			case <-c.ctx.Done():
				return zmq4.Msg{}, false
			}
			continue
		}
		if zm.Type == zmq4.CmdMsg {
			continue
		}
		return zm, true
	}
}

// Close closes the sockets, waits for the reader goroutines and closes the
// Shell, Control and Stdin channels. It is idempotent.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.cancel()
		var errs []error
		for ch, s := range c.socks {
			if s == nil {
				continue
			}
			// Not under sendMu: closing unblocks a send stuck on a stalled peer.
			if err := s.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, fmt.Errorf("close %s: %w", Channel(ch), err))
			}
		}
		c.wg.Wait()
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
