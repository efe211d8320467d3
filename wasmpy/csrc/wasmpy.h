/* What the files of the _wasmpy module share: the host's imports (module
 * "wasmpy"; see wasmpymodule.c for the calling convention) and the parts of
 * _wasmpy.JsRef (jsref.c) that the module table names. */

#ifndef WASMPY_H
#define WASMPY_H

#include "Python.h"
#include <stdint.h>

#define WASMPY_IMPORT(name) \
    __attribute__((import_module("wasmpy"), import_name(name)))

WASMPY_IMPORT("call")
int32_t wasmpy_host_call_raw(const char *name, uint32_t name_len,
                             const char *data, uint32_t data_len,
                             char *out, uint32_t out_cap);

/* The host's epoch: it changes whenever the host may have run JavaScript
   (or anything else that changes what Python can read from it): after every
   host call, and whenever the host calls into Python.  While it stays the
   same, the JavaScript world is as Python last saw it, since JavaScript runs
   only on the thread that runs Python (jsref.c caches attribute reads on
   this).  64 bits, so that it never comes round to a value a cached read
   was stamped with. */
extern uint64_t wasmpy_epoch;

static inline int32_t
wasmpy_host_call(const char *name, uint32_t name_len,
                 const char *data, uint32_t data_len,
                 char *out, uint32_t out_cap)
{
    int32_t n = wasmpy_host_call_raw(name, name_len, data, data_len, out, out_cap);
    wasmpy_epoch++;
    return n;
}
WASMPY_IMPORT("take")
void wasmpy_host_take(char *buf);
WASMPY_IMPORT("result")
void wasmpy_host_result(const char *data, uint32_t len);
WASMPY_IMPORT("tick")
void wasmpy_host_tick(void);

/* Hand a dispatch's result to the host: 1 if it was left in the result
   slot (wasmpy_dispatch then returns 3 and the host reads it there, with
   no crossing), 0 if it went through wasmpy_host_result. */
int wasmpy_dispatch_result(const char *data, uint32_t len);

/* Raise the exception that a host error payload names. */
void wasmpy_raise_host_error(const char *msg, Py_ssize_t len);

/* Flush sys.stdout and sys.stderr (errors are cleared). */
void wasmpy_flush_std(void);

/* jsref.c */
PyObject *wasmpy_jsref_setup(PyObject *module, PyObject *args);
PyObject *wasmpy_jsref_wrap(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *wasmpy_jsref_dec(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *wasmpy_jsref_release(PyObject *module, PyObject *arg);
PyObject *wasmpy_jsref_flush(PyObject *module, PyObject *unused);
int wasmpy_jsref_add_type(PyObject *module);
PyObject *wasmpy_jsref_setup_calls(PyObject *module, PyObject *args);
PyObject *wasmpy_jsref_setup_loop(PyObject *module, PyObject *args);
PyObject *wasmpy_jsref_setup_seq(PyObject *module, PyObject *arg);
int wasmpy_jsref_dispatch(const char *data, uint32_t len);
PyObject *wasmpy_jsref_pack_i32(PyObject *module, PyObject *seq);
PyObject *wasmpy_jsref_pack_f64(PyObject *module, PyObject *seq);
PyObject *wasmpy_jsref_unpack_i64(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *wasmpy_jsref_unpack_f64(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *wasmpy_jsref_enc_scalars(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
PyObject *wasmpy_jsref_enc_tree(PyObject *module, PyObject *const *args, Py_ssize_t nargs);

#endif /* WASMPY_H */
