package messaging

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/go-zeromq/zmq4/security/null"
)

const waitFor = 5 * time.Second

// logRecorder is a slog.Handler keeping every record as "LEVEL msg k=v ...".
type logRecorder struct {
	mu   sync.Mutex
	recs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, b.String())
	r.mu.Unlock()
	return nil
}

// wait waits until a record contains all of subs.
func (r *logRecorder) wait(t *testing.T, subs ...string) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, rec := range r.recs {
			ok := true
			for _, s := range subs {
				ok = ok && strings.Contains(rec, s)
			}
			if ok {
				r.mu.Unlock()
				return
			}
		}
		r.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	t.Fatalf("no log record with %q; have:\n%s", subs, strings.Join(r.recs, "\n"))
}

func listenTest(t *testing.T, info ConnectionInfo, opts ...Option) (*Conn, *logRecorder) {
	t.Helper()
	rec := &logRecorder{}
	c, err := Listen(t.Context(), info, slog.New(rec), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rec
}

func tcpInfo(key string) ConnectionInfo {
	return ConnectionInfo{Transport: "tcp", IP: "127.0.0.1", Key: key, SignatureScheme: "hmac-sha256"}
}

func dial(t *testing.T, s zmq4.Socket, ep string) zmq4.Socket {
	t.Helper()
	if err := s.Dial(ep); err != nil {
		t.Fatalf("dial %s: %v", ep, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func recvTimeout(t *testing.T, s zmq4.Socket) zmq4.Msg {
	t.Helper()
	type result struct {
		m   zmq4.Msg
		err error
	}
	ch := make(chan result, 1)
	go func() {
		m, err := s.Recv()
		ch <- result{m, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("recv: %v", r.err)
		}
		return r.m
	case <-time.After(waitFor):
		t.Fatalf("recv: nothing after %v", waitFor)
	}
	panic("unreachable")
}

func next(t *testing.T, ch <-chan *Message) *Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		return m
	case <-time.After(waitFor):
		t.Fatalf("no message after %v", waitFor)
	}
	panic("unreachable")
}

func sendFrames(t *testing.T, s zmq4.Socket, frames [][]byte) {
	t.Helper()
	if err := s.SendMulti(zmq4.NewMsgFrom(frames...)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func request(t *testing.T, c *Codec, msgType string, content any) (*Message, [][]byte) {
	t.Helper()
	m, err := NewMessage(msgType, nil, "client-session", content)
	if err != nil {
		t.Fatal(err)
	}
	m.Header.Username = "client"
	f, err := c.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return m, f
}

func ping(t *testing.T, hb zmq4.Socket, payload string) {
	t.Helper()
	if err := hb.Send(zmq4.NewMsgString(payload)); err != nil {
		t.Fatal(err)
	}
	if got := recvTimeout(t, hb); len(got.Frames) != 1 || string(got.Frames[0]) != payload {
		t.Fatalf("heartbeat echoed %q, want %q", got.Frames, payload)
	}
}

func TestConnRoundTrip(t *testing.T) {
	c, logs := listenTest(t, tcpInfo("secret"))
	info := c.Info()
	for _, p := range info.ports() {
		if p.port == 0 {
			t.Fatalf("%s not assigned: %+v", p.name, info)
		}
	}
	client := mustCodec(t, "hmac-sha256", "secret", 0)
	ctx := t.Context()
	shell := dial(t, zmq4.NewDealer(ctx, zmq4.WithID(zmq4.SocketIdentity("client-1"))), info.Endpoint(info.ShellPort))

	// A bad signature is dropped and logged; the next good message arrives.
	_, bad := request(t, client, "kernel_info_request", nil)
	bad[1][0] ^= 1
	sendFrames(t, shell, bad)
	req, good := request(t, client, "kernel_info_request", nil)
	sendFrames(t, shell, good)
	got := next(t, c.Shell())
	if got.Header != req.Header || string(got.Identities[0]) != "client-1" || len(got.Identities) != 1 {
		t.Fatalf("received %+v, want header %+v from client-1", got, req.Header)
	}
	logs.wait(t, "WARN dropped message", "socket=shell", "bad signature")
	logs.wait(t, "DEBUG received", "msg_type=kernel_info_request", "msg_id="+req.Header.MsgID)

	// A replay, a non-object content and a truncated message are dropped too.
	sendFrames(t, shell, good)
	_, notObj := request(t, client, "execute_request", nil)
	notObj[5] = []byte(`"code"`)
	notObj[1] = client.signer.sign(notObj[2:6]...)
	sendFrames(t, shell, notObj)
	_, short := request(t, client, "execute_request", nil)
	sendFrames(t, shell, short[:4])
	req2, good2 := request(t, client, "execute_request", map[string]any{"code": "1+1"})
	sendFrames(t, shell, good2)
	if got := next(t, c.Shell()); got.Header.MsgID != req2.Header.MsgID {
		t.Fatalf("received %s, want %s", got.Header.MsgID, req2.Header.MsgID)
	}
	logs.wait(t, "WARN dropped message", "replayed signature")
	logs.wait(t, "WARN dropped message", "content is not a JSON object")
	logs.wait(t, "WARN dropped message", "frames after delimiter")

	// Reply on shell to the requester's identity.
	reply, err := NewMessage("kernel_info_reply", got, "kernel-session", map[string]any{"status": "ok"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(Shell, reply); err != nil {
		t.Fatal(err)
	}
	rm, err := client.Decode(recvTimeout(t, shell).Frames)
	if err != nil {
		t.Fatalf("client decode of reply: %v", err)
	}
	var parent Header
	if err := json.Unmarshal(rm.ParentHeader, &parent); err != nil || parent.MsgID != req.Header.MsgID {
		t.Fatalf("reply parent %s (%v), want msg_id %s", rm.ParentHeader, err, req.Header.MsgID)
	}
	if rm.Header.MsgType != "kernel_info_reply" || len(rm.Identities) != 0 {
		t.Fatalf("reply %+v", rm)
	}
	logs.wait(t, "DEBUG sent", "socket=shell", "msg_id="+reply.Header.MsgID)

	// IOPub.
	sub := dial(t, zmq4.NewSub(ctx), info.Endpoint(info.IOPubPort))
	if err := sub.SetOption(zmq4.OptionSubscribe, ""); err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, c)
	status, _ := NewMessage("status", got, "kernel-session", map[string]string{"execution_state": "idle"})
	if err := c.Publish(status); err != nil {
		t.Fatal(err)
	}
	pm := recvTimeout(t, sub)
	if string(pm.Frames[0]) != "kernel.kernel-session.status" {
		t.Fatalf("topic %q", pm.Frames[0])
	}
	dm, err := client.Decode(pm.Frames)
	if err != nil || dm.Header.MsgID != status.Header.MsgID || string(dm.Content) != `{"execution_state":"idle"}` {
		t.Fatalf("iopub message %+v: %v", dm, err)
	}

	// Heartbeat: REQ gets its ping back.
	hb := dial(t, zmq4.NewReq(ctx), info.Endpoint(info.HBPort))
	ping(t, hb, "ping")
	ping(t, hb, "again")

	// Send checks its arguments.
	if err := c.Send(Shell, status); err != nil {
		// status carries the shell identity copied from its parent: fine.
		t.Fatal(err)
	}
	recvTimeout(t, shell)
	orphan, _ := NewMessage("x", nil, "s", nil)
	if err := c.Send(Control, orphan); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Send without identity: %v", err)
	}
	if err := c.Send(Heartbeat, reply); err == nil {
		t.Fatal("Send on heartbeat succeeded")
	}
}

func waitSubscribed(t *testing.T, c *Conn) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !slices.Contains(c.socks[IOPub].(zmq4.Topics).Topics(), "") {
		if time.Now().After(deadline) {
			t.Fatal("subscription never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHeartbeatAndControlWhileShellBusy(t *testing.T) {
	c, _ := listenTest(t, tcpInfo("k"), WithBuffer(1))
	info := c.Info()
	client := mustCodec(t, "hmac-sha256", "k", 0)
	ctx := t.Context()
	shell := dial(t, zmq4.NewDealer(ctx), info.Endpoint(info.ShellPort))
	control := dial(t, zmq4.NewDealer(ctx), info.Endpoint(info.ControlPort))
	hb := dial(t, zmq4.NewReq(ctx), info.Endpoint(info.HBPort))

	// Nobody reads Shell: its buffer, the reader goroutine and zmq4's queue fill up.
	const n = 100
	var ids []string
	for i := range n {
		m, f := request(t, client, "execute_request", map[string]int{"i": i})
		ids = append(ids, m.Header.MsgID)
		sendFrames(t, shell, f)
	}
	time.Sleep(100 * time.Millisecond)
	ping(t, hb, "ping")
	cm, f := request(t, client, "interrupt_request", nil)
	sendFrames(t, control, f)
	if got := next(t, c.Control()); got.Header.MsgID != cm.Header.MsgID {
		t.Fatalf("control got %s", got.Header.MsgID)
	}
	ping(t, hb, "ping2")
	for i := range n {
		if got := next(t, c.Shell()); got.Header.MsgID != ids[i] {
			t.Fatalf("shell message %d is %s, want %s", i, got.Header.MsgID, ids[i])
		}
	}
}

func TestOversizedMessageClosesPeer(t *testing.T) {
	const limit = 4096
	c, logs := listenTest(t, tcpInfo("k"), WithMaxMessageSize(limit))
	info := c.Info()
	client := mustCodec(t, "hmac-sha256", "k", 0)
	ctx := t.Context()
	ep := info.Endpoint(info.ShellPort)

	big := dial(t, zmq4.NewDealer(ctx), ep)
	_, f := request(t, client, "execute_request", map[string]string{"code": strings.Repeat("x", 2*limit)})
	sendFrames(t, big, f)
	logs.wait(t, "WARN closing peer connection", "socket=shell", "larger than 4096")

	// Just under the transport limit but over Decode's (the identity frame counts).
	_, f = request(t, client, "execute_request", nil)
	pad := limit - len(f[0]) - len(f[1]) - len(f[2]) - len(f[3]) - len(f[4]) - len(f[5])
	f = append(f, make([]byte, pad))
	other := dial(t, zmq4.NewDealer(ctx), ep)
	sendFrames(t, other, f)
	logs.wait(t, "WARN dropped message", "message too large")

	// A frame header announcing 2^44 bytes must not reach zmq4's allocation.
	raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", info.ShellPort))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := zmq4.Open(raw, null.Security(), zmq4.Dealer, zmq4.SocketIdentity("raw"), false, nil); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	hdr := []byte{flagLong, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint64(hdr[1:], 1<<44)
	if _, err := raw.Write(hdr); err != nil {
		t.Fatal(err)
	}
	raw.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := raw.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		t.Fatalf("connection not closed by the kernel: %v", err)
	}

	// The Conn still serves.
	good := dial(t, zmq4.NewDealer(ctx), ep)
	m, f := request(t, client, "execute_request", nil)
	sendFrames(t, good, f)
	if got := next(t, c.Shell()); got.Header.MsgID != m.Header.MsgID {
		t.Fatalf("got %s", got.Header.MsgID)
	}
	ping(t, dial(t, zmq4.NewReq(ctx), info.Endpoint(info.HBPort)), "alive")
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestStalledHandshakeDoesNotBlockOthers(t *testing.T) {
	c, logs := listenTest(t, tcpInfo("k"), func(o *options) { o.handshake = 200 * time.Millisecond })
	info := c.Info()
	// Connect and say nothing: zmq4 runs the handshake in its accept loop.
	raw, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", info.ShellPort))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	time.Sleep(50 * time.Millisecond)

	client := mustCodec(t, "hmac-sha256", "k", 0)
	dealer := dial(t, zmq4.NewDealer(t.Context()), info.Endpoint(info.ShellPort))
	m, f := request(t, client, "kernel_info_request", nil)
	sendFrames(t, dealer, f)
	if got := next(t, c.Shell()); got.Header.MsgID != m.Header.MsgID {
		t.Fatalf("got %s", got.Header.MsgID)
	}
	logs.wait(t, "WARN closing peer connection", "handshake")
}

func TestListenIPC(t *testing.T) {
	dir := t.TempDir()
	info := ConnectionInfo{Transport: "ipc", IP: filepath.Join(dir, "kernel"), Key: "k", SignatureScheme: "hmac-sha1"}
	info.HBPort = 2 // a fixed port is kept, the others avoid it
	c, _ := listenTest(t, info)
	got := c.Info()
	if got.HBPort != 2 || got.ShellPort != 1 || got.ControlPort != 3 || got.StdinPort != 4 || got.IOPubPort != 5 {
		t.Fatalf("ipc ports %+v", got)
	}
	client := mustCodec(t, "hmac-sha1", "k", 0)
	stdin := dial(t, zmq4.NewDealer(t.Context()), got.Endpoint(got.StdinPort))
	m, f := request(t, client, "input_reply", map[string]string{"value": "x"})
	sendFrames(t, stdin, f)
	in := next(t, c.Stdin())
	if in.Header.MsgID != m.Header.MsgID {
		t.Fatalf("got %s", in.Header.MsgID)
	}
	req, _ := NewMessage("input_request", in, "kernel", map[string]any{"prompt": "? ", "password": false})
	if err := c.Send(Stdin, req); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Decode(recvTimeout(t, stdin).Frames); err != nil {
		t.Fatal(err)
	}
	ping(t, dial(t, zmq4.NewReq(t.Context()), got.Endpoint(got.HBPort)), "ipc")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(info.IP + "-*"); len(left) != 0 {
		t.Fatalf("socket files left after Close: %q", left)
	}
}

func TestCloseAndCancel(t *testing.T) {
	c, _ := listenTest(t, tcpInfo(""))
	for _, ch := range []<-chan *Message{c.Shell(), c.Control(), c.Stdin()} {
		select {
		case _, ok := <-ch:
			t.Fatalf("message before close (ok=%v)", ok)
		default:
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, ch := range []<-chan *Message{c.Shell(), c.Control(), c.Stdin()} {
		if _, ok := <-ch; ok {
			t.Fatal("channel open after Close")
		}
	}
	m, _ := NewMessage("status", nil, "s", nil)
	if err := c.Publish(m); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	m.Identities = [][]byte{[]byte("x")}
	if err := c.Send(Shell, m); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}

	// Cancelling the context closes the Conn too, and frees its ports.
	ctx, cancel := context.WithCancel(t.Context())
	c2, err := Listen(ctx, tcpInfo("k"), nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-c2.Shell():
		if ok {
			t.Fatal("message after cancel")
		}
	case <-time.After(waitFor):
		t.Fatal("Shell not closed after cancel")
	}
	c2.Close() // waits for the Close that cancel started
	c3, err := Listen(t.Context(), c2.Info(), nil)
	if err != nil {
		t.Fatalf("relisten on freed ports: %v", err)
	}
	c3.Close()
}

func TestListenErrors(t *testing.T) {
	c, _ := listenTest(t, tcpInfo("k"))
	if _, err := Listen(t.Context(), c.Info(), nil); err == nil || !strings.Contains(err.Error(), "listen shell") {
		t.Fatalf("Listen on used ports: %v", err)
	}
	bad := tcpInfo("k")
	bad.SignatureScheme = "sha256"
	if _, err := Listen(t.Context(), bad, nil); err == nil || !strings.Contains(err.Error(), "signature_scheme") {
		t.Fatalf("Listen with bad scheme: %v", err)
	}
	dup := tcpInfo("k")
	dup.ShellPort, dup.StdinPort = 40000, 40000
	if _, err := Listen(t.Context(), dup, nil); err == nil || !strings.Contains(err.Error(), "stdin_port") {
		t.Fatalf("Listen with duplicate ports: %v", err)
	}
}

// BenchmarkShellRoundTrip measures request -> Shell() -> Send -> client over
// 127.0.0.1, signatures checked on both sides.
func BenchmarkShellRoundTrip(b *testing.B) {
	c, err := Listen(b.Context(), tcpInfo("k"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	go func() {
		for m := range c.Shell() {
			r, _ := NewMessage("kernel_info_reply", m, "s", nil)
			c.Send(Shell, r)
		}
	}()
	client := mustCodec(b, "hmac-sha256", "k", 0)
	info := c.Info()
	d := zmq4.NewDealer(b.Context())
	defer d.Close()
	if err := d.Dial(info.Endpoint(info.ShellPort)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		m, _ := NewMessage("kernel_info_request", nil, "client", nil)
		f, _ := client.Encode(m)
		if err := d.SendMulti(zmq4.NewMsgFrom(f...)); err != nil {
			b.Fatal(err)
		}
		r, err := d.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := client.Decode(r.Frames); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDrainBeforeClose(t *testing.T) {
	c, _ := listenTest(t, tcpInfo("k"))
	sub := dial(t, zmq4.NewSub(t.Context()), c.Info().Endpoint(c.Info().IOPubPort))
	if err := sub.SetOption(zmq4.OptionSubscribe, ""); err != nil {
		t.Fatal(err)
	}
	waitSubscribed(t, c)

	// More than the socket buffers hold, so that zmq4's queue is not empty
	// when the last Publish returns.
	const n = 300
	big := strings.Repeat("x", 64<<10)
	got := make(chan int, 1)
	go func() {
		count := 0
		for count < n {
			if _, err := sub.Recv(); err != nil {
				break
			}
			count++
		}
		got <- count
	}()
	for i := range n {
		m, _ := NewMessage("stream", nil, "s", map[string]any{"i": i, "text": big})
		if err := c.Publish(m); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	c.Drain(t.Context(), 20*time.Millisecond, waitFor)
	took := time.Since(start)
	c.Close()
	select {
	case count := <-got:
		if count != n {
			t.Fatalf("the subscriber got %d of %d messages (Drain took %v)", count, n, took)
		}
	case <-time.After(waitFor):
		t.Fatal("the subscriber did not get all messages")
	}

	// Nothing to write: Drain returns after the quiet time, bounded by max.
	c2, _ := listenTest(t, tcpInfo("k"))
	for _, tc := range []struct{ quiet, max, atLeast, below time.Duration }{
		{20 * time.Millisecond, time.Second, 0, 500 * time.Millisecond},
		{time.Second, 50 * time.Millisecond, 40 * time.Millisecond, 500 * time.Millisecond},
	} {
		m, _ := NewMessage("status", nil, "s", nil)
		c2.Publish(m)
		start := time.Now()
		c2.Drain(t.Context(), tc.quiet, tc.max)
		if d := time.Since(start); d < tc.atLeast || d >= tc.below {
			t.Errorf("Drain(quiet %v, max %v) took %v", tc.quiet, tc.max, d)
		}
	}
}

func TestSubscriptionsReported(t *testing.T) {
	c, _ := listenTest(t, tcpInfo("k"))
	ep := c.Info().Endpoint(c.Info().IOPubPort)
	for i, topic := range []string{"", "", "kernel.s."} {
		sub := dial(t, zmq4.NewSub(t.Context()), ep)
		if err := sub.SetOption(zmq4.OptionSubscribe, topic); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-c.Subscriptions():
			if got != topic {
				t.Fatalf("subscriber %d: topic %q, want %q", i, got, topic)
			}
		case <-time.After(waitFor):
			t.Fatalf("subscriber %d: no subscription reported", i)
		}
		// Reported once in effect: a message published now reaches it.
		m, _ := NewMessage("iopub_welcome", nil, "s", map[string]string{"subscription": topic})
		if err := c.Publish(m); err != nil {
			t.Fatal(err)
		}
		zm := recvTimeout(t, sub)
		if got := string(zm.Frames[0]); got != "kernel.s.iopub_welcome" {
			t.Fatalf("subscriber %d got topic frame %q", i, got)
		}
	}
	select {
	case got := <-c.Subscriptions():
		t.Fatalf("extra subscription %q", got)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestSubscriptionFrame(t *testing.T) {
	long := strings.Repeat("t", maxTopic+1)
	for _, tc := range []struct {
		body    string
		command bool
		topic   string
		ok      bool
	}{
		{"\x01", false, "", true},
		{"\x01kernel.x", false, "kernel.x", true},
		{"\x00kernel.x", false, "", false}, // unsubscribe
		{"hello", false, "", false},
		{"\x09SUBSCRIBEtopic", true, "topic", true},
		{"\x09SUBSCRIBE", true, "", true},
		{"\x06CANCELtopic", true, "", false},
		{"\x01topic", true, "", false}, // a command, not a message
		{"\x01" + long, false, long, false},
	} {
		topic, ok := subscription([]byte(tc.body), tc.command)
		if ok != tc.ok || (ok && topic != tc.topic) {
			t.Errorf("subscription(%q, %v) = %q, %v; want %q, %v", tc.body, tc.command, topic, ok, tc.topic, tc.ok)
		}
	}
}
