/* _wasmpy.JsRef: the storage and the hot paths of pyodide.ffi.JsProxy.
 *
 * A JsProxy holds the id of a JavaScript value in the host's handle table
 * (jsbridge).  The Python side (pyodide/_core_ffi.py) makes the proxy
 * classes; their common base is JsRef, which keeps the id in C and does in C
 * what every FFI operation pays for: making a proxy and releasing its handle,
 * reading an attribute, calling a function with simple arguments, and
 * decoding the host's answers.  Anything out of the ordinary goes back to
 * the Python functions given to _wasmpy.jsref_setup, so the behaviour stays
 * defined in one place.
 *
 * The wire format is jsbridge's (jsbridge/ops.go, jsbridge/wire.go):
 * little-endian integers, one tag byte per value.
 */

#ifndef Py_BUILD_CORE_BUILTIN
#  define Py_BUILD_CORE_MODULE 1
#endif

#include "Python.h"
#include "pycore_genobject.h"      // _PyGen_SetStopIterationValue()
#include "pycore_object.h"        // _PyObject_GenericGetAttrWithDict()

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wasmpy.h"

typedef struct {
    PyObject_HEAD
    uint32_t id;
    uint32_t this_id;   /* the `this` of a method read from an object, or 0 */
    uint32_t flags;     /* jsbridge's type flags (IS_CALLABLE, ...) */
    PyObject *hb;       /* bytes: id as u32, the suffix of most requests
                           (made on first use, as G) */
    PyObject *G;        /* bytes: 'G' + hb */
    /* Attribute reads kept while the host's epoch stays the same (see
       jsref_getattro): a dict name -> value, of epoch cache_epoch. */
    PyObject *cache;
    uint64_t cache_epoch;
    /* The names read from the host in the run of reads that began at epoch
       seen_run: one str, or a set. */
    uint64_t seen_run;
    PyObject *seen;
    PyObject *nocache;  /* set: names the host said are not plain data */
    vectorcallfunc vectorcall;  /* jsref_call, for callables (JsCallRef) */
} JsRefObject;

/* How many names seen and nocache keep per proxy. */
#define NAMES_MAX 32

/* The current run of reads: host calls that were all attribute reads made
   here, the last of which left the epoch at run_epoch; run_start is the
   epoch it began at. */
static uint64_t run_start, run_epoch;

/* What the Python side gives to jsref_setup. */
static struct {
    PyObject *classes;          /* dict: flags -> proxy class */
    PyObject *class_for;        /* class_for(flags) -> class, makes one */
    PyObject *wrap_error;       /* wrap_error(id, flags, this): a JsException */
    PyObject *dec;              /* dec(r, off) -> (value, end): every tag */
    PyObject *names;            /* dict: attribute name -> encoded JS name */
    PyObject *encname;          /* encname(name) -> bytes */
    PyObject *jsnull;
    PyObject *promise_future;   /* promise_future(proxy): a call's awaitable */
    PyObject *call_py;          /* call_py(self, *args, **kwargs) */
    PyObject *raise_result;     /* raise_result(r, off): raises an error result */
    PyObject *settled_future;   /* settled_future(r): a call's settled promise */
    PyObject *settled;          /* settled(ok, value): the same, decoded */
    uint32_t is_error, is_array, is_callable, is_awaitable;
    int ready;
} js;

/* What pyodide/webloop.py gives to jsref_setup_loop: for a call that
   returned a settled promise, the future is made here when the running loop
   is a WebLoop (WebLoop._settled_future does the same in Python). */
static struct {
    PyObject *get_event_loop;   /* asyncio.get_event_loop */
    PyObject *webloop;          /* the class WebLoop */
    PyObject *future;           /* the class PyodideFuture */
    PyObject *settle;           /* the class _Settle */
    PyObject *gohost;           /* the class _GoHost */
    PyTypeObject *base;         /* asyncio.Future, PyodideFuture's C base */
    /* Interned names. */
    PyObject *closed, *fut, *ok, *value, *cancelled, *current, *micro, *append,
        *push_ready, *pending, *ready, *loop_, *host, *done, *set_result,
        *set_exception, *clear;
    PyObject *empty;            /* () */
    /* The future settled_fast made last and its _Settle, until it is
       awaited or the next one is made (PyodideFuture._pending_settle in
       Python, without giving each future a __dict__). */
    PyObject *last_fut, *last_settle;
    /* The WebLoop last seen, its _ready and _micro deques (set once in its
       __init__) and {"loop": it}, the keywords of PyodideFuture(). */
    PyObject *loop, *loop_ready, *loop_micro, *loop_kw;
    /* Bound methods of those: _micro.append, _micro.clear, _ready.clear. */
    PyObject *micro_append, *micro_clear, *ready_clear;
    /* Where _Settle's slots are in an instance. */
    Py_ssize_t off_fut, off_ok, off_value, off_cancelled;
    /* The epoch after the call that made last_fut, if the host said then
       that nothing else was ready on its loop ('W'); else 0. */
    uint64_t idle_epoch;
} loopc;

/* A small cache of flags -> class, in front of js.classes. */
#define CLASS_CACHE 64
static struct {
    uint32_t flags;
    PyObject *cls;
} class_cache[CLASS_CACHE];

static char js_out[4096];

static PyTypeObject JsRef_Type;

/* ---- the host ----------------------------------------------------------- */

/* Call the "js" host function.  On success returns the result's size and
   points *res at it: in js_out, or in *big (a new bytes object) when it is
   longer.  Returns -1 with an exception set on failure.  The result must be
   read before anything that can run Python code (a class lookup, a proxy
   allocation) since a re-entrant call reuses js_out. */
static Py_ssize_t
js_host(const char *req, Py_ssize_t len, const char **res, PyObject **big)
{
    *big = NULL;
    int32_t n = wasmpy_host_call("js", 2, req, (uint32_t)len,
                                 js_out, sizeof(js_out));
    Py_ssize_t size = n >= 0 ? n : -(Py_ssize_t)n - 1;
    const char *p = js_out;
    if (size > (Py_ssize_t)sizeof(js_out)) {
        *big = PyBytes_FromStringAndSize(NULL, size);
        if (*big == NULL) {
            return -1;
        }
        wasmpy_host_take(PyBytes_AS_STRING(*big));
        p = PyBytes_AS_STRING(*big);
    }
    if (n < 0) {
        wasmpy_raise_host_error(p, size);
        Py_CLEAR(*big);
        return -1;
    }
    *res = p;
    return size;
}

static inline uint32_t
rd_u32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* ---- releasing handles ---------------------------------------------------- */

#define RELEASE_BATCH 256
static char release_req[1 + 4 * RELEASE_BATCH] = {'r'};
static int release_n;

static void
release_flush(void)
{
    if (release_n == 0) {
        return;
    }
    int n = release_n;
    release_n = 0;
    /* Its own output buffer: a release may happen (from a deallocation)
       while a result in js_out is still being read. */
    char out[16];
    (void)wasmpy_host_call("js", 2, release_req, 1 + 4 * (uint32_t)n,
                           out, sizeof(out));
}

static void
release_push(uint32_t id)
{
    if (id == 0) {
        return;
    }
    memcpy(release_req + 1 + 4 * release_n, &id, 4);
    if (++release_n == RELEASE_BATCH) {
        release_flush();
    }
}

/* ---- making proxies ------------------------------------------------------- */

static PyObject *
class_of(uint32_t flags)
{
    int slot = (int)((flags ^ (flags >> 7) ^ (flags >> 14)) % CLASS_CACHE);
    if (class_cache[slot].cls != NULL && class_cache[slot].flags == flags) {
        return Py_NewRef(class_cache[slot].cls);
    }
    PyObject *key = PyLong_FromUnsignedLong(flags);
    if (key == NULL) {
        return NULL;
    }
    PyObject *cls = PyDict_GetItemWithError(js.classes, key);
    if (cls != NULL) {
        Py_INCREF(cls);
    }
    else if (!PyErr_Occurred()) {
        cls = PyObject_CallOneArg(js.class_for, key);
    }
    Py_DECREF(key);
    if (cls == NULL) {
        return NULL;
    }
    if (!PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, &JsRef_Type)) {
        PyErr_Format(PyExc_TypeError, "JsProxy class for flags %u is not a JsRef",
                     (unsigned)flags);
        Py_DECREF(cls);
        return NULL;
    }
    Py_XSETREF(class_cache[slot].cls, Py_NewRef(cls));
    class_cache[slot].flags = flags;
    return cls;
}

static PyObject *jsref_call(PyObject *, PyObject *const *, size_t, PyObject *);

/* The 9 bytes that begin a call request: 'C', id, this. */
static void
call_header(JsRefObject *self, char *c)
{
    c[0] = 'C';
    memcpy(c + 1, &self->id, 4);
    memcpy(c + 5, &self->this_id, 4);
}

