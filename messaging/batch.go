package messaging

import "encoding/binary"

// zmq4 writes a multipart message as one net.Buffers, which becomes a single
// writev on a *net.TCPConn but, on any other net.Conn (such as guardConn),
// one write per frame header and per frame body: some 14 system calls, and as
// many TCP segments for the peer to read, for each Jupyter message. batcher
// follows the ZMTP framing of what zmq4 writes and holds the pieces of a
// message until its last frame is complete, so that each message (and each
// command, and the greeting) goes out in one write. Large frames are not
// held: what is held is written, then the large piece itself.

// maxBatch is the most a batcher holds before it writes.
const maxBatch = 64 << 10

// batcher follows the outgoing framing. The zero value is not ready: use
// newBatcher.
type batcher struct {
	greetLeft int // bytes of the greeting still to come
	hdr       frameHeader
	bodyLeft  uint64
	more      bool   // the frame being written is not the message's last
	buf       []byte // held pieces, at most maxBatch bytes
}

func newBatcher() *batcher { return &batcher{greetLeft: zmtpGreetingLen} }

// advance moves the framing state over p and reports whether p ends the
// greeting, a command or a message's last frame.
func (b *batcher) advance(p []byte) bool {
	end := false
	for len(p) > 0 {
		end = false
		switch {
		case b.greetLeft > 0:
			n := min(b.greetLeft, len(p))
			b.greetLeft -= n
			p = p[n:]
			end = b.greetLeft == 0
		case b.bodyLeft > 0:
			n := min(b.bodyLeft, uint64(len(p)))
			b.bodyLeft -= n
			p = p[n:]
			end = b.bodyLeft == 0 && !b.more
		default:
			flags, size, ok := b.hdr.add(p[0])
			p = p[1:]
			if !ok {
				continue
			}
			b.bodyLeft = size
			b.more = flags&flagMore != 0 && flags&flagCommand == 0
			end = b.bodyLeft == 0 && !b.more
		}
	}
	return end
}

// frameHeader reads a ZMTP frame header a byte at a time: a flags byte and
// a size of one byte, or of eight (big-endian) with flagLong.
type frameHeader struct {
	buf  [9]byte
	have int
	need int
}

// add takes the next byte; ok reports a complete header, with its flags and
// body size.
func (h *frameHeader) add(c byte) (flags byte, size uint64, ok bool) {
	if h.have == 0 {
		h.need = 2
		if c&flagLong != 0 {
			h.need = 9
		}
	}
	h.buf[h.have] = c
	h.have++
	if h.have < h.need {
		return 0, 0, false
	}
	h.have = 0
	flags = h.buf[0]
	if flags&flagLong != 0 {
		return flags, binary.BigEndian.Uint64(h.buf[1:9]), true
	}
	return flags, uint64(h.buf[1]), true
}
