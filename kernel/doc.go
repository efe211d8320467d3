// Package kernel is the Jupyter kernel's protocol behaviour: it consumes the
// requests that package messaging receives on the shell, control and stdin
// channels, forwards the work to an interp.Interpreter, and answers with
// replies and IOPub messages the way ipykernel 6 does (busy/idle status
// around every request, execute_reply metadata, aborting queued execute
// requests after an error, stdin round trips, shutdown and restart).
//
// It owns: request dispatch and ordering (one serial queue for shell, control
// answered concurrently), the interpreter's lifecycle (background start,
// replacement after a crash or timeout, restart), stream coalescing, and the
// kernel_info_reply. It must not touch the wire format or sockets (package
// messaging) nor know how an interpreter runs Python (package wasmpy): it
// sees only the interp contract.
package kernel
