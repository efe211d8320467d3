//go:build !unix

package wasmpy

import (
	"errors"
	"os"

	"github.com/tetratelabs/wazero/experimental"
)

// memoryAllocator: wazero's own (Go slices) on this system.
func memoryAllocator(**mappedMemory) experimental.MemoryAllocator { return nil }

// mappedMemory does not exist on this system.
type mappedMemory struct{}

func (*mappedMemory) mapFile(*os.File, int64, int) error {
	return errors.New("no mmap on this system")
}
