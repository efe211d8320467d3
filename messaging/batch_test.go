package messaging

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

// recordConn is a net.Conn that records its writes.
type recordConn struct {
	net.Conn
	writes [][]byte
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.writes = append(r.writes, append([]byte(nil), p...))
	return len(p), nil
}

// frame is a ZMTP frame as zmq4 writes it: header, then body.
func frame(flags byte, body []byte) [][]byte {
	if len(body) > 255 {
		hdr := make([]byte, 9)
		hdr[0] = flags | flagLong
		binary.BigEndian.PutUint64(hdr[1:], uint64(len(body)))
		return [][]byte{hdr, body}
	}
	return [][]byte{{flags, byte(len(body))}, body}
}

func TestWritesBatchedPerMessage(t *testing.T) {
	greeting := bytes.Repeat([]byte{0xff}, zmtpGreetingLen)
	ready := frame(flagCommand, []byte("\x05READYsocket-type"))
	big := bytes.Repeat([]byte("b"), maxBatch+10)
	var msg [][]byte
	msg = append(msg, frame(flagMore, []byte("topic"))...)
	msg = append(msg, frame(flagMore, bytes.Repeat([]byte("x"), 300))...)
	msg = append(msg, frame(0, nil)...)
	tests := []struct {
		name   string
		pieces [][]byte
		writes []int // sizes of the writes that reach the conn
	}{
		{"greeting in two pieces", [][]byte{greeting[:10], greeting[10:]}, []int{64}},
		{"a command", ready, []int{2 + 17}},
		{"a message of three frames", msg, []int{2 + 5 + 9 + 300 + 2}},
		{"two messages", append(append([][]byte{}, msg...), msg...), []int{318, 318}},
		{"a frame too large to hold", append(frame(flagMore, []byte("t")), frame(0, big)...),
			[]int{2 + 1 + 9, len(big)}},
		{"a piece split across writes", [][]byte{{0, 3}, []byte("ab"), []byte("c")}, []int{5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordConn{}
			g := &guardConn{Conn: rec, out: newBatcher()}
			if tc.name != "greeting in two pieces" {
				g.out.greetLeft = 0
			}
			var want []byte
			for _, p := range tc.pieces {
				if n, err := g.Write(p); err != nil || n != len(p) {
					t.Fatalf("Write = %d, %v", n, err)
				}
				want = append(want, p...)
			}
			var sizes []int
			var got []byte
			for _, w := range rec.writes {
				sizes = append(sizes, len(w))
				got = append(got, w...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("bytes written differ from bytes given")
			}
			if len(sizes) != len(tc.writes) {
				t.Fatalf("writes %v, want %v", sizes, tc.writes)
			}
			for i := range sizes {
				if sizes[i] != tc.writes[i] {
					t.Fatalf("writes %v, want %v", sizes, tc.writes)
				}
			}
		})
	}
}

// FuzzBatcher: whatever zmq4 (or anything) writes, in whatever pieces,
// reaches the conn unchanged and in order, and no more than maxBatch bytes
// are ever held.
func FuzzBatcher(f *testing.F) {
	f.Add([]byte("\xff\x00\x00\x00\x00\x00\x00\x00\x00\x7f"), []byte{3, 7, 1})
	f.Add(append(bytes.Repeat([]byte{0}, 64), 0x01, 0x02, 'a', 'b', 0x00, 0x00), []byte{1, 2, 70})
	f.Add(append(bytes.Repeat([]byte{0}, 64), 0x02, 0, 0, 0, 0, 0, 0, 1, 0), []byte{64, 9})
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		rec := &recordConn{}
		g := &guardConn{Conn: rec, out: newBatcher()}
		rest := data
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if i < len(cuts) && int(cuts[i]) > 0 && int(cuts[i]) < n {
				n = int(cuts[i])
			}
			if _, err := g.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
			if len(g.out.buf) > maxBatch {
				t.Fatalf("holding %d bytes", len(g.out.buf))
			}
		}
		g.flushOut()
		var got []byte
		for _, w := range rec.writes {
			got = append(got, w...)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("wrote %d bytes, given %d", len(got), len(data))
		}
	})
}

// chunkConn is a net.Conn whose reads return the given chunks, the last one
// with io.EOF.
type chunkConn struct {
	net.Conn
	chunks [][]byte
	reads  int
}

func (c *chunkConn) SetReadDeadline(time.Time) error { return nil }

func (c *chunkConn) Read(p []byte) (int, error) {
	c.reads++
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func TestReadsBuffered(t *testing.T) {
	greeting := bytes.Repeat([]byte{0}, zmtpGreetingLen)
	body := []byte("\x05READY")
	stream := append(append(append([]byte{}, greeting...), flagCommand, byte(len(body))), body...)
	for _, sizes := range [][]int{{1}, {2, 5}, {64, 2, 6}, {readBufSize + 1}} {
		c := &chunkConn{chunks: [][]byte{stream[:30], stream[30:]}}
		g := &guardConn{Conn: c, cfg: guardConfig{limit: 1 << 20, log: slog.New(slog.DiscardHandler)},
			greetLeft: zmtpGreetingLen, out: newBatcher()}
		var got []byte
		var err error
		for i := 0; err == nil && i < 1000; i++ {
			p := make([]byte, sizes[i%len(sizes)])
			var n int
			n, err = g.Read(p)
			got = append(got, p[:n]...)
		}
		if err != io.EOF || !bytes.Equal(got, stream) {
			t.Fatalf("reads of %v: got %d bytes, err %v; want %d bytes, then EOF", sizes, len(got), err, len(stream))
		}
		if sizes[0] < 8 && c.reads > 3 {
			t.Errorf("reads of %v: %d reads from the socket for %d bytes", sizes, c.reads, len(stream))
		}
		if !g.greeted {
			t.Errorf("reads of %v: the READY command was not seen", sizes)
		}
	}
}
