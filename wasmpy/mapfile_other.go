//go:build !unix

package wasmpy

import "os"

// mapFile reads a file (no mmap on this system).
func mapFile(path string) (data []byte, release func(), err error) {
	b, err := os.ReadFile(path)
	return b, func() {}, err
}