/* A new proxy of handle id (and of `this`, for a method).  It owns both
   handles: they are released when it goes (or, if it cannot be made, with
   the next batch). */
static PyObject *
js_wrap(uint32_t id, uint32_t flags, uint32_t this_id)
{
    if (flags & js.is_error) {
        return PyObject_CallFunction(js.wrap_error, "kkk", (unsigned long)id,
                                     (unsigned long)flags, (unsigned long)this_id);
    }
    PyObject *cls = class_of(flags);
    JsRefObject *self = NULL;
    if (cls != NULL) {
        PyTypeObject *tp = (PyTypeObject *)cls;
        self = (JsRefObject *)tp->tp_alloc(tp, 0);
        Py_DECREF(cls);
    }
    if (self == NULL) {
        release_push(id);
        release_push(this_id);
        return NULL;
    }
    self->id = id;
    self->this_id = this_id;
    self->flags = flags;
    if (flags & js.is_callable) {
        self->vectorcall = jsref_call;
    }
    return (PyObject *)self;
}

/* ---- decoding ------------------------------------------------------------- */

/* Decode the value at r[off] (r of size bytes); *end gets the offset after
   it.  Tags not handled here, and errors, go to the Python decoder. */
static PyObject *
js_dec(const char *r, Py_ssize_t size, Py_ssize_t off, Py_ssize_t *end)
{
    if (off < size) {
        const char *p = r + off + 1;
        Py_ssize_t left = size - off - 1;
        switch (r[off]) {
        case 'i':
            if (left >= 4) {
                *end = off + 5;
                return PyLong_FromLong((int32_t)rd_u32(p));
            }
            break;
        case 's':
            if (left >= 4 && (Py_ssize_t)rd_u32(p) <= left - 4) {
                uint32_t n = rd_u32(p);
                *end = off + 5 + n;
                return PyUnicode_DecodeUTF8(p + 4, n, "surrogatepass");
            }
            break;
        case 'h':
            if (left >= 8) {
                uint32_t id = rd_u32(p), flags = rd_u32(p + 4);
                *end = off + 9;
                return js_wrap(id, flags, 0);
            }
            break;
        case 'm':
            if (left >= 12) {
                uint32_t id = rd_u32(p), flags = rd_u32(p + 4), this_id = rd_u32(p + 8);
                *end = off + 13;
                return js_wrap(id, flags, this_id);
            }
            break;
        case 'u':
            *end = off + 1;
            Py_RETURN_NONE;
        case 't':
            *end = off + 1;
            Py_RETURN_TRUE;
        case 'f':
            *end = off + 1;
            Py_RETURN_FALSE;
        case 'n':
            *end = off + 1;
            return Py_NewRef(js.jsnull);
        case 'd':
            if (left >= 8) {
                double d;
                memcpy(&d, p, 8);
                *end = off + 9;
                return PyFloat_FromDouble(d);
            }
            break;
        case 'I':
            if (left >= 8) {
                int64_t v;
                memcpy(&v, p, 8);
                *end = off + 9;
                return PyLong_FromLongLong(v);
            }
            break;
        default:
            break;
        }
    }
    PyObject *b = PyBytes_FromStringAndSize(r, size);
    if (b == NULL) {
        return NULL;
    }
    PyObject *t = PyObject_CallFunction(js.dec, "On", b, off);
    Py_DECREF(b);
    if (t == NULL) {
        return NULL;
    }
    PyObject *v = NULL;
    if (PyTuple_Check(t) && PyTuple_GET_SIZE(t) == 2) {
        *end = PyLong_AsSsize_t(PyTuple_GET_ITEM(t, 1));
        if (!(*end == -1 && PyErr_Occurred())) {
            v = Py_NewRef(PyTuple_GET_ITEM(t, 0));
        }
    }
    else {
        PyErr_SetString(PyExc_TypeError, "the JsProxy decoder must return a 2-tuple");
    }
    Py_DECREF(t);
    return v;
}

/* Raise the error result r through the Python side. */
static PyObject *
js_raise(const char *r, Py_ssize_t size, Py_ssize_t off)
{
    PyObject *b = PyBytes_FromStringAndSize(r, size);
    if (b == NULL) {
        return NULL;
    }
    PyObject *t = PyObject_CallFunction(js.raise_result, "On", b, off);
    Py_DECREF(b);
    Py_XDECREF(t);
    if (!PyErr_Occurred()) {
        PyErr_SetString(PyExc_RuntimeError, "jsbridge: unexpected result");
    }
    return NULL;
}

static int
js_check_ready(void)
{
    if (!js.ready) {
        PyErr_SetString(PyExc_RuntimeError, "_wasmpy.jsref_setup has not been called");
        return -1;
    }
    return 0;
}

/* ---- the type --------------------------------------------------------------- */

static void
jsref_dealloc(PyObject *op)
{
    JsRefObject *self = (JsRefObject *)op;
    release_push(self->id);
    release_push(self->this_id);
    Py_CLEAR(self->hb);
    Py_CLEAR(self->G);
    Py_CLEAR(self->cache);
    Py_CLEAR(self->seen);
    Py_CLEAR(self->nocache);
    Py_TYPE(op)->tp_free(op);
}

/* Whether the value of a '=' answer may be kept: the primitives js_dec
   makes in C. */
static int
cacheable_tag(char tag)
{
    return tag != '\0' && strchr("isutfndI", tag) != NULL;
}

/* Keep value as what name reads while the epoch stays epoch. */
static int
cache_put(JsRefObject *self, PyObject *name, PyObject *value, uint64_t epoch)
{
    if (self->cache == NULL) {
        self->cache = PyDict_New();
        if (self->cache == NULL) {
            return -1;
        }
    }
    else if (self->cache_epoch != epoch) {
        PyDict_Clear(self->cache);
    }
    self->cache_epoch = epoch;
    return PyDict_SetItem(self->cache, name, value);
}

/* Whether names (NULL, a str or a set) has name: 1, 0, or -1 on error. */
static int
names_have(PyObject *names, PyObject *name)
{
    if (names == NULL) {
        return 0;
    }
    if (PyUnicode_Check(names)) {
        return names == name || PyUnicode_Compare(names, name) == 0;
    }
    return PySet_Contains(names, name);
}

/* Add name to *names (NULL, a str or a set), up to NAMES_MAX names. */
static int
names_add(PyObject **names, PyObject *name)
{
    if (*names == NULL) {
        *names = Py_NewRef(name);
        return 0;
    }
    if (PyUnicode_Check(*names)) {
        if (*names == name || PyUnicode_Compare(*names, name) == 0) {
            return 0;
        }
        PyObject *set = PySet_New(NULL);
        if (set == NULL || PySet_Add(set, *names) < 0) {
            Py_XDECREF(set);
            return -1;
        }
        Py_SETREF(*names, set);
    }
    if (PySet_GET_SIZE(*names) >= NAMES_MAX) {
        return 0;
    }
    return PySet_Add(*names, name);
}

/* Attribute reads: what the class or the instance dict has, else the
   JavaScript property (jsproxy.c JsProxy_GetAttr).

   JavaScript runs only while Python waits for the host, so between two host
   calls a JavaScript object does not change: an own data property holding a
   primitive reads the same until then (wasmpy_epoch).  When a proxy reads a
   name again in a run of reads (host calls that were all attribute reads
   made here, as in a loop that reads and computes), it asks with 'K',
   whose answer '=' says the value is such a property, read without running
   any JavaScript: the value is kept until the epoch changes, and that read
   leaves the epoch as it was.  Getters, Proxies, inherited properties and
   objects always go to the host. */
