/* _wasmpy: the bridge between CPython in wasm and the Go host (wasmpy).
 *
 * Built into python.wasm (Modules/Setup.local, *static*), so it may use
 * CPython's internal headers.  The module exposes to Python:
 *
 *   _wasmpy.call(name, data) -> bytes   call the host function `name`
 *   _wasmpy.set_dispatcher(callable)    the function the host calls
 *   _wasmpy.HostError                   raised when a host function fails
 *   _wasmpy.JsRef, jsref_*              pyodide.ffi's JsProxy in C (jsref.c)
 *
 * and exports to the host (the reactor's entry points):
 *
 *   wasmpy_init()              initialize the interpreter once
 *   wasmpy_exec(code, len)     run source in __main__, print any exception
 *   wasmpy_dispatch(data, len) call the dispatcher; 0 when its result went
 *                              back through the host import wasmpy.result,
 *                              3 when it is in the result slot
 *   wasmpy_result_addr()       the result slot: u32 length, then the bytes
 *   wasmpy_signal_addr(i)      addresses the host writes to raise SIGINT
 *
 * Host imports (module "wasmpy"):
 *
 *   call(name, name_len, data, data_len, out, out_cap) -> n
 *       n >= 0: success, with n bytes of result;
 *       n < 0: failure, with -n-1 bytes of error, the first byte naming
 *       the Python exception (see wasmpy_raise_host_error).
 *       A result or error of at most out_cap bytes is already in out (one
 *       crossing for most calls); a longer one is pending, for take.
 *   take(buf)          copy the pending result or error into buf
 *   result(data, len)  hand the dispatcher's result to the host
 */

#ifndef Py_BUILD_CORE_BUILTIN
#  define Py_BUILD_CORE_MODULE 1
#endif

#include "Python.h"
#include "pycore_runtime.h"       // _PyRuntime
#include "pycore_pystate.h"       // _PyThreadState_GET()

#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "wasmpy.h"

static PyObject *dispatcher = NULL;
static PyObject *HostError = NULL;
static PyThreadState *main_tstate = NULL;

/* Raise the exception that an error payload names. */
void
wasmpy_raise_host_error(const char *msg, Py_ssize_t len)
{
    PyObject *type = HostError;
    if (len > 0) {
        switch (msg[0]) {
        case 'K': type = PyExc_KeyboardInterrupt; break;
        case 'P': type = PyExc_PermissionError; break;
        case 'O': type = PyExc_OSError; break;
        case 'V': type = PyExc_ValueError; break;
        case 'T': type = PyExc_TimeoutError; break;
        case 'M': type = PyExc_MemoryError; break;
        case 'C': type = PyExc_ConnectionError; break;
        default: break;
        }
        msg++;
        len--;
    }
    PyObject *text = PyUnicode_DecodeUTF8(msg, len, "replace");
    if (text == NULL) {
        return;
    }
    PyErr_SetObject(type, text);
    Py_DECREF(text);
}

/* Where the host writes a short result.  Re-entrant calls may use it while
   an outer call waits: the host writes the outer call's result only when
   that call returns, and it is copied out at once. */
static char call_out[4096];

uint64_t wasmpy_epoch;

