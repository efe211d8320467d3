//go:build !unix

package wasmpy

import "github.com/tetratelabs/wazero/experimental"

// memoryAllocator: wazero's own (Go slices) on this system.
func memoryAllocator() experimental.MemoryAllocator { return nil }