static PyObject *
jsref_getattro(PyObject *op, PyObject *name)
{
    PyObject *res = _PyObject_GenericGetAttrWithDict(op, name, NULL, 1);
    if (res != NULL || PyErr_Occurred()) {
        return res;
    }
    if (js_check_ready() < 0) {
        return NULL;
    }
    JsRefObject *self = (JsRefObject *)op;
    if (_PyUnicode_EqualToASCIIString(name, "_G")) {
        if (self->G == NULL) {
            char g[5];
            g[0] = 'G';
            memcpy(g + 1, &self->id, 4);
            self->G = PyBytes_FromStringAndSize(g, 5);
            if (self->G == NULL) {
                return NULL;
            }
        }
        return Py_NewRef(self->G);
    }
    if ((self->flags & js.is_array) && _PyUnicode_EqualToASCIIString(name, "keys")) {
        PyErr_SetObject(PyExc_AttributeError, name);
        return NULL;
    }
    if (self->cache != NULL && self->cache_epoch == wasmpy_epoch) {
        PyObject *v = PyDict_GetItemWithError(self->cache, name);
        if (v != NULL) {
            return Py_NewRef(v);
        }
        if (PyErr_Occurred()) {
            return NULL;
        }
    }
    /* Ask whether the value may be kept ('K') for a name this proxy already
       read in the current run of reads: a loop reading it, and nothing else
       from the host, which is when keeping pays.  (The question costs the
       host a descriptor lookup.) */
    if (wasmpy_epoch != run_epoch) {
        run_start = wasmpy_epoch;
    }
    if (self->seen_run != run_start) {
        Py_CLEAR(self->seen);
        self->seen_run = run_start;
    }
    int check = names_have(self->seen, name);
    if (check > 0) {
        check = names_have(self->nocache, name);
        if (check >= 0) {
            check = !check;
        }
    }
    if (check < 0) {
        return NULL;
    }
    PyObject *enc = PyDict_GetItemWithError(js.names, name);
    if (enc != NULL) {
        Py_INCREF(enc);
    }
    else if (PyErr_Occurred() || (enc = PyObject_CallOneArg(js.encname, name)) == NULL) {
        return NULL;
    }
    if (!PyBytes_Check(enc)) {
        Py_DECREF(enc);
        PyErr_SetString(PyExc_TypeError, "an encoded JavaScript name must be bytes");
        return NULL;
    }
    char buf[256];
    Py_ssize_t n = PyBytes_GET_SIZE(enc);
    char *req = buf;
    if (5 + n > (Py_ssize_t)sizeof(buf)) {
        req = PyMem_Malloc(5 + n);
        if (req == NULL) {
            Py_DECREF(enc);
            return PyErr_NoMemory();
        }
    }
    req[0] = check ? 'K' : 'G';
    memcpy(req + 1, &self->id, 4);
    memcpy(req + 5, PyBytes_AS_STRING(enc), n);
    Py_DECREF(enc);
    const char *r;
    PyObject *big;
    uint64_t before = wasmpy_epoch;
    Py_ssize_t size = js_host(req, 5 + n, &r, &big);
    if (req != buf) {
        PyMem_Free(req);
    }
    if (size < 0) {
        return NULL;
    }
    int pure = size >= 2 && r[0] == '=';
    if (pure && wasmpy_epoch == before + 1) {
        /* The host only read a data property: no JavaScript ran, and what
           Python keeps from before is still true. */
        wasmpy_epoch = before;
    }
    uint64_t epoch = wasmpy_epoch;
    run_epoch = epoch;
    if (size >= 1 && r[0] == 'A') {
        Py_XDECREF(big);
        PyErr_SetObject(PyExc_AttributeError, name);
        return NULL;
    }
    Py_ssize_t end;
    if (pure) {
        int keep = cacheable_tag(r[1]);
        res = js_dec(r, size, 1, &end);
        Py_XDECREF(big);
        if (res != NULL && keep && cache_put(self, name, res, epoch) < 0) {
            Py_CLEAR(res);
        }
        return res;
    }
    if ((check ? names_add(&self->nocache, name) : names_add(&self->seen, name)) < 0) {
        Py_XDECREF(big);
        return NULL;
    }
    res = js_dec(r, size, 0, &end);
    Py_XDECREF(big);
    return res;
}

/* Whether v is an int (exactly) of 32 bits; its value in *out. */
static int
as_i32(PyObject *v, int32_t *out)
{
    if (!PyLong_CheckExact(v)) {
        return 0;
    }
    int overflow;
    long x = PyLong_AsLongAndOverflow(v, &overflow);
    if (overflow || x < INT32_MIN || x > INT32_MAX) {
        PyErr_Clear();
        return 0;
    }
    *out = (int32_t)x;
    return 1;
}

/* Append an argument in the wire format; 0 when it needs the Python
   encoder (objects become PyProxies there), -1 when it does not fit. */
static int
put_arg(char *buf, Py_ssize_t cap, Py_ssize_t *len, PyObject *a)
{
    char *p = buf + *len;
    Py_ssize_t left = cap - *len;
    if (PyLong_CheckExact(a)) {
        int32_t i;
        if (!as_i32(a, &i)) {
            return 0;
        }
        if (left < 5) {
            return -1;
        }
        p[0] = 'i';
        memcpy(p + 1, &i, 4);
        *len += 5;
        return 1;
    }
    if (PyUnicode_CheckExact(a)) {
        Py_ssize_t n;
        const char *s = PyUnicode_AsUTF8AndSize(a, &n);
        if (s == NULL) {
            PyErr_Clear();  /* lone surrogates: the Python encoder passes them */
            return 0;
        }
        if (left < 5 + n) {
            return -1;
        }
        uint32_t n32 = (uint32_t)n;
        p[0] = 's';
        memcpy(p + 1, &n32, 4);
        memcpy(p + 5, s, n);
        *len += 5 + n;
        return 1;
    }
    if (PyFloat_CheckExact(a)) {
        if (left < 9) {
            return -1;
        }
        double d = PyFloat_AS_DOUBLE(a);
        p[0] = 'd';
        memcpy(p + 1, &d, 8);
        *len += 9;
        return 1;
    }
    if (a == Py_None || a == Py_True || a == Py_False) {
        if (left < 1) {
            return -1;
        }
        p[0] = a == Py_None ? 'u' : a == Py_True ? 't' : 'f';
        *len += 1;
        return 1;
    }
    if (PyObject_TypeCheck(a, &JsRef_Type)) {
        if (left < 5) {
            return -1;
        }
        p[0] = 'j';
        memcpy(p + 1, &((JsRefObject *)a)->id, 4);
        *len += 5;
        return 1;
    }
    return 0;
}

static PyObject *
call_slow(PyObject *self, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *small[8];
    PyObject **stack = small;
    if (1 + nargs + nkw > 8) {
        stack = PyMem_Malloc((1 + nargs + nkw) * sizeof(PyObject *));
        if (stack == NULL) {
            return PyErr_NoMemory();
        }
    }
    stack[0] = self;
    memcpy(stack + 1, args, (nargs + nkw) * sizeof(PyObject *));
    PyObject *res = PyObject_Vectorcall(js.call_py, stack, 1 + nargs, kwnames);
    if (stack != small) {
        PyMem_Free(stack);
    }
    return res;
}

/* JsProxy.__call__ for callables (jsproxy.c JsMethod_Vectorcall): numbers,
   strings, None, booleans and JsProxies are encoded here; any other
   argument, and keywords, take the Python path. */
/* WebLoop._settled_future(True, value) of the running WebLoop, made here:
   a PyodideFuture, and a _Settle that settles it, queued after the running
   callback (or as a ready callback outside one).  NULL without an exception
   set when the Python side must do it (another loop, a closed one). */
/* The _Settle slot at offset off of h. */
#define SETTLE_SLOT(h, off) (*(PyObject **)((char *)(h) + (off)))

/* Remember loop (a WebLoop) and what settled_fast needs of it: 0, or -1
   with an exception set. */
static int
loop_remember(PyObject *loop)
{
    if (loop == loopc.loop) {
        return 0;
    }
    PyObject *ready = PyObject_GetAttr(loop, loopc.ready);
    PyObject *micro = ready != NULL ? PyObject_GetAttr(loop, loopc.micro) : NULL;
    PyObject *kw = micro != NULL ? PyDict_New() : NULL;
    PyObject *append = kw != NULL ? PyObject_GetAttr(micro, loopc.append) : NULL;
    PyObject *mclear = append != NULL ? PyObject_GetAttr(micro, loopc.clear) : NULL;
    PyObject *rclear = mclear != NULL ? PyObject_GetAttr(ready, loopc.clear) : NULL;
    if (rclear == NULL || PyDict_SetItemString(kw, "loop", loop) < 0) {
        Py_XDECREF(ready);
        Py_XDECREF(micro);
        Py_XDECREF(kw);
        Py_XDECREF(append);
        Py_XDECREF(mclear);
        Py_XDECREF(rclear);
        return -1;
    }
    Py_XSETREF(loopc.loop, Py_NewRef(loop));
    Py_XSETREF(loopc.loop_ready, ready);
    Py_XSETREF(loopc.loop_micro, micro);
    Py_XSETREF(loopc.loop_kw, kw);
    Py_XSETREF(loopc.micro_append, append);
    Py_XSETREF(loopc.micro_clear, mclear);
    Py_XSETREF(loopc.ready_clear, rclear);
    return 0;
}

