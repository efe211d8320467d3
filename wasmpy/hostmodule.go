package wasmpy

import (
	"context"
	"errors"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"wasmpy/wasmpy/internal/gcpause"
)

// ctxKey carries the *Interpreter into host functions: every call into the
// guest is made with a context holding it.
type ctxKey struct{}

func interpFrom(ctx context.Context) *Interpreter {
	i, _ := ctx.Value(ctxKey{}).(*Interpreter)
	return i
}

// instantiateHostModule defines the "wasmpy" host module that _wasmpy imports
// (see wasmpy/csrc/wasmpymodule.c for the calling convention).
func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	i32 := api.ValueTypeI32
	_, err := rt.NewHostModuleBuilder("wasmpy").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostCall), []api.ValueType{i32, i32, i32, i32, i32, i32}, []api.ValueType{i32}).
		WithParameterNames("name", "name_len", "data", "data_len", "out", "out_cap").
		Export("call").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostTake), []api.ValueType{i32}, nil).
		WithParameterNames("buf").
		Export("take").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(hostResult), []api.ValueType{i32, i32}, nil).
		WithParameterNames("data", "len").
		Export("result").
		NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(func(context.Context, api.Module, []uint64) { gcpause.Collect() }), nil, nil).
		Export("tick").
		Instantiate(ctx)
	return err
}

// HostError is an error a host function returns to make Python raise a
// particular exception type instead of _wasmpy.HostError.
type HostError struct {
	// Kind is one of the exception kinds: 'K' KeyboardInterrupt, 'P'
	// PermissionError, 'O' OSError, 'V' ValueError, 'T' TimeoutError,
	// 'M' MemoryError, 'C' ConnectionError, 'E' _wasmpy.HostError.
	Kind byte
	Msg  string
}

func (e *HostError) Error() string { return e.Msg }

// KeyboardInterrupt is an error that raises KeyboardInterrupt in Python.
func KeyboardInterrupt(msg string) error { return &HostError{Kind: 'K', Msg: msg} }

func hostCall(ctx context.Context, m api.Module, stack []uint64) {
	in := interpFrom(ctx)
	// A collection is due at most once a second: looking at the clock on
	// one host call in 32 is often enough (the guest's tick looks too).
	if in == nil || in.hostCalls&31 == 0 {
		gcpause.Collect()
	}
	if in != nil {
		in.hostCalls++
	}
	mem := m.Memory()
	name, ok1 := mem.Read(uint32(stack[0]), uint32(stack[1]))
	data, ok2 := mem.Read(uint32(stack[2]), uint32(stack[3]))
	var out []byte
	var err error
	switch {
	case in == nil:
		err = errors.New("no interpreter for this call")
	case in.dead.Load() != nil:
		err = KeyboardInterrupt("the interpreter was stopped")
	case !ok1 || !ok2:
		err = errors.New("host call arguments out of bounds")
	default:
		// data aliases guest memory, which a re-entrant call may grow
		// (and so move): handlers get their own copy.
		out, err = in.callHost(ctx, name, append([]byte(nil), data...))
	}
	if err != nil {
		kind := byte('E')
		var he *HostError
		if errors.As(err, &he) {
			kind = he.Kind
		}
		msg := append([]byte{kind}, err.Error()...)
		deliver(in, mem, stack, msg)
		stack[0] = uint64(uint32(int32(-len(msg) - 1)))
		return
	}
	deliver(in, mem, stack, out)
	stack[0] = uint64(uint32(int32(len(out))))
}

// deliver puts a call's result (or error) where the guest reads it: into
// the guest's buffer (stack[4], capacity stack[5]) when it fits, which
// saves the guest a second crossing (take), else pending for take.
func deliver(in *Interpreter, mem api.Memory, stack []uint64, b []byte) {
	if len(b) <= int(uint32(stack[5])) && (len(b) == 0 || mem.Write(uint32(stack[4]), b)) {
		if in != nil {
			in.pending = nil
		}
		return
	}
	if in != nil {
		in.pending = b
	}
}

func hostTake(ctx context.Context, m api.Module, stack []uint64) {
	in := interpFrom(ctx)
	if in == nil {
		return
	}
	if len(in.pending) > 0 {
		m.Memory().Write(uint32(stack[0]), in.pending)
	}
	in.pending = nil
}

func hostResult(ctx context.Context, m api.Module, stack []uint64) {
	in := interpFrom(ctx)
	if in == nil || len(in.results) == 0 {
		return
	}
	b, ok := m.Memory().Read(uint32(stack[0]), uint32(stack[1]))
	if !ok {
		return
	}
	in.results[len(in.results)-1] = append([]byte(nil), b...)
}
