//go:build unix

package wasmpy

import (
	"os"
	"syscall"
)

// mapFile maps a file read-only: its pages stay in the page cache instead of
// the process's heap. The file stays open (a restore maps it again) until
// release is called, which also unmaps it.
func mapFile(path string) (data []byte, file *os.File, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	if st.Size() == 0 {
		return nil, f, func() { f.Close() }, nil
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_PRIVATE)
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return b, f, func() {
		_ = syscall.Munmap(b)
		f.Close()
	}, nil
}
