//go:build !linux

package loop

import "net"

func quickAck(c net.Conn) net.Conn { return c }
