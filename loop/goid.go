package loop

import (
	"runtime"
	"strconv"
)

// goid returns the id of the calling goroutine, read from its stack header
// ("goroutine 123 [running]:"). It costs about a microsecond: use it for
// checks, not in hot paths.
func goid() int64 {
	var buf [64]byte
	n := runtime.Stack(buf[:], false)
	b := buf[:n]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		return -1
	}
	b = b[len(prefix):]
	end := 0
	for end < len(b) && b[end] >= '0' && b[end] <= '9' {
		end++
	}
	id, err := strconv.ParseInt(string(b[:end]), 10, 64)
	if err != nil {
		return -1
	}
	return id
}
