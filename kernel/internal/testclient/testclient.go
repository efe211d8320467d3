// Package testclient is a minimal Jupyter client for the kernel's tests: a
// DEALER socket each for shell, control and stdin and a SUB socket for iopub,
// speaking the signed wire format through messaging.Codec, with every
// received message kept so tests can look for it by parent. It must not be
// used outside tests.
package testclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-zeromq/zmq4"
	"github.com/google/uuid"

	"wasmpy/messaging"
)

// Client is connected to one kernel.
type Client struct {
	Session string
	codec   *messaging.Codec
	cancel  context.CancelFunc
	socks   map[messaging.Channel]zmq4.Socket
	boxes   map[messaging.Channel]*mailbox
	sendMu  sync.Mutex
	wg      sync.WaitGroup
}

// Dial connects to the kernel described by info.
func Dial(ctx context.Context, info messaging.ConnectionInfo) (*Client, error) {
	codec, err := messaging.NewCodec(info.SignatureScheme, []byte(info.Key), 0)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	c := &Client{
		Session: uuid.NewString(),
		codec:   codec,
		cancel:  cancel,
		socks:   map[messaging.Channel]zmq4.Socket{},
		boxes:   map[messaging.Channel]*mailbox{},
	}
	id := zmq4.SocketIdentity(c.Session)
	ports := map[messaging.Channel]int{
		messaging.Shell: info.ShellPort, messaging.Control: info.ControlPort,
		messaging.Stdin: info.StdinPort, messaging.IOPub: info.IOPubPort,
	}
	for ch, port := range ports {
		var s zmq4.Socket
		if ch == messaging.IOPub {
			s = zmq4.NewSub(ctx)
		} else {
			s = zmq4.NewDealer(ctx, zmq4.WithID(id))
		}
		if err := s.Dial(fmt.Sprintf("tcp://%s:%d", info.IP, port)); err != nil {
			c.Close()
			return nil, fmt.Errorf("dial %s: %w", ch, err)
		}
		if ch == messaging.IOPub {
			if err := s.SetOption(zmq4.OptionSubscribe, ""); err != nil {
				c.Close()
				return nil, fmt.Errorf("subscribe: %w", err)
			}
		}
		c.socks[ch] = s
		c.boxes[ch] = newMailbox()
	}
	for ch, s := range c.socks {
		c.wg.Add(1)
		go c.read(ctx, s, c.boxes[ch])
	}
	return c, nil
}

func (c *Client) read(ctx context.Context, s zmq4.Socket, box *mailbox) {
	defer c.wg.Done()
	for {
		zm, err := s.Recv()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		m, err := c.codec.Decode(zm.Frames)
		if err != nil {
			continue
		}
		// Decode aliases the frames; they belong to this message only.
		box.add(m)
	}
}

// Close disconnects.
func (c *Client) Close() {
	c.cancel()
	for _, s := range c.socks {
		s.Close()
	}
	c.wg.Wait()
}

// NewRequest builds a message from the client.
func (c *Client) NewRequest(msgType string, content any) (*messaging.Message, error) {
	m, err := messaging.NewMessage(msgType, nil, c.Session, content)
	if err != nil {
		return nil, err
	}
	m.Header.Username = "test"
	return m, nil
}

