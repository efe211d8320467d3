//go:build !unix

package wasmpy

import "os"

// mapFile reads a file (no mmap on this system); a restore copies from it.
func mapFile(path string) (data []byte, file *os.File, release func(), err error) {
	b, err := os.ReadFile(path)
	return b, nil, func() {}, err
}