static PyObject *
settled_fast(PyObject *value)
{
    if (loopc.webloop == NULL) {
        return NULL;
    }
    PyObject *loop = PyObject_CallNoArgs(loopc.get_event_loop);
    if (loop == NULL) {
        return NULL;
    }
    PyObject *fut = NULL, *h = NULL, *cur = NULL, *closed = NULL, *r = NULL;
    if ((PyObject *)Py_TYPE(loop) != loopc.webloop) {
        goto done;
    }
    closed = PyObject_GetAttr(loop, loopc.closed);
    if (closed == NULL || closed != Py_False || loop_remember(loop) < 0) {
        goto done;
    }
    /* PyodideFuture(loop=loop), without a keyword dict per call. */
    PyTypeObject *ft = (PyTypeObject *)loopc.future;
    fut = ft->tp_new(ft, loopc.empty, NULL);
    if (fut == NULL) {
        goto done;
    }
    if (ft->tp_init(fut, loopc.empty, loopc.loop_kw) < 0) {
        Py_CLEAR(fut);
        goto done;
    }
    /* A _Settle without running its __init__. */
    PyTypeObject *st = (PyTypeObject *)loopc.settle;
    h = st->tp_new(st, loopc.empty, NULL);
    if (h == NULL) {
        Py_CLEAR(fut);
        goto done;
    }
    SETTLE_SLOT(h, loopc.off_fut) = Py_NewRef(fut);
    SETTLE_SLOT(h, loopc.off_ok) = Py_NewRef(Py_True);
    SETTLE_SLOT(h, loopc.off_value) = Py_NewRef(value);
    SETTLE_SLOT(h, loopc.off_cancelled) = Py_NewRef(Py_False);
    cur = PyObject_GetAttr(loop, loopc.current);
    if (cur == NULL) {
        Py_CLEAR(fut);
        goto done;
    }
    if (cur != Py_None) {
        r = PyObject_CallOneArg(loopc.micro_append, h);
    }
    else {
        r = PyObject_CallMethodOneArg(loop, loopc.push_ready, h);
    }
    if (r == NULL) {
        Py_CLEAR(fut);
    }
    else {
        Py_XSETREF(loopc.last_fut, Py_NewRef(fut));
        Py_XSETREF(loopc.last_settle, Py_NewRef(h));
    }
done:
    Py_XDECREF(r);
    Py_XDECREF(cur);
    Py_XDECREF(h);
    Py_XDECREF(closed);
    Py_DECREF(loop);
    return fut;
}

static PyObject *
jsref_call(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    if (js_check_ready() < 0) {
        return NULL;
    }
    JsRefObject *self = (JsRefObject *)op;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if ((kwnames != NULL && PyTuple_GET_SIZE(kwnames) > 0) || !(self->flags & js.is_callable)) {
        return call_slow(op, args, nargsf, kwnames);
    }
    char buf[512];
    Py_ssize_t len = 9;
    call_header(self, buf);
    uint32_t n32 = (uint32_t)nargs;
    memcpy(buf + len, &n32, 4);
    len += 4;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        if (put_arg(buf, sizeof(buf), &len, args[i]) <= 0) {
            return call_slow(op, args, nargsf, kwnames);
        }
    }
    const char *r;
    PyObject *big;
    Py_ssize_t size = js_host(buf, len, &r, &big);
    if (size < 0) {
        return NULL;
    }
    PyObject *res;
    if (size < 2 || (unsigned char)r[0] > 1) {
        /* An error result has no "kept" byte. */
        res = js_raise(r, size, 0);
        Py_XDECREF(big);
        return res;
    }
    if (r[1] == 'V' || r[1] == 'W') {
        /* The value of a fulfilled promise, in place of the promise ('W':
           and nothing else was ready on the host's loop). */
        int idle = r[1] == 'W';
        Py_ssize_t end;
        PyObject *v = js_dec(r, size, 2, &end);
        Py_XDECREF(big);
        if (v == NULL) {
            return NULL;
        }
        res = settled_fast(v);
        loopc.idle_epoch = res != NULL && idle ? wasmpy_epoch : 0;
        if (res == NULL && !PyErr_Occurred()) {
            PyObject *argv[2] = {Py_True, v};
            res = PyObject_Vectorcall(js.settled, argv, 2, NULL);
        }
        Py_DECREF(v);
        return res;
    }
    if (r[1] == 'Y') {
        /* The reason of a rejected one. */
        PyObject *b = PyBytes_FromStringAndSize(r, size);
        Py_XDECREF(big);
        if (b == NULL) {
            return NULL;
        }
        res = PyObject_CallOneArg(js.settled_future, b);
        Py_DECREF(b);
        return res;
    }
    int awaitable = r[1] == 'h' && size >= 10 && (rd_u32(r + 6) & js.is_awaitable);
    Py_ssize_t end;
    res = js_dec(r, size, 1, &end);
    Py_XDECREF(big);
    if (res != NULL && awaitable) {
        Py_SETREF(res, PyObject_CallOneArg(js.promise_future, res));
    }
    return res;
}

/* IS_PY_JSON_SEQUENCE (_core_ffi.py), given to jsref_setup_seq: the items
   of such a proxy are adapted in Python. */
static uint32_t json_seq_flag;
static int seq_ready;

/* _Array.__getitem__: a non-negative int index read in C (op 'g'); every
   other key, and as_py_json sequences, go to self._getitem_py. */