/* _wasmpy.call(name, data): name a str (or bytes), data any bytes-like. */
static PyObject *
wasmpy_call(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "call() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    const char *name;
    Py_ssize_t name_len;
    if (PyUnicode_Check(args[0])) {
        name = PyUnicode_AsUTF8AndSize(args[0], &name_len);
        if (name == NULL) {
            return NULL;
        }
    }
    else if (PyBytes_Check(args[0])) {
        name = PyBytes_AS_STRING(args[0]);
        name_len = PyBytes_GET_SIZE(args[0]);
    }
    else {
        PyErr_Format(PyExc_TypeError, "call() name must be str, not %.100s",
                     Py_TYPE(args[0])->tp_name);
        return NULL;
    }
    int32_t n;
    if (PyBytes_CheckExact(args[1])) {
        n = wasmpy_host_call(name, (uint32_t)name_len,
                             PyBytes_AS_STRING(args[1]),
                             (uint32_t)PyBytes_GET_SIZE(args[1]),
                             call_out, sizeof(call_out));
    }
    else {
        Py_buffer data;
        if (PyObject_GetBuffer(args[1], &data, PyBUF_SIMPLE) < 0) {
            return NULL;
        }
        n = wasmpy_host_call(name, (uint32_t)name_len,
                             (const char *)data.buf, (uint32_t)data.len,
                             call_out, sizeof(call_out));
        PyBuffer_Release(&data);
    }
    Py_ssize_t size = n >= 0 ? n : -(Py_ssize_t)n - 1;
    PyObject *out;
    if (size <= (Py_ssize_t)sizeof(call_out)) {
        out = PyBytes_FromStringAndSize(call_out, size);
        if (out == NULL) {
            return NULL;
        }
    }
    else {
        out = PyBytes_FromStringAndSize(NULL, size);
        if (out == NULL) {
            return NULL;  /* what is pending is dropped by the next call */
        }
        wasmpy_host_take(PyBytes_AS_STRING(out));
    }
    if (n < 0) {
        wasmpy_raise_host_error(PyBytes_AS_STRING(out), size);
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

static PyObject *
wasmpy_set_dispatcher(PyObject *module, PyObject *fn)
{
    if (fn != Py_None && !PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "dispatcher must be callable or None");
        return NULL;
    }
    Py_XSETREF(dispatcher, fn == Py_None ? NULL : Py_NewRef(fn));
    Py_RETURN_NONE;
}

/* The handler of SIGUSR2, which the host raises every few milliseconds
   while Python runs: a call out to the host gives the Go runtime a point
   where it can stop this goroutine (its garbage collector needs one; code
   compiled from wasm offers none). */
static PyObject *
wasmpy_tick(PyObject *module, PyObject *args)
{
    wasmpy_host_tick();
    Py_RETURN_NONE;
}

static PyMethodDef wasmpy_methods[] = {
    {"_tick", wasmpy_tick, METH_VARARGS,
     "_tick(signum, frame)\n\nThe host's tick (the SIGUSR2 handler)."},
    {"call", _PyCFunction_CAST(wasmpy_call), METH_FASTCALL,
     "call(name, data) -> bytes\n\nCall the host function name with data."},
    {"set_dispatcher", wasmpy_set_dispatcher, METH_O,
     "set_dispatcher(fn)\n\nfn(data: bytes) -> bytes answers the host's calls."},
    {"jsref_setup", wasmpy_jsref_setup, METH_VARARGS,
     "jsref_setup(...)\n\nThe Python side of JsRef (see jsref.c)."},
    {"jsref_setup_calls", wasmpy_jsref_setup_calls, METH_VARARGS,
     "jsref_setup_calls(objs, call_result, py_exc, rt_dict)\n\n"
     "The Python side of calls from JavaScript answered in C (see jsref.c)."},
    {"jsref_setup_loop", wasmpy_jsref_setup_loop, METH_VARARGS,
     "jsref_setup_loop(get_event_loop, WebLoop, PyodideFuture, _Settle, _GoHost)\n\n"
     "The WebLoop's parts for a call's settled promise (see jsref.c)."},
    {"jsref_setup_seq", wasmpy_jsref_setup_seq, METH_O,
     "jsref_setup_seq(json_sequence_flag)\n\nItem access and iteration in C (see jsref.c)."},
    {"jsref_wrap", _PyCFunction_CAST(wasmpy_jsref_wrap), METH_FASTCALL,
     "jsref_wrap(id, flags, this) -> JsProxy"},
    {"jsref_dec", _PyCFunction_CAST(wasmpy_jsref_dec), METH_FASTCALL,
     "jsref_dec(r, off) -> (value, end)\n\nDecode a value of a js host result."},
    {"jsref_pack_i32", wasmpy_jsref_pack_i32, METH_O,
     "jsref_pack_i32(seq) -> bytes | None\n\nA list or tuple of 32-bit ints as i32 bytes."},
    {"jsref_pack_f64", wasmpy_jsref_pack_f64, METH_O,
     "jsref_pack_f64(seq) -> bytes | None\n\nA list or tuple of floats and safe ints as f64 bytes."},
    {"jsref_unpack_i64", _PyCFunction_CAST(wasmpy_jsref_unpack_i64), METH_FASTCALL,
     "jsref_unpack_i64(r, off) -> list[int]\n\nThe little-endian i64s of r from off on."},
    {"jsref_enc_scalars", _PyCFunction_CAST(wasmpy_jsref_enc_scalars), METH_FASTCALL,
     "jsref_enc_scalars(b, seq) -> bool\n\n"
     "Append the wire values of seq's items to b if all are simple scalars."},
    {"jsref_enc_tree", _PyCFunction_CAST(wasmpy_jsref_enc_tree), METH_FASTCALL,
     "jsref_enc_tree(b, x, cache) -> list | None\n\n"
     "to_js of nested lists, tuples and dicts of scalars (see jsref.c)."},
    {"jsref_unpack_f64", _PyCFunction_CAST(wasmpy_jsref_unpack_f64), METH_FASTCALL,
     "jsref_unpack_f64(r, off) -> list[int | float]\n\n"
     "The little-endian doubles of r from off on; safe integers as ints."},
    {"jsref_release", wasmpy_jsref_release, METH_O,
     "jsref_release(id)\n\nRelease a JavaScript handle with the next batch."},
    {"jsref_flush", wasmpy_jsref_flush, METH_NOARGS,
     "jsref_flush()\n\nRelease the pending JavaScript handles now."},
    {NULL, NULL, 0, NULL},
};

static int
wasmpy_exec_module(PyObject *m)
{
    if (HostError == NULL) {
        HostError = PyErr_NewExceptionWithDoc(
            "_wasmpy.HostError", "A host function failed.", PyExc_RuntimeError, NULL);
        if (HostError == NULL) {
            return -1;
        }
    }
    if (PyModule_AddObjectRef(m, "HostError", HostError) < 0) {
        return -1;
    }
    return wasmpy_jsref_add_type(m);
}

static PyModuleDef_Slot wasmpy_slots[] = {
    {Py_mod_exec, wasmpy_exec_module},
    {Py_mod_multiple_interpreters, Py_MOD_MULTIPLE_INTERPRETERS_NOT_SUPPORTED},
    {0, NULL},
};

static struct PyModuleDef wasmpy_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_wasmpy",
    .m_doc = "Calls between CPython and the wasmpy host.",
    .m_size = 0,
    .m_methods = wasmpy_methods,
    .m_slots = wasmpy_slots,
};

