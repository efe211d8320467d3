package wasmpy

import "embed"

// pythonFiles are the project's own Python packages (wasmpy/python), mounted
// read-only at GuestPyRoot inside every interpreter.
//
//go:embed all:python
var pythonFiles embed.FS