static PyObject *
jsref_array_getitem(PyObject *op, PyObject *idx)
{
    JsRefObject *self = (JsRefObject *)op;
    if (seq_ready && js.ready && PyLong_CheckExact(idx) && !(self->flags & json_seq_flag)) {
        int overflow;
        long long i = PyLong_AsLongLongAndOverflow(idx, &overflow);
        if (i == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (!overflow && i >= 0) {
            char req[13];
            int64_t v = i;
            req[0] = 'g';
            memcpy(req + 1, &self->id, 4);
            memcpy(req + 5, &v, 8);
            const char *r;
            PyObject *big;
            Py_ssize_t size = js_host(req, sizeof(req), &r, &big);
            if (size < 0) {
                return NULL;
            }
            if (size >= 1 && r[0] == 'A') {
                Py_XDECREF(big);
                PyErr_SetObject(PyExc_IndexError, idx);
                return NULL;
            }
            Py_ssize_t end;
            PyObject *res = js_dec(r, size, 0, &end);
            Py_XDECREF(big);
            return res;
        }
    }
    return PyObject_CallMethod(op, "_getitem_py", "O", idx);
}

/* _Iterator.__next__: the next value of a JavaScript iterator (op 'n', no
   argument) in C; as_py_json ones go to self._next_py. */
static PyObject *
jsref_iter_next(PyObject *op, PyObject *unused)
{
    JsRefObject *self = (JsRefObject *)op;
    if (!seq_ready || !js.ready || (self->flags & json_seq_flag)) {
        return PyObject_CallMethod(op, "_next_py", NULL);
    }
    char req[9] = {'n'};
    memcpy(req + 1, &self->id, 4);
    const char *r;
    PyObject *big;
    Py_ssize_t size = js_host(req, sizeof(req), &r, &big);
    if (size < 0) {
        return NULL;
    }
    if (size < 2 || (unsigned char)r[0] > 1) {
        PyObject *res = js_raise(r, size, 0);
        Py_XDECREF(big);
        return res;
    }
    int done = r[0] == 1;
    Py_ssize_t end;
    PyObject *v = js_dec(r, size, 1, &end);
    Py_XDECREF(big);
    if (v == NULL || !done) {
        return v;
    }
    if (v == Py_None) {
        PyErr_SetNone(PyExc_StopIteration);
    }
    else {
        _PyGen_SetStopIterationValue(v);
    }
    Py_DECREF(v);
    return NULL;
}

/* jsref_setup_seq(IS_PY_JSON_SEQUENCE) */
PyObject *
wasmpy_jsref_setup_seq(PyObject *module, PyObject *arg)
{
    unsigned long f = PyLong_AsUnsignedLong(arg);
    if (f == (unsigned long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    json_seq_flag = (uint32_t)f;
    seq_ready = 1;
    Py_RETURN_NONE;
}

static PyMemberDef jsref_members[] = {
    {"_id", Py_T_UINT, offsetof(JsRefObject, id), 0, NULL},
    {"_this", Py_T_UINT, offsetof(JsRefObject, this_id), 0, NULL},
    {"_flags", Py_T_UINT, offsetof(JsRefObject, flags), 0, NULL},
    {NULL},
};

/* _hb: the handle as u32 bytes, made on first use (most proxies never
   need it: their requests are made here). */
static PyObject *
jsref_get_hb(PyObject *op, void *unused)
{
    JsRefObject *self = (JsRefObject *)op;
    if (self->hb == NULL) {
        self->hb = PyBytes_FromStringAndSize((const char *)&self->id, 4);
        if (self->hb == NULL) {
            return NULL;
        }
    }
    return Py_NewRef(self->hb);
}

/* _C: 'C' + id + this, the head of a call request (callables only). */
static PyObject *
jsref_get_C(PyObject *op, void *unused)
{
    JsRefObject *self = (JsRefObject *)op;
    if (!(self->flags & js.is_callable)) {
        PyErr_SetString(PyExc_AttributeError, "_C");
        return NULL;
    }
    char c[9];
    call_header(self, c);
    return PyBytes_FromStringAndSize(c, 9);
}

static PyGetSetDef jsref_getset[] = {
    {"_hb", jsref_get_hb, NULL, NULL, NULL},
    {"_C", jsref_get_C, NULL, NULL, NULL},
    {NULL},
};

static PyMethodDef jsref_methods[] = {
    {"_call", _PyCFunction_CAST(jsref_call), METH_FASTCALL | METH_KEYWORDS,
     "_call(*args, **kwargs)\n\nCall the JavaScript function."},
    {"_array_getitem", jsref_array_getitem, METH_O,
     "_array_getitem(idx)\n\nArray item access (_Array.__getitem__)."},
    {"_iter_next", jsref_iter_next, METH_NOARGS,
     "_iter_next()\n\nThe iterator's next value (_Iterator.__next__)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject JsRef_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_wasmpy.JsRef",
    .tp_doc = "The handle of a JavaScript value: the base of pyodide.ffi's JsProxy classes.",
    .tp_basicsize = sizeof(JsRefObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_dealloc = jsref_dealloc,
    .tp_getattro = jsref_getattro,
    .tp_members = jsref_members,
    .tp_getset = jsref_getset,
    .tp_methods = jsref_methods,
};

/* The base of callable JsProxies: called through vectorcall, straight to
   jsref_call (a __call__ in Python would go through slot_tp_call and an
   argument tuple).  Same layout as JsRef; proxies made by js_wrap set the
   function, any other instance is not callable. */
static PyTypeObject JsCallRef_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "_wasmpy.JsCallRef",
    .tp_doc = "The handle of a JavaScript function: the base of callable JsProxy classes.",
    .tp_basicsize = sizeof(JsRefObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_base = &JsRef_Type,
    .tp_call = PyVectorcall_Call,
    .tp_vectorcall_offset = offsetof(JsRefObject, vectorcall),
};

/* ---- calls from JavaScript ------------------------------------------------------ */

/* What the Python side gives to jsref_setup_calls. */
static struct {
    PyObject *objs;         /* dict: PyProxy id -> Python object */
    PyObject *call_result;  /* call_result(obj, res) -> bytes */
    PyObject *py_exc;       /* py_exc(exc) -> bytes: the 'E' answer */
    PyObject *rt;           /* _wasmpy_rt's dict: _depth, _waits */
    PyObject *depth_key, *waits_key;    /* "_depth", "_waits", interned */
} calls;

/* Encode a call's result when it is simple; 0 when it needs the Python
   encoder (objects become PyProxies, coroutines Futures), -1 on overflow. */
static int
put_result(char *buf, Py_ssize_t cap, Py_ssize_t *len, PyObject *v)
{
    if (v == js.jsnull) {
        buf[(*len)++] = 'n';
        return 1;
    }
    return put_arg(buf, cap, len, v);
}

/* _wasmpy_rt.dispatch's bookkeeping: its depth of calls from the host, and
   whether, at this depth, what Python printed must go out now (the host's
   own output, console.log, is to follow it). */
static long
rt_depth(void)
{
    PyObject *d = PyDict_GetItemWithError(calls.rt, calls.depth_key);
    return d != NULL && PyLong_Check(d) ? PyLong_AsLong(d) : 0;
}

static void
rt_set_depth(long depth)
{
    PyObject *exc = PyErr_GetRaisedException();
    PyObject *d = PyLong_FromLong(depth);
    if (d != NULL) {
        (void)PyDict_SetItem(calls.rt, calls.depth_key, d);
        Py_DECREF(d);
    }
    PyErr_Clear();
    PyErr_SetRaisedException(exc);
}

static int
rt_must_flush(long depth)
{
    if (depth == 0) {
        return 1;
    }
    PyObject *w = PyDict_GetItemWithError(calls.rt, calls.waits_key);
    if (w == NULL || !PyList_Check(w) || PyList_GET_SIZE(w) == 0) {
        return 0;
    }
    PyObject *last = PyList_GET_ITEM(w, PyList_GET_SIZE(w) - 1);
    return PyLong_Check(last) && PyLong_AsLong(last) == depth;
}

/* A call of a PyProxy from JavaScript, the hot path of wasmpy_dispatch:
   "jsffi\0" then 'c', u64 proxy id, u8 relaxed, u32 nargs, the arguments
   and a u32 count of keywords (see _core_ffi._op_call).  Returns 0 to leave
   the request to the Python dispatcher (keywords, callRelaxed, an unknown
   id), 1 when the answer went to the host, 3 when it is in the result slot
   (wasmpy_dispatch_result), -1 when making it failed (the exception is
   set). */
int
wasmpy_jsref_dispatch(const char *data, uint32_t len)
{
    static const char target[6] = "jsffi";
    if (calls.objs == NULL || !js.ready || len < 6 + 14
        || memcmp(data, target, 6) != 0 || data[6] != 'c' || data[6 + 9] != 0) {
        return 0;
    }
    const char *r = data + 6;
    Py_ssize_t size = len - 6;
    uint64_t pid;
    memcpy(&pid, r + 1, 8);
    uint32_t nargs = rd_u32(r + 10);
    if (nargs > 8) {
        return 0;
    }
    PyObject *key = PyLong_FromUnsignedLongLong(pid);
    if (key == NULL) {
        return -1;
    }
    PyObject *obj = PyDict_GetItemWithError(calls.objs, key);
    Py_DECREF(key);
    if (obj == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    Py_INCREF(obj);
    PyObject *args[8];
    uint32_t got = 0;
    Py_ssize_t off = 14;
    int handled = 1;
    while (got < nargs) {
        Py_ssize_t end;
        PyObject *a = js_dec(r, size, off, &end);
        if (a == NULL) {
            handled = -1;
            break;
        }
        args[got++] = a;
        off = end;
    }
    /* No keywords: nothing more, or a zero count. */
    if (handled == 1 && !(off == size || (off + 4 == size && rd_u32(r + off) == 0))) {
        handled = 0;
    }
    if (handled != 1) {
        for (uint32_t i = 0; i < got; i++) {
            Py_DECREF(args[i]);
        }
        Py_DECREF(obj);
        return handled;
    }
    long depth = rt_depth();
    rt_set_depth(depth + 1);
    PyObject *res = PyObject_Vectorcall(obj, args, nargs, NULL);
    PyObject *exc = res == NULL ? PyErr_GetRaisedException() : NULL;
    rt_set_depth(depth);
    for (uint32_t i = 0; i < got; i++) {
        Py_DECREF(args[i]);
    }
    char buf[256];
    Py_ssize_t n = 0;
    PyObject *out = NULL;
    if (exc != NULL) {
        out = PyObject_CallOneArg(calls.py_exc, exc);
        Py_DECREF(exc);
    }
    else if (res == NULL) {
        PyErr_SetString(PyExc_SystemError, "a call from JavaScript failed without an exception");
    }
    else if (put_result(buf, sizeof(buf), &n, res) <= 0) {
        n = 0;
        out = PyObject_CallFunctionObjArgs(calls.call_result, obj, res, NULL);
    }
    Py_XDECREF(res);
    Py_DECREF(obj);
    if (rt_must_flush(depth)) {
        PyObject *pending = PyErr_GetRaisedException();
        wasmpy_flush_std();
        PyErr_SetRaisedException(pending);
    }
    if (n > 0) {
        return wasmpy_dispatch_result(buf, (uint32_t)n) ? 3 : 1;
    }
    if (out == NULL) {
        return -1;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(out, &view, PyBUF_SIMPLE) < 0) {
        Py_DECREF(out);
        return -1;
    }
    int in_slot = wasmpy_dispatch_result((const char *)view.buf, (uint32_t)view.len);
    PyBuffer_Release(&view);
    Py_DECREF(out);
    return in_slot ? 3 : 1;
}

/* ---- to_js of lists of numbers -------------------------------------------------- */

/* pack_i32(seq): the items of a list or tuple of ints (exactly int, not
   bool) that all fit in 32 bits, as little-endian i32 bytes; None when
   they do not (to_js's 'a' node). */
PyObject *
wasmpy_jsref_pack_i32(PyObject *module, PyObject *seq)
{
    if (!PyList_CheckExact(seq) && !PyTuple_CheckExact(seq)) {
        Py_RETURN_NONE;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyBytes_FromStringAndSize(NULL, 4 * n);
    if (out == NULL) {
        return NULL;
    }
    char *p = PyBytes_AS_STRING(out);
    /* A list can change while it is read only if Python code runs: none does. */
    PyObject **items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; i++) {
        int32_t x32;
        if (!as_i32(items[i], &x32)) {
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
        memcpy(p + 4 * i, &x32, 4);
    }
    return out;
}

/* pack_f64(seq): the items of a list or tuple of floats and ints (exactly),
   the ints strictly within +-(2**53 - 1), as little-endian f64 bytes; None
   otherwise (to_js's 'F' node: all become numbers, none a BigInt). */
PyObject *
wasmpy_jsref_pack_f64(PyObject *module, PyObject *seq)
{
    if (!PyList_CheckExact(seq) && !PyTuple_CheckExact(seq)) {
        Py_RETURN_NONE;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyBytes_FromStringAndSize(NULL, 8 * n);
    if (out == NULL) {
        return NULL;
    }
    char *p = PyBytes_AS_STRING(out);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    const long long safe = 9007199254740991LL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = items[i];
        double d;
        if (PyFloat_CheckExact(v)) {
            d = PyFloat_AS_DOUBLE(v);
        }
        else if (PyLong_CheckExact(v)) {
            int overflow;
            long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (overflow || x <= -safe || x >= safe) {
                Py_DECREF(out);
                Py_RETURN_NONE;
            }
            d = (double)x;
        }
        else {
            Py_DECREF(out);
            Py_RETURN_NONE;
        }
        memcpy(p + 8 * i, &d, 8);
    }
    return out;
}

/* Append scalar a (an int of 32 bits, float, str, None or bool, exact
   types) to the growing buffer *buf: 1, 0 when a is something else, -1 on
   error. */
static int
put_scalar(char **buf, Py_ssize_t *cap, Py_ssize_t *len, PyObject *a)
{
    if (PyObject_TypeCheck(a, &JsRef_Type)) {
        return 0;
    }
    int rc;
    while ((rc = put_arg(*buf, *cap, len, a)) < 0) {
        Py_ssize_t ncap = *cap * 2 + 64;
        char *nb = PyMem_Realloc(*buf, ncap);
        if (nb == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        *buf = nb;
        *cap = ncap;
    }
    return rc;
}

/* enc_scalars(b, x): append to bytearray b the wire values of the items of
   a list or tuple, or of the keys and values of a dict, when all are
   scalars (put_scalar), as _enc would, and return True; else append
   nothing and return False (to_js's arrays and objects of such items). */
PyObject *
wasmpy_jsref_enc_scalars(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyByteArray_Check(args[0])
        || !(PyList_CheckExact(args[1]) || PyTuple_CheckExact(args[1])
             || PyDict_CheckExact(args[1]))) {
        PyErr_SetString(PyExc_TypeError, "enc_scalars(b: bytearray, x: list | tuple | dict)");
        return NULL;
    }
    PyObject *b = args[0], *x = args[1];
    int is_dict = PyDict_CheckExact(x);
    Py_ssize_t n = is_dict ? 2 * PyDict_GET_SIZE(x) : PySequence_Fast_GET_SIZE(x);
    Py_ssize_t cap = 64 + 12 * n, len = 0;
    char *buf = PyMem_Malloc(cap);
    if (buf == NULL) {
        return PyErr_NoMemory();
    }
    int rc = 1;
    if (is_dict) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (rc > 0 && PyDict_Next(x, &pos, &k, &v)) {
            rc = put_scalar(&buf, &cap, &len, k);
            if (rc > 0) {
                rc = put_scalar(&buf, &cap, &len, v);
            }
        }
    }
    else {
        for (Py_ssize_t i = 0; rc > 0 && i < n; i++) {
            rc = put_scalar(&buf, &cap, &len, PySequence_Fast_GET_ITEM(x, i));
        }
    }
    if (rc <= 0) {
        PyMem_Free(buf);
        if (rc < 0) {
            return NULL;
        }
        Py_RETURN_FALSE;
    }
    Py_ssize_t old = PyByteArray_GET_SIZE(b);
    if (PyByteArray_Resize(b, old + len) < 0) {
        PyMem_Free(buf);
        return NULL;
    }
    memcpy(PyByteArray_AS_STRING(b) + old, buf, len);
    PyMem_Free(buf);
    Py_RETURN_TRUE;
}

/* A to_js tree being encoded in C (enc_tree). */
struct tree {
    char *buf;
    Py_ssize_t cap, len;
    PyObject *order;    /* list: the containers, in the order they start */
    PyObject *seen;     /* set: their ids */
    PyObject *cache;    /* dict: ids of the containers the encoder has seen */
};

static int
tree_put(struct tree *t, const void *p, Py_ssize_t n)
{
    if (t->len + n > t->cap) {
        Py_ssize_t ncap = (t->len + n) * 2 + 64;
        char *nb = PyMem_Realloc(t->buf, ncap);
        if (nb == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        t->buf = nb;
        t->cap = ncap;
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
    return 0;
}

/* Encode x: 1, 0 when it needs the Python encoder (something but lists,
   tuples, dicts and scalars; a container met before; too deep), -1 on
   error. */
static int
tree_node(struct tree *t, PyObject *x, int level)
{
    int is_dict = PyDict_CheckExact(x);
    if (!is_dict && !PyList_CheckExact(x) && !PyTuple_CheckExact(x)) {
        return put_scalar(&t->buf, &t->cap, &t->len, x);
    }
    if (level > 100) {
        return 0;
    }
    PyObject *key = PyLong_FromVoidPtr(x);
    if (key == NULL) {
        return -1;
    }
    int rc = PySet_Contains(t->seen, key);
    if (rc == 0) {
        rc = PyDict_Contains(t->cache, key);
    }
    if (rc == 0 && (PySet_Add(t->seen, key) < 0 || PyList_Append(t->order, x) < 0)) {
        rc = -1;
    }
    Py_DECREF(key);
    if (rc != 0) {
        return rc < 0 ? -1 : 0;
    }
    Py_ssize_t n = is_dict ? PyDict_GET_SIZE(x) : PySequence_Fast_GET_SIZE(x);
    if (!is_dict && n >= 8) {
        /* Ints of 32 bits, packed ('a'), as _ToJs._packed does. */
        int32_t v;
        Py_ssize_t i = 0;
        while (i < n && as_i32(PySequence_Fast_GET_ITEM(x, i), &v)) {
            i++;
        }
        if (i == n) {
            char head[5] = {'a'};
            uint32_t n32 = (uint32_t)n;
            memcpy(head + 1, &n32, 4);
            if (tree_put(t, head, 5) < 0) {
                return -1;
            }
            for (i = 0; i < n; i++) {
                (void)as_i32(PySequence_Fast_GET_ITEM(x, i), &v);
                if (tree_put(t, &v, 4) < 0) {
                    return -1;
                }
            }
            return 1;
        }
    }
    char head[5] = {is_dict ? 'O' : 'A'};
    uint32_t n32 = (uint32_t)n;
    memcpy(head + 1, &n32, 4);
    if (tree_put(t, head, 5) < 0) {
        return -1;
    }
    rc = 1;
    if (is_dict) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (rc > 0 && PyDict_Next(x, &pos, &k, &v)) {
            rc = put_scalar(&t->buf, &t->cap, &t->len, k);
            if (rc > 0) {
                rc = tree_node(t, v, level + 1);
            }
        }
    }
    else {
        for (Py_ssize_t i = 0; rc > 0 && i < n; i++) {
            rc = tree_node(t, PySequence_Fast_GET_ITEM(x, i), level + 1);
        }
    }
    return rc;
}

/* enc_tree(b, x, cache): to_js of a list, tuple or dict made only of those
   and of scalars, none met twice and none in cache (the encoder's ids),
   appended to bytearray b as _ToJs.deep would (without converters, to any
   depth). Returns its containers in the order they start, for the encoder
   to number; or None, with nothing appended, when it needs the Python
   encoder. */
PyObject *
wasmpy_jsref_enc_tree(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyByteArray_Check(args[0]) || !PyDict_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "enc_tree(b: bytearray, x, cache: dict)");
        return NULL;
    }
    struct tree t = {.cap = 256, .cache = args[2]};
    t.buf = PyMem_Malloc(t.cap);
    t.order = PyList_New(0);
    t.seen = PySet_New(NULL);
    PyObject *res = NULL;
    if (t.buf == NULL || t.order == NULL || t.seen == NULL) {
        if (t.buf == NULL) {
            PyErr_NoMemory();
        }
        goto done;
    }
    int rc = tree_node(&t, args[1], 0);
    if (rc < 0) {
        goto done;
    }
    if (rc == 0) {
        res = Py_NewRef(Py_None);
        goto done;
    }
    Py_ssize_t old = PyByteArray_GET_SIZE(args[0]);
    if (PyByteArray_Resize(args[0], old + t.len) < 0) {
        goto done;
    }
    memcpy(PyByteArray_AS_STRING(args[0]) + old, t.buf, t.len);
    res = Py_NewRef(t.order);
done:
    PyMem_Free(t.buf);
    Py_XDECREF(t.order);
    Py_XDECREF(t.seen);
    return res;
}

/* The 8-byte little-endian numbers of r from off on, as a list: int64s,
   or doubles, which become ints when they are safe integers (as a JS number
   converts to Python). */
static PyObject *
unpack8(PyObject *const *args, Py_ssize_t nargs, int doubles)
{
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "unpack(r: bytes, off: int)");
        return NULL;
    }
    Py_ssize_t off = PyLong_AsSsize_t(args[1]);
    if (off == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t size = PyBytes_GET_SIZE(args[0]);
    if (off < 0 || off > size || (size - off) % 8 != 0) {
        PyErr_SetString(PyExc_ValueError, "unpack: not a whole number of 8-byte values");
        return NULL;
    }
    Py_ssize_t n = (size - off) / 8;
    const char *p = PyBytes_AS_STRING(args[0]) + off;
    PyObject *list = PyList_New(n);
    if (list == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x;
        if (doubles) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            /* Number.isSafeInteger(d) */
            if (d == d && d >= -9007199254740991.0 && d <= 9007199254740991.0
                && d == (double)(int64_t)d) {
                x = PyLong_FromLongLong((int64_t)d);
            }
            else {
                x = PyFloat_FromDouble(d);
            }
        }
        else {
            int64_t v;
            memcpy(&v, p + 8 * i, 8);
            x = (v >= LONG_MIN && v <= LONG_MAX) ? PyLong_FromLong((long)v)
                                                 : PyLong_FromLongLong(v);
        }
        if (x == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, i, x);
    }
    return list;
}

/* unpack_i64(r, off): the little-endian i64s of r from off on, as a list of
   ints (to_py's 'a' answer). */
PyObject *
wasmpy_jsref_unpack_i64(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return unpack8(args, nargs, 0);
}

/* unpack_f64(r, off): the little-endian doubles of r from off on, as a list
   of ints and floats (to_py's 'F' answer). */
PyObject *
wasmpy_jsref_unpack_f64(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return unpack8(args, nargs, 1);
}

/* ---- module functions ------------------------------------------------------- */

PyObject *
wasmpy_jsref_setup_calls(PyObject *module, PyObject *args)
{
    PyObject *objs, *call_result, *py_exc, *rt;
    if (!PyArg_ParseTuple(args, "O!OOO!:jsref_setup_calls", &PyDict_Type, &objs,
                          &call_result, &py_exc, &PyDict_Type, &rt)) {
        return NULL;
    }
    PyObject *dk = PyUnicode_InternFromString("_depth");
    PyObject *wk = dk != NULL ? PyUnicode_InternFromString("_waits") : NULL;
    if (wk == NULL) {
        Py_XDECREF(dk);
        return NULL;
    }
    Py_XSETREF(calls.depth_key, dk);
    Py_XSETREF(calls.waits_key, wk);
    Py_XSETREF(calls.call_result, Py_NewRef(call_result));
    Py_XSETREF(calls.py_exc, Py_NewRef(py_exc));
    Py_XSETREF(calls.rt, Py_NewRef(rt));
    Py_XSETREF(calls.objs, Py_NewRef(objs));
    Py_RETURN_NONE;
}

PyObject *
wasmpy_jsref_setup(PyObject *module, PyObject *args)
{
    PyObject *classes, *class_for, *wrap_error, *dec, *names, *encname, *jsnull;
    PyObject *promise_future, *call_py, *raise_result, *settled_future, *settled;
    unsigned int is_error, is_array, is_callable, is_awaitable;
    if (!PyArg_ParseTuple(args, "O!OOOO!OOOOOOOIIII:jsref_setup",
                          &PyDict_Type, &classes, &class_for, &wrap_error, &dec,
                          &PyDict_Type, &names, &encname, &jsnull, &promise_future,
                          &call_py, &raise_result, &settled_future, &settled,
                          &is_error, &is_array, &is_callable, &is_awaitable)) {
        return NULL;
    }
    Py_XSETREF(js.classes, Py_NewRef(classes));
    Py_XSETREF(js.class_for, Py_NewRef(class_for));
    Py_XSETREF(js.wrap_error, Py_NewRef(wrap_error));
    Py_XSETREF(js.dec, Py_NewRef(dec));
    Py_XSETREF(js.names, Py_NewRef(names));
    Py_XSETREF(js.encname, Py_NewRef(encname));
    Py_XSETREF(js.jsnull, Py_NewRef(jsnull));
    Py_XSETREF(js.promise_future, Py_NewRef(promise_future));
    Py_XSETREF(js.call_py, Py_NewRef(call_py));
    Py_XSETREF(js.raise_result, Py_NewRef(raise_result));
    Py_XSETREF(js.settled_future, Py_NewRef(settled_future));
    Py_XSETREF(js.settled, Py_NewRef(settled));
    js.is_error = is_error;
    js.is_array = is_array;
    js.is_callable = is_callable;
    js.is_awaitable = is_awaitable;
    for (int i = 0; i < CLASS_CACHE; i++) {
        Py_CLEAR(class_cache[i].cls);
    }
    js.ready = 1;
    Py_RETURN_NONE;
}

/* wrap(id, flags, this) -> JsProxy */
PyObject *
wasmpy_jsref_wrap(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (js_check_ready() < 0) {
        return NULL;
    }
    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "wrap() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    uint32_t v[3];
    for (int i = 0; i < 3; i++) {
        unsigned long x = PyLong_AsUnsignedLong(args[i]);
        if (x == (unsigned long)-1 && PyErr_Occurred()) {
            return NULL;
        }
        v[i] = (uint32_t)x;
    }
    return js_wrap(v[0], v[1], v[2]);
}

/* dec(r, off) -> (value, end) */
PyObject *
wasmpy_jsref_dec(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (js_check_ready() < 0) {
        return NULL;
    }
    if (nargs != 2 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "dec(r: bytes, off: int)");
        return NULL;
    }
    Py_ssize_t off = PyLong_AsSsize_t(args[1]);
    if (off == -1 && PyErr_Occurred()) {
        return NULL;
    }
    PyObject *r = args[0];
    if (off < 0 || off >= PyBytes_GET_SIZE(r)) {
        return PyObject_CallFunction(js.dec, "On", r, off);
    }
    /* r is immutable and referenced by the caller: a re-entrant call
       during a proxy's allocation cannot change it. */
    Py_ssize_t end;
    PyObject *v = js_dec(PyBytes_AS_STRING(r), PyBytes_GET_SIZE(r), off, &end);
    if (v == NULL) {
        return NULL;
    }
    PyObject *t = PyTuple_New(2);
    PyObject *e = PyLong_FromSsize_t(end);
    if (t == NULL || e == NULL) {
        Py_XDECREF(t);
        Py_XDECREF(e);
        Py_DECREF(v);
        return NULL;
    }
    PyTuple_SET_ITEM(t, 0, v);
    PyTuple_SET_ITEM(t, 1, e);
    return t;
}

/* release(id): the handle is released with the next batch. */
PyObject *
wasmpy_jsref_release(PyObject *module, PyObject *arg)
{
    unsigned long id = PyLong_AsUnsignedLong(arg);
    if (id == (unsigned long)-1 && PyErr_Occurred()) {
        return NULL;
    }
    release_push((uint32_t)id);
    Py_RETURN_NONE;
}

/* flush(): release the pending handles now. */
PyObject *
wasmpy_jsref_flush(PyObject *module, PyObject *unused)
{
    release_flush();
    Py_RETURN_NONE;
}

int
wasmpy_jsref_add_type(PyObject *module)
{
    if (PyType_Ready(&JsRef_Type) < 0 || PyType_Ready(&JsCallRef_Type) < 0) {
        return -1;
    }
    if (PyModule_AddObjectRef(module, "JsCallRef", (PyObject *)&JsCallRef_Type) < 0) {
        return -1;
    }
    return PyModule_AddObjectRef(module, "JsRef", (PyObject *)&JsRef_Type);
}

/* Whether deque d holds just h: 1, 0, or -1 on error. */
static int
only(PyObject *d, PyObject *h)
{
    Py_ssize_t n = PyObject_Size(d);
    if (n != 1) {
        return n < 0 ? -1 : 0;
    }
    PyObject *first = PySequence_GetItem(d, 0);
    if (first == NULL) {
        return -1;
    }
    Py_DECREF(first);
    return first == h;
}

/* Whether deque d is empty: 1, 0, or -1 on error. */
static int
empty(PyObject *d)
{
    Py_ssize_t n = PyObject_Size(d);
    return n < 0 ? -1 : n == 0;
}

/* loop._host.more(), straight to the host for the Go one. */
static int
host_more(PyObject *loop)
{
    PyObject *host = PyObject_GetAttr(loop, loopc.host);
    if (host == NULL) {
        return -1;
    }
    int more;
    if ((PyObject *)Py_TYPE(host) == loopc.gohost) {
        char out[8];
        int32_t n = wasmpy_host_call("loop.more", 9, "", 0, out, sizeof(out));
        more = n == 1 && out[0] == '1';
    }
    else {
        PyObject *r = PyObject_CallMethod(host, "more", NULL);
        more = r == NULL ? -1 : PyObject_IsTrue(r);
        Py_XDECREF(r);
    }
    Py_DECREF(host);
    return more;
}

/* PyodideFuture.__await__ (webloop.py has the same in Python): a future of
   a call's settled promise, awaited while its settling is all the loop has
   to run, is settled now instead of after a trip through the loop. */
static PyObject *
settled_await(PyObject *fut, PyObject *unused)
{
    PyObject *h, *loop = NULL, *micro = NULL, *ready = NULL, *r = NULL;
    int idle = 0;
    if (fut == loopc.last_fut) {
        h = loopc.last_settle;
        loopc.last_settle = NULL;
        Py_CLEAR(loopc.last_fut);
        /* No host call since the one that made it: the host's loop is as
           idle as it said then. */
        idle = loopc.idle_epoch == wasmpy_epoch;
    }
    else {
        h = PyObject_GetAttr(fut, loopc.pending);
        if (h == NULL) {
            return NULL;
        }
        if (h != Py_None && PyObject_SetAttr(fut, loopc.pending, Py_None) < 0) {
            Py_DECREF(h);
            return NULL;
        }
    }
    int ok = 0;
    if (h == Py_None || (PyObject *)Py_TYPE(h) != loopc.settle) {
        goto plain;
    }
    r = PyObject_CallMethodNoArgs(fut, loopc.done);
    if (r == NULL) {
        goto error;
    }
    if (r != Py_False) {
        goto plain;
    }
    Py_CLEAR(r);
    loop = PyObject_GetAttr(fut, loopc.loop_);
    if (loop == NULL) {
        goto error;
    }
    if (loop == loopc.loop) {
        micro = Py_NewRef(loopc.loop_micro);
        ready = Py_NewRef(loopc.loop_ready);
    }
    else {
        micro = PyObject_GetAttr(loop, loopc.micro);
        ready = micro != NULL ? PyObject_GetAttr(loop, loopc.ready) : NULL;
        if (ready == NULL) {
            goto error;
        }
    }
    /* h alone in one queue, the other empty: the queue to clear, or
       NULL (and an exception on error). */
    PyObject *queue = NULL;
    int alone = only(micro, h);
    if (alone == 1) {
        alone = empty(ready);
        queue = micro;
    }
    else if (alone == 0) {
        alone = only(ready, h);
        if (alone == 1) {
            alone = empty(micro);
            queue = ready;
        }
    }
    if (alone < 0) {
        goto error;
    }
    if (!alone) {
        goto plain;
    }
    int more = idle ? 1 : host_more(loop);
    if (more < 0) {
        goto error;
    }
    if (more) {
        PyObject *hok = SETTLE_SLOT(h, loopc.off_ok);
        PyObject *hv = SETTLE_SLOT(h, loopc.off_value);
        if (hok == NULL || hv == NULL) {
            goto plain;
        }
        Py_INCREF(hv);
        r = queue == loopc.loop_micro ? PyObject_CallNoArgs(loopc.micro_clear)
            : queue == loopc.loop_ready ? PyObject_CallNoArgs(loopc.ready_clear)
            : PyObject_CallMethodNoArgs(queue, loopc.clear);
        if (r != NULL) {
            Py_SETREF(r, PyObject_CallMethodOneArg(
                fut, hok == Py_True ? loopc.set_result : loopc.set_exception, hv));
        }
        Py_DECREF(hv);
        if (r == NULL) {
            goto error;
        }
    }
plain:
    ok = 1;
error:
    Py_XDECREF(r);
    Py_XDECREF(ready);
    Py_XDECREF(micro);
    Py_XDECREF(loop);
    Py_DECREF(h);
    if (!ok) {
        return NULL;
    }
    return loopc.base->tp_as_async->am_await(fut);
}

/* The am_await slot itself: `await fut` calls settled_await without
   looking __await__ up (PyodideFuture's own slot; subclasses find the
   method). */
static PyObject *
settled_am_await(PyObject *fut)
{
    return settled_await(fut, NULL);
}

static PyMethodDef settled_await_def = {
    "__await__", settled_await, METH_NOARGS,
    "Return an iterator to be used in await expression.",
};

/* jsref_setup_loop(get_event_loop, WebLoop, PyodideFuture, _Settle, _GoHost) */
PyObject *
wasmpy_jsref_setup_loop(PyObject *module, PyObject *args)
{
    PyObject *get_event_loop, *webloop, *future, *settle, *gohost;
    if (!PyArg_ParseTuple(args, "OO!O!O!O!:jsref_setup_loop", &get_event_loop,
                          &PyType_Type, &webloop, &PyType_Type, &future,
                          &PyType_Type, &settle, &PyType_Type, &gohost)) {
        return NULL;
    }
    PyTypeObject *base = ((PyTypeObject *)future)->tp_base;
    if (base == NULL || strcmp(base->tp_name, "_asyncio.Future") != 0
        || base->tp_as_async == NULL || base->tp_as_async->am_await == NULL) {
        PyErr_SetString(PyExc_TypeError, "PyodideFuture must derive from the C asyncio.Future");
        return NULL;
    }
    struct { PyObject **slot; const char *name; } names[] = {
        {&loopc.closed, "_closed"}, {&loopc.fut, "_fut"}, {&loopc.ok, "_ok"},
        {&loopc.value, "_value"}, {&loopc.cancelled, "_cancelled"},
        {&loopc.current, "_current_handle"}, {&loopc.micro, "_micro"},
        {&loopc.append, "append"}, {&loopc.push_ready, "_push_ready"},
        {&loopc.pending, "_pending_settle"}, {&loopc.ready, "_ready"},
        {&loopc.loop_, "_loop"}, {&loopc.host, "_host"}, {&loopc.done, "done"},
        {&loopc.set_result, "set_result"}, {&loopc.set_exception, "set_exception"},
        {&loopc.clear, "clear"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        PyObject *n = PyUnicode_InternFromString(names[i].name);
        if (n == NULL) {
            return NULL;
        }
        Py_XSETREF(*names[i].slot, n);
    }
    /* Where _Settle keeps _fut, _ok, _value and _cancelled. */
    struct { Py_ssize_t *off; PyObject *name; } slots[] = {
        {&loopc.off_fut, loopc.fut}, {&loopc.off_ok, loopc.ok},
        {&loopc.off_value, loopc.value}, {&loopc.off_cancelled, loopc.cancelled},
    };
    for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        PyObject *d = PyObject_GetAttr(settle, slots[i].name);
        if (d == NULL) {
            return NULL;
        }
        int is_slot = Py_IS_TYPE(d, &PyMemberDescr_Type)
                      && ((PyMemberDescrObject *)d)->d_member->type == Py_T_OBJECT_EX;
        if (is_slot) {
            *slots[i].off = ((PyMemberDescrObject *)d)->d_member->offset;
        }
        Py_DECREF(d);
        if (!is_slot) {
            PyErr_Format(PyExc_TypeError, "_Settle.%U must be a slot", slots[i].name);
            return NULL;
        }
    }
    if (loopc.empty == NULL && (loopc.empty = PyTuple_New(0)) == NULL) {
        return NULL;
    }
    Py_XSETREF(loopc.get_event_loop, Py_NewRef(get_event_loop));
    Py_XSETREF(loopc.future, Py_NewRef(future));
    Py_XSETREF(loopc.settle, Py_NewRef(settle));
    Py_XSETREF(loopc.webloop, Py_NewRef(webloop));
    Py_XSETREF(loopc.gohost, Py_NewRef(gohost));
    loopc.base = base;
    /* PyodideFuture.__await__ and __iter__ in C. */
    PyObject *descr = PyDescr_NewMethod((PyTypeObject *)future, &settled_await_def);
    if (descr == NULL) {
        return NULL;
    }
    int rc = PyObject_SetAttrString(future, "__await__", descr) < 0
             || PyObject_SetAttrString(future, "__iter__", descr) < 0;
    Py_DECREF(descr);
    if (rc) {
        return NULL;
    }
    PyTypeObject *ft = (PyTypeObject *)future;
    if (ft->tp_as_async != NULL) {
        ft->tp_as_async->am_await = settled_am_await;
        PyType_Modified(ft);
    }
    Py_RETURN_NONE;
}
