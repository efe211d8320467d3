//go:build unix

package wasmpy

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// memoryAllocator backs each guest's linear memory with an anonymous mapping
// that reserves the memory's maximum size once: growing it commits pages in
// place instead of copying into a bigger Go slice, and the guest's memory
// stays out of Go's heap (so the garbage collector's target does not grow
// with it, and freed slices do not linger in the process's RSS). The
// mapping made is stored in *made.
func memoryAllocator(made **mappedMemory) experimental.MemoryAllocator {
	return experimental.MemoryAllocatorFunc(func(capacity, max uint64) experimental.LinearMemory {
		b, err := syscall.Mmap(-1, 0, int(max), syscall.PROT_NONE,
			syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
		if err != nil {
			return &sliceMemory{}
		}
		m := &mappedMemory{buf: b}
		*made = m
		return m
	})
}

type mappedMemory struct {
	buf       []byte // the reservation
	committed int    // bytes made readable and writable
}

func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.buf)) {
		return nil
	}
	if n := int(size); n > m.committed {
		if err := syscall.Mprotect(m.buf[m.committed:n], syscall.PROT_READ|syscall.PROT_WRITE); err != nil {
			return nil
		}
		m.committed = n
	}
	return m.buf[:size:size]
}

// mapFile replaces the first size bytes of the memory, which must be
// committed, with a private (copy-on-write) mapping of f from off: the
// memory then reads as the file did, and writes stay in this process.
func (m *mappedMemory) mapFile(f *os.File, off int64, size int) error {
	if size > m.committed || size%syscall.Getpagesize() != 0 || off%int64(syscall.Getpagesize()) != 0 {
		return fmt.Errorf("map %d bytes at %d over %d committed: misaligned or too large", size, off, m.committed)
	}
	_, err := unix.MmapPtr(int(f.Fd()), off, unsafe.Pointer(&m.buf[0]), uintptr(size),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED)
	if err != nil {
		return fmt.Errorf("map snapshot: %w", err)
	}
	return nil
}

// Free gives the pages back to the system but keeps the mapping: goroutines
// that raced with the interpreter's end (an interrupt's watcher, a hard
// stop) may still write a flag into it, and must not fault. What stays is
// address space, not memory.
func (m *mappedMemory) Free() {
	if m.committed > 0 {
		_ = syscall.Madvise(m.buf[:m.committed], syscall.MADV_DONTNEED)
	}
}

// sliceMemory is the fallback when the reservation fails: a Go slice.
type sliceMemory struct{ buf []byte }

func (m *sliceMemory) Reallocate(size uint64) []byte {
	if n := int(size); n > len(m.buf) {
		m.buf = append(m.buf, make([]byte, n-len(m.buf))...)
	}
	return m.buf[:size:size]
}

func (m *sliceMemory) Free() { m.buf = nil }