PyMODINIT_FUNC
PyInit__wasmpy(void)
{
    return PyModuleDef_Init(&wasmpy_module);
}

/* ---- exports ---------------------------------------------------------- */

__attribute__((export_name("wasmpy_init")))
int
wasmpy_init(void)
{
    if (Py_IsInitialized()) {
        return 0;
    }
    PyStatus status;
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.parse_argv = 0;
    config.safe_path = 1;
    config.user_site_directory = 0;
    config.write_bytecode = 0;
    config.install_signal_handlers = 1;
    config.buffered_stdio = 1;
    status = PyConfig_SetString(&config, &config.program_name, L"python3.13");
    if (PyStatus_Exception(status)) {
        goto fail;
    }
    status = PyConfig_SetString(&config, &config.home, L"/usr");
    if (PyStatus_Exception(status)) {
        goto fail;
    }
    status = Py_InitializeFromConfig(&config);
    if (PyStatus_Exception(status)) {
        goto fail;
    }
    PyConfig_Clear(&config);
    main_tstate = PyThreadState_Get();
    /* WASI has no signals; install Python's SIGINT handler so that a
       SIGINT raised by the host (see wasmpy_signal_addr) gives
       KeyboardInterrupt. */
    if (PyRun_SimpleString(
            "import signal as _s, _wasmpy as _w\n"
            "_s.signal(_s.SIGINT, _s.default_int_handler)\n"
            "_s.signal(_s.SIGUSR2, _w._tick)\n"
            "del _s, _w\n") != 0) {
        return 2;
    }
    return 0;
fail:
    PyConfig_Clear(&config);
    if (status.err_msg != NULL) {
        fprintf(stderr, "wasmpy_init: %s: %s\n",
                status.func ? status.func : "init", status.err_msg);
    }
    return 1;
}

/* Print the current exception without letting SystemExit end the process. */
static void
print_exception(void)
{
    PyObject *exc = PyErr_GetRaisedException();
    if (exc == NULL) {
        return;
    }
    PyErr_DisplayException(exc);
    Py_DECREF(exc);
    PyObject *f = PySys_GetObject("stderr");
    if (f != NULL && f != Py_None) {
        PyObject *r = PyObject_CallMethod(f, "flush", NULL);
        Py_XDECREF(r);
        PyErr_Clear();
    }
}

void
wasmpy_flush_std(void)
{
    const char *names[] = {"stdout", "stderr"};
    for (int i = 0; i < 2; i++) {
        PyObject *f = PySys_GetObject(names[i]);
        if (f != NULL && f != Py_None) {
            PyObject *r = PyObject_CallMethod(f, "flush", NULL);
            Py_XDECREF(r);
        }
    }
    PyErr_Clear();
}

