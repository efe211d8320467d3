package loop

import (
	"net"
	"syscall"
)

// quickAck makes the kernel acknowledge received data at once. A server that
// writes a response in two pieces on a kept-alive connection (headers, then
// body: Python's http.server does) otherwise waits for the delayed ACK of
// the first piece, about 40 ms per request, before Nagle lets the second go.
func quickAck(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	q := &quickAckConn{TCPConn: tc, rc: rc}
	q.set()
	return q
}

type quickAckConn struct {
	*net.TCPConn
	rc syscall.RawConn
}

func (c *quickAckConn) set() {
	c.rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}

// Read re-arms TCP_QUICKACK, which the kernel clears on its own.
func (c *quickAckConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	c.set()
	return n, err
}
