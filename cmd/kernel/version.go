package main

// version is the wasmpy release, reported by `wasmpy version` and in
// kernel_info_reply's implementation_version.
const version = "0.1.0"