/* Run code in __main__.  Returns 0, or 1 when it raised (the exception is
   printed to stderr), or 2 when the interpreter is not initialized. */
__attribute__((export_name("wasmpy_exec")))
int
wasmpy_exec(const char *code, uint32_t len)
{
    if (!Py_IsInitialized()) {
        return 2;
    }
    wasmpy_epoch++;
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = 0;
    PyObject *src = PyUnicode_DecodeUTF8(code, len, "strict");
    PyObject *main = PyImport_AddModuleRef("__main__");
    PyObject *result = NULL;
    if (src != NULL && main != NULL) {
        PyObject *globals = PyModule_GetDict(main);
        const char *s = PyUnicode_AsUTF8(src);
        if (s != NULL) {
            result = PyRun_StringFlags(s, Py_file_input, globals, globals, NULL);
        }
    }
    if (result == NULL) {
        print_exception();
        rc = 1;
    }
    Py_XDECREF(result);
    Py_XDECREF(main);
    Py_XDECREF(src);
    wasmpy_flush_std();
    PyGILState_Release(g);
    return rc;
}

/* Call the dispatcher with data; its bytes result is given to the host
   through wasmpy.result.  Returns 0, or 1 when the dispatcher raised (printed
   to stderr), or 2 when there is no dispatcher. */
/* Where a dispatch leaves a result of up to RESULT_CAP bytes for the host
   to read when wasmpy_dispatch returns: it saves the crossing of
   wasmpy.result.  Nothing runs in the guest between the write and the
   host's read, so nested dispatches can share it. */
#define RESULT_CAP 4096
static struct {
    uint32_t len;
    char data[RESULT_CAP];
} result_slot;

int
wasmpy_dispatch_result(const char *data, uint32_t len)
{
    if (len <= RESULT_CAP) {
        memcpy(result_slot.data, data, len);
        result_slot.len = len;
        return 1;
    }
    wasmpy_host_result(data, len);
    return 0;
}

__attribute__((export_name("wasmpy_result_addr")))
uint32_t
wasmpy_result_addr(void)
{
    return (uint32_t)(uintptr_t)&result_slot;
}

__attribute__((export_name("wasmpy_dispatch")))
int
wasmpy_dispatch(const char *data, uint32_t len)
{
    if (!Py_IsInitialized() || dispatcher == NULL) {
        return 2;
    }
    wasmpy_epoch++;
    PyGILState_STATE g = PyGILState_Ensure();
    int rc = wasmpy_jsref_dispatch(data, len);
    if (rc != 0) {
        /* A call of a PyProxy from JavaScript, answered in C. */
        if (rc < 0) {
            print_exception();
        }
        PyGILState_Release(g);
        return rc < 0 ? 1 : rc == 3 ? 3 : 0;
    }
    PyObject *arg = PyBytes_FromStringAndSize(data, len);
    PyObject *res = NULL;
    if (arg != NULL) {
        res = PyObject_CallOneArg(dispatcher, arg);
        Py_DECREF(arg);
    }
    if (res != NULL) {
        Py_buffer view;
        if (PyObject_GetBuffer(res, &view, PyBUF_SIMPLE) == 0) {
            if (wasmpy_dispatch_result((const char *)view.buf, (uint32_t)view.len)) {
                rc = 3;
            }
            PyBuffer_Release(&view);
        }
        else {
            rc = 1;
        }
        Py_DECREF(res);
    }
    else {
        rc = 1;
    }
    if (rc == 1) {
        print_exception();
    }
    PyGILState_Release(g);
    return rc;
}

/* Addresses in linear memory that the host sets, as a signal handler would,
   to raise SIGINT or SIGUSR2: 0 the SIGINT handler's tripped flag, 1 the
   runtime's is_tripped flag, 2 the main thread's eval breaker (bit 0x2),
   3 the SIGUSR2 handler's tripped flag. */
__attribute__((export_name("wasmpy_signal_addr")))
uint32_t
wasmpy_signal_addr(int which)
{
    switch (which) {
    case 0:
        return (uint32_t)(uintptr_t)&_PyRuntime.signals.handlers[SIGINT].tripped;
    case 1:
        return (uint32_t)(uintptr_t)&_PyRuntime.signals.is_tripped;
    case 2:
        return main_tstate ? (uint32_t)(uintptr_t)&main_tstate->eval_breaker : 0;
    case 3:
        return (uint32_t)(uintptr_t)&_PyRuntime.signals.handlers[SIGUSR2].tripped;
    default:
        return 0;
    }
}
