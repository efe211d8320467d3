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
	hdr       [9]byte
	hdrHave   int
	hdrNeed   int
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
			if b.hdrHave == 0 {
				b.hdrNeed = 2
				if p[0]&flagLong != 0 {
					b.hdrNeed = 9
				}
			}
			b.hdr[b.hdrHave] = p[0]
			b.hdrHave++
			p = p[1:]
			if b.hdrHave < b.hdrNeed {
				continue
			}
			b.hdrHave = 0
			flags := b.hdr[0]
			b.bodyLeft = uint64(b.hdr[1])
			if flags&flagLong != 0 {
				b.bodyLeft = binary.BigEndian.Uint64(b.hdr[1:9])
			}
			b.more = flags&flagMore != 0 && flags&flagCommand == 0
			end = b.bodyLeft == 0 && !b.more
		}
	}
	return end
}
