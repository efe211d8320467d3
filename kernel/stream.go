package kernel

import (
	"sync"
	"time"
	"unicode/utf8"
)

// coalescer buffers stream text of one request and hands it on in few, large
// pieces: when interval has passed since the first unsent byte, when max bytes
// are pending, when the stream name changes (so stdout and stderr keep their
// relative order), and before anything else is published (Do) or the request
// ends (Close). It also serialises everything a request publishes: emit and
// the functions given to Do run under its lock, in order.
type coalescer struct {
	interval time.Duration
	max      int
	emit     func(name, text string)

	mu     sync.Mutex
	name   string
	buf    []byte
	timer  *time.Timer
	closed bool
}

func newCoalescer(interval time.Duration, max int, emit func(name, text string)) *coalescer {
	return &coalescer{interval: interval, max: max, emit: emit}
}

// Write adds text to stream name. It reports false once the coalescer is
// closed (the text is dropped).
func (c *coalescer) Write(name, text string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if len(c.buf) > 0 && name != c.name {
		c.flushLocked(true)
	}
	c.name = name
	c.buf = append(c.buf, text...)
	if len(c.buf) >= c.max {
		c.flushLocked(false)
	}
	if len(c.buf) > 0 && c.timer == nil {
		c.timer = time.AfterFunc(c.interval, c.tick)
	}
	return true
}

func (c *coalescer) tick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timer = nil
	if !c.closed {
		c.flushLocked(false)
	}
}

// Do sends all pending text, then runs f, all under the lock so nothing the
// request publishes can overtake or interleave with f. It reports false (and
// does not run f) once the coalescer is closed.
func (c *coalescer) Do(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.flushLocked(true)
	f()
	return true
}

// Flush sends all pending text.
func (c *coalescer) Flush() { c.Do(func() {}) }

// Close sends all pending text and drops whatever comes later.
func (c *coalescer) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.flushLocked(true)
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// flushLocked emits the pending text. Unless all is set it holds back an
// incomplete UTF-8 sequence at the end, which the next write may complete.
func (c *coalescer) flushLocked(all bool) {
	n := len(c.buf)
	if !all {
		n = completeUTF8(c.buf)
	}
	if n == 0 {
		return
	}
	text := string(c.buf[:n])
	c.buf = append(c.buf[:0], c.buf[n:]...)
	c.emit(c.name, text)
}

// completeUTF8 returns the length of b without a trailing incomplete (but so
// far valid-looking) UTF-8 sequence.
func completeUTF8(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}