// SendMsg sends m on ch.
func (c *Client) SendMsg(ch messaging.Channel, m *messaging.Message) error {
	frames, err := c.codec.Encode(m)
	if err != nil {
		return err
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.socks[ch].SendMulti(zmq4.NewMsgFrom(frames...))
}

// Send builds and sends a request, and returns it.
func (c *Client) Send(ch messaging.Channel, msgType string, content any) (*messaging.Message, error) {
	m, err := c.NewRequest(msgType, content)
	if err != nil {
		return nil, err
	}
	return m, c.SendMsg(ch, m)
}

// Reply sends an input_reply-like message with parent as parent header.
func (c *Client) Reply(ch messaging.Channel, msgType string, parent *messaging.Message, content any) error {
	m, err := c.NewRequest(msgType, content)
	if err != nil {
		return err
	}
	ph, _ := json.Marshal(parent.Header)
	m.ParentHeader = ph
	return c.SendMsg(ch, m)
}

// ParentID returns the msg_id in m's parent header ("" if none).
func ParentID(m *messaging.Message) string {
	var h struct {
		MsgID string `json:"msg_id"`
	}
	json.Unmarshal(m.ParentHeader, &h)
	return h.MsgID
}

// Wait returns the first message received on ch (ever) that pred accepts.
func (c *Client) Wait(ch messaging.Channel, timeout time.Duration, pred func(*messaging.Message) bool) (*messaging.Message, error) {
	return c.boxes[ch].wait(timeout, pred)
}

// WaitReply returns the message on ch whose parent is req.
func (c *Client) WaitReply(ch messaging.Channel, req *messaging.Message, timeout time.Duration) (*messaging.Message, error) {
	m, err := c.Wait(ch, timeout, func(m *messaging.Message) bool { return ParentID(m) == req.Header.MsgID })
	if err != nil {
		return nil, fmt.Errorf("reply to %s on %s: %w", req.Header.MsgType, ch, err)
	}
	return m, nil
}

// All returns every message received on ch so far that pred accepts, in
// order of arrival.
func (c *Client) All(ch messaging.Channel, pred func(*messaging.Message) bool) []*messaging.Message {
	return c.boxes[ch].all(pred)
}

// IsStatus reports whether m is a status message with state.
func IsStatus(m *messaging.Message, state string) bool {
	if m.Header.MsgType != "status" {
		return false
	}
	var c struct {
		State string `json:"execution_state"`
	}
	json.Unmarshal(m.Content, &c)
	return c.State == state
}

// IOPubFor waits for the idle status whose parent is req and returns every
// IOPub message with that parent, in order, up to and including it.
func (c *Client) IOPubFor(req *messaging.Message, timeout time.Duration) ([]*messaging.Message, error) {
	id := req.Header.MsgID
	if _, err := c.Wait(messaging.IOPub, timeout, func(m *messaging.Message) bool {
		return ParentID(m) == id && IsStatus(m, "idle")
	}); err != nil {
		return nil, fmt.Errorf("idle for %s: %w", req.Header.MsgType, err)
	}
	var out []*messaging.Message
	for _, m := range c.All(messaging.IOPub, func(m *messaging.Message) bool { return ParentID(m) == id }) {
		out = append(out, m)
		if IsStatus(m, "idle") {
			break
		}
	}
	return out, nil
}

// WaitReady sends kernel_info_request on shell until one is answered and an
// IOPub message has arrived (the SUB socket's subscription is then active).
func (c *Client) WaitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		req, err := c.Send(messaging.Shell, "kernel_info_request", nil)
		if err != nil {
			return err
		}
		if _, err := c.WaitReply(messaging.Shell, req, time.Until(deadline)); err != nil {
			return err
		}
		if _, err := c.Wait(messaging.IOPub, 200*time.Millisecond, func(*messaging.Message) bool { return true }); err == nil {
			return nil
		}
	}
	return errors.New("kernel not ready in time")
}

// mailbox keeps messages and wakes waiters.
type mailbox struct {
	mu     sync.Mutex
	msgs   []*messaging.Message
	notify chan struct{}
}

func newMailbox() *mailbox { return &mailbox{notify: make(chan struct{})} }

func (b *mailbox) add(m *messaging.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	close(b.notify)
	b.notify = make(chan struct{})
	b.mu.Unlock()
}

func (b *mailbox) all(pred func(*messaging.Message) bool) []*messaging.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*messaging.Message
	for _, m := range b.msgs {
		if pred(m) {
			out = append(out, m)
		}
	}
	return out
}

// ErrTimeout is returned when no matching message came in time.
var ErrTimeout = errors.New("timed out waiting for a message")

func (b *mailbox) wait(timeout time.Duration, pred func(*messaging.Message) bool) (*messaging.Message, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		b.mu.Lock()
		for _, m := range b.msgs {
			if pred(m) {
				b.mu.Unlock()
				return m, nil
			}
		}
		notify := b.notify
		b.mu.Unlock()
		select {
		case <-notify:
		case <-t.C:
			return nil, ErrTimeout
		}
	}
}
