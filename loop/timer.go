package loop

import (
	"container/heap"
	"time"
)

// TimerID names a timer made by SetTimer. Ids are never reused by a Loop.
type TimerID int64

type timer struct {
	id        TimerID
	when      time.Time
	seq       uint64 // breaks ties: equal deadlines fire in the order they were set
	every     time.Duration
	repeat    bool
	fn        func()
	index     int // in the heap; -1 when not in it
	cancelled bool
}

// timerHeap orders timers by deadline, then by the order they were set.
type timerHeap []*timer

func (h timerHeap) Len() int { return len(h) }

func (h timerHeap) Less(i, j int) bool {
	if h[i].when.Equal(h[j].when) {
		return h[i].seq < h[j].seq
	}
	return h[i].when.Before(h[j].when)
}

func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *timerHeap) Push(x any) {
	t := x.(*timer)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}

// minRepeat is the shortest interval of a repeating timer, so that a zero
// interval cannot starve the loop.
const minRepeat = time.Millisecond

// SetTimer arranges for fn to run on the loop after d (real time), as a
// macrotask, and every d after that if repeat. Timers with equal deadlines
// fire in the order they were set. Loop goroutine only.
func (l *Loop) SetTimer(d time.Duration, repeat bool, fn func()) TimerID {
	if d < 0 {
		d = 0
	}
	if repeat && d < minRepeat {
		d = minRepeat
	}
	l.lastID++
	l.seq++
	t := &timer{id: l.lastID, when: time.Now().Add(d), seq: l.seq, every: d, repeat: repeat, fn: fn, index: -1}
	if l.byID == nil {
		l.byID = map[TimerID]*timer{}
	}
	l.byID[t.id] = t
	heap.Push(&l.timers, t)
	return t.id
}

// ClearTimer cancels a timer; it does nothing if the timer already fired (and
// does not repeat) or was cleared. A timer that is due but has not run yet
// does not run. Loop goroutine only.
func (l *Loop) ClearTimer(id TimerID) {
	t := l.byID[id]
	if t == nil {
		return
	}
	delete(l.byID, id)
	t.cancelled = true
	if t.index >= 0 {
		heap.Remove(&l.timers, t.index)
	}
}

// Timers is how many timers are pending. Loop goroutine only.
func (l *Loop) Timers() int { return len(l.byID) }

// Pending counts what is waiting to run: timers set, macrotasks posted or
// ready, microtasks queued. Loop goroutine only (the task calling it is not
// counted).
func (l *Loop) Pending() int {
	l.mu.Lock()
	n := len(l.inbox)
	l.mu.Unlock()
	return n + len(l.byID) + l.ready.len() + l.micro.len()
}

// collectTimers moves the timers due at now to the ready queue, in order.
func (l *Loop) collectTimers(now time.Time) {
	for len(l.timers) > 0 && !l.timers[0].when.After(now) {
		t := heap.Pop(&l.timers).(*timer)
		l.ready.push(entry{t: t})
	}
}

// fire runs a due timer and re-arms it if it repeats.
func (l *Loop) fire(t *timer) {
	if t.cancelled {
		return
	}
	if !t.repeat {
		delete(l.byID, t.id)
	}
	l.protect(t.fn)
	if t.repeat && !t.cancelled {
		next := t.when.Add(t.every)
		if now := time.Now(); next.Before(now) {
			next = now
		}
		l.seq++
		t.when, t.seq = next, l.seq
		heap.Push(&l.timers, t)
	}
}
