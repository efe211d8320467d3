package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/transport"
)

// zmq4 reads every frame into a buffer of the length the peer announces
// (make([]byte, size) for any size up to 2^63), so a 10-byte frame header
// would be enough to crash the process, and it runs the ZMTP handshake of
// every accepted connection in its single accept goroutine without a
// deadline. Conn therefore listens through the transports registered below:
// they are zmq4's tcp and ipc transports whose accepted connections parse
// the ZMTP framing of the incoming byte stream, close the connection when a
// frame or message exceeds the limit, and give the handshake a deadline.
// zmq4 looks a transport up by the endpoint scheme; the per-socket limit and
// logger travel in the context zmq4 hands to Transport.Listen.
const (
	guardedTCP = "wasmpy-tcp"
	guardedIPC = "wasmpy-ipc"
)

// handshakeTimeout bounds the ZMTP greeting and handshake of a new peer.
const handshakeTimeout = 10 * time.Second

func init() {
	// zmq4 keeps a process-wide transport registry; these two entries are
	// stateless and registered once.
	for name, network := range map[string]string{guardedTCP: "tcp", guardedIPC: "unix"} {
		if err := zmq4.RegisterTransport(name, guardTransport{transport.New(network), network}); err != nil {
			panic(fmt.Sprintf("messaging: register zmq4 transport %s: %v", name, err))
		}
	}
}

// guardConfig is what a guarded listener needs to know about its socket.
type guardConfig struct {
	limit     int64 // largest message body, summed over its frames
	handshake time.Duration
	socket    string
	log       *slog.Logger
	writes    *writeTracker // nil: not followed
	// onSubscribe, when set (iopub), is called with the topic of each
	// subscription a peer makes, once zmq4 has read it (see guardConn.Read).
	onSubscribe func(topic string)
}

// writeTracker follows the writes to a socket's peer connections: the time
// of the last write or queued message, and the writes in progress.
type writeTracker struct {
	last     atomic.Int64 // unix nanoseconds
	inflight atomic.Int32
}

// queued notes that a message was queued for writing.
func (w *writeTracker) queued() { w.last.Store(time.Now().UnixNano()) }

// idleFor is how long no write has been in progress or made, nor a message
// queued: 0 while a write is in progress.
func (w *writeTracker) idleFor() time.Duration {
	if w.inflight.Load() > 0 {
		return 0
	}
	return time.Duration(time.Now().UnixNano() - w.last.Load())
}

type guardKey struct{}

func withGuard(ctx context.Context, cfg guardConfig) context.Context {
	return context.WithValue(ctx, guardKey{}, cfg)
}

type guardTransport struct {
	transport.Transport
	network string
}

func (t guardTransport) Listen(ctx context.Context, addr string) (net.Listener, error) {
	cfg, ok := ctx.Value(guardKey{}).(guardConfig)
	if !ok {
		cfg = guardConfig{limit: DefaultMaxMessageSize, handshake: handshakeTimeout,
			socket: "?", log: slog.New(slog.DiscardHandler)}
	}
	l, err := net.Listen(t.network, addr)
	if err != nil {
		return nil, err
	}
	return guardListener{l, cfg}, nil
}

type guardListener struct {
	net.Listener
	cfg guardConfig
}

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if err := c.SetReadDeadline(time.Now().Add(l.cfg.handshake)); err != nil {
		c.Close()
		return nil, err
	}
	return &guardConn{Conn: c, cfg: l.cfg, greetLeft: zmtpGreetingLen, out: newBatcher()}, nil
}

// ZMTP 3 framing, see https://rfc.zeromq.org/spec/23/.
const (
	zmtpGreetingLen = 64
	flagMore        = 0x01
	flagLong        = 0x02
	flagCommand     = 0x04
)

// maxTopic is the longest subscription topic reported to onSubscribe
// (Jupyter clients subscribe to everything: the empty topic).
const maxTopic = 1024

// guardConn follows the ZMTP framing of what it reads.
type guardConn struct {
	net.Conn
	cfg guardConfig

	mu        sync.Mutex // zmq4 reads from one goroutine at a time; be safe
	err       error      // sticky
	greetLeft int
	hdr       frameHeader
	bodyLeft  uint64
	msgSize   uint64
	msgFrames int
	greeted   bool // first frame after the greeting (the peer's READY) done

	// Subscriptions (with cfg.onSubscribe): the body of the frame being
	// read when it may be one, and the topics read but not yet reported.
	capturing bool
	frameCmd  bool
	capture   []byte
	subs      []string

	wmu sync.Mutex // zmq4 writes a message from one goroutine; be safe
	out *batcher

	// The read buffer (see fill): rbuf[rpos:] is unread; rerr came with
	// the last read from the socket.
	rstore []byte
	rbuf   []byte
	rpos   int
	rerr   error
}

// Write notes the write in the socket's writeTracker.
// Write holds the pieces of a message until it is complete (see batcher),
// then writes them at once.
func (g *guardConn) Write(p []byte) (int, error) {
	g.wmu.Lock()
	defer g.wmu.Unlock()
	ends := g.out.advance(p)
	if len(g.out.buf)+len(p) > maxBatch {
		if err := g.flushOut(); err != nil {
			return 0, err
		}
		return g.write(p)
	}
	g.out.buf = append(g.out.buf, p...)
	if ends {
		if err := g.flushOut(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// flushOut writes the held pieces.
func (g *guardConn) flushOut() error {
	if len(g.out.buf) == 0 {
		return nil
	}
	_, err := g.write(g.out.buf)
	g.out.buf = g.out.buf[:0]
	return err
}

// write writes p, noted in the socket's writeTracker.
func (g *guardConn) write(p []byte) (int, error) {
	w := g.cfg.writes
	if w == nil {
		return g.Conn.Write(p)
	}
	w.inflight.Add(1)
	n, err := g.Conn.Write(p)
	w.last.Store(time.Now().UnixNano())
	w.inflight.Add(-1)
	return n, err
}

// frameLimitError closes the zmq4 connection: zmq4 drops a connection on a
// non-timeout net.Error.
type frameLimitError struct{ msg string }

func (e *frameLimitError) Error() string   { return "messaging: " + e.msg }
func (e *frameLimitError) Timeout() bool   { return false }
func (e *frameLimitError) Temporary() bool { return false }

func (g *guardConn) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return 0, g.err
	}
	// zmq4 reads again only after it has handled what it read before: a
	// subscription read then is in effect, so a message published to its
	// topic now reaches the new subscriber.
	for _, topic := range g.subs {
		g.cfg.onSubscribe(topic)
	}
	g.subs = g.subs[:0]
	n, err := g.fill(p)
	if n > 0 {
		if perr := g.scan(p[:n]); perr != nil {
			g.err = perr
			g.cfg.log.Warn("closing peer connection", "socket", g.cfg.socket,
				"peer", g.Conn.RemoteAddr().String(), "reason", perr.msg)
			g.Conn.Close()
			return 0, perr
		}
	}
	if err != nil && !g.greeted {
		// A peer that stalls the handshake would block zmq4's accept loop,
		// which also leaks the connection when the handshake fails.
		g.err = err
		level := slog.LevelDebug
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			level = slog.LevelWarn
		}
		g.cfg.log.Log(context.Background(), level, "closing peer connection", "socket", g.cfg.socket,
			"peer", g.Conn.RemoteAddr().String(), "reason", "handshake: "+err.Error())
		g.Conn.Close()
	}
	return n, err
}

// readBufSize is how much fill asks the socket for at once: zmq4 reads
// each frame's header and body with separate small reads (some 14 system
// calls a Jupyter message without a buffer).
const readBufSize = 16 << 10

// fill reads into p from the buffer, refilling it from the socket when it
// is empty (reads of readBufSize or more go to the socket directly). Data
// read along with an error is delivered first, the error after it.
func (g *guardConn) fill(p []byte) (int, error) {
	if g.rpos < len(g.rbuf) {
		n := copy(p, g.rbuf[g.rpos:])
		g.rpos += n
		return n, nil
	}
	if err := g.rerr; err != nil {
		g.rerr = nil
		return 0, err
	}
	if len(p) >= readBufSize {
		return g.Conn.Read(p)
	}
	if g.rstore == nil {
		g.rstore = make([]byte, readBufSize)
	}
	n, err := g.Conn.Read(g.rstore)
	g.rbuf, g.rpos = g.rstore[:n], 0
	if n == 0 {
		return 0, err
	}
	g.rerr = err
	m := copy(p, g.rbuf)
	g.rpos = m
	return m, nil
}

// scan advances the framing state over b.
func (g *guardConn) scan(b []byte) *frameLimitError {
	for len(b) > 0 {
		switch {
		case g.greetLeft > 0:
			n := min(g.greetLeft, len(b))
			g.greetLeft -= n
			b = b[n:]
		case g.bodyLeft > 0:
			n := min(g.bodyLeft, uint64(len(b)))
			if g.capturing {
				g.capture = append(g.capture, b[:n]...)
			}
			g.bodyLeft -= n
			b = b[n:]
			if g.bodyLeft == 0 {
				g.frameDone()
			}
		default:
			flags, size, ok := g.hdr.add(b[0])
			b = b[1:]
			if !ok {
				continue
			}
			limit := uint64(g.cfg.limit)
			if size > limit || g.msgSize+size > limit {
				return &frameLimitError{fmt.Sprintf("message larger than %d bytes", limit)}
			}
			g.msgFrames++
			if g.msgFrames > MaxFrames {
				return &frameLimitError{fmt.Sprintf("message of more than %d frames", MaxFrames)}
			}
			g.msgSize += size
			// A subscription is a one-frame message 0x01+topic, or (ZMTP
			// 3.1) a SUBSCRIBE command.
			single := g.msgFrames == 1 && flags&flagMore == 0
			g.capturing = g.cfg.onSubscribe != nil && g.greeted && single && size > 0 && size <= 16+maxTopic
			g.frameCmd = flags&flagCommand != 0
			g.capture = g.capture[:0]
			if flags&flagMore == 0 {
				g.msgSize, g.msgFrames = 0, 0
			}
			g.bodyLeft = size
			if size == 0 {
				g.frameDone()
			}
		}
	}
	return nil
}

func (g *guardConn) frameDone() {
	if !g.greeted {
		g.greeted = true
		g.Conn.SetReadDeadline(time.Time{})
	}
	if g.capturing {
		g.capturing = false
		if topic, ok := subscription(g.capture, g.frameCmd); ok {
			g.subs = append(g.subs, topic)
		}
	}
}

// subscription reports the topic of a frame body that subscribes: 0x01 and
// the topic in a message, or a SUBSCRIBE command.
func subscription(body []byte, command bool) (string, bool) {
	const cmd = "\x09SUBSCRIBE"
	switch {
	case command && len(body) >= len(cmd) && string(body[:len(cmd)]) == cmd:
		return string(body[len(cmd):]), len(body)-len(cmd) <= maxTopic
	case !command && len(body) > 0 && body[0] == 1:
		return string(body[1:]), len(body)-1 <= maxTopic
	}
	return "", false
}
