"""pyodide.http: HTTP for the sandbox, as in Pyodide 0.29.

:func:`pyfetch` (async, after JavaScript's fetch), :func:`open_url` (blocking,
text), :class:`pyxhr` (blocking, requests-like) and ``urllib.request.urlopen``
of http and https URLs (see :func:`install_urllib`) all go through the host's
``loop.fetch``: the kernel's Go side makes the request with net/http, under
the kernel's network policy (checked before the request and on every
redirect), and hands the whole response back to the event loop. No sockets
are used inside the sandbox, and no JavaScript is needed.

Blocking calls run the event loop nested (see pyodide.webloop.run_sync), so
other tasks keep running while they wait.

Differences from Pyodide: the body is read completely before pyfetch returns
(``js_response`` is None; ``buffer()`` returns bytes with the JsBuffer
conversion methods); a ``signal`` must be a Python object with ``aborted``
(and optionally ``add_event_listener``/``addEventListener``); the ``fetcher``
argument is not supported.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import io
import json
from json.encoder import encode_basestring_ascii as _json_str
import os
import shutil
import struct
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import urllib.response
from asyncio import CancelledError
from collections.abc import Iterable, Mapping
from typing import IO, Any

from io import StringIO

from . import webloop
from .ffi import IN_BROWSER

__all__ = [
    "AbortError",
    "BodyUsedError",
    "FetchResponse",
    "HttpStatusError",
    "XHRError",
    "XHRNetworkError",
    "XHRResponse",
    "install_urllib",
    "open_url",
    "pyfetch",
    "pyxhr",
]

_U32 = struct.Struct("<I")


# ---- exceptions -------------------------------------------------------------


class HttpStatusError(OSError):
    """Raised by raise_for_status for a status of 4xx or 5xx."""

    status: int
    status_text: str
    url: str

    def __init__(self, status: int, status_text: str, url: str) -> None:
        self.status = status
        self.status_text = status_text
        self.url = url
        if 400 <= status < 500:
            super().__init__(f"{status} Client Error: {status_text} for url: {url}")
        elif 500 <= status < 600:
            super().__init__(f"{status} Server Error: {status_text} for url: {url}")
        else:
            super().__init__(f"{status} Invalid error code not between 400 and 599: {status_text} for url: {url}")

    def __reduce__(self) -> Any:
        return (self.__class__, (self.status, self.status_text, self.url), self.__dict__)


class BodyUsedError(OSError):
    """The body of the response was already read (use clone() first)."""

    def __init__(self, *args: Any) -> None:
        super().__init__("Response body is already used")


class AbortError(OSError):
    """The fetch was aborted."""

    def __init__(self, reason: Any = None) -> None:
        msg = getattr(reason, "message", None) or (str(reason) if reason is not None else "")
        super().__init__(msg or "The operation was aborted.")


class XHRError(OSError):
    """An error of pyxhr."""


class XHRNetworkError(XHRError):
    """A network error of pyxhr."""

    def __init__(self, message: str = "Network error occurred") -> None:
        super().__init__(message)


# ---- the host call ------------------------------------------------------------

# The exceptions for the host's error kinds (loop.FetchErrorKind).
_ERRORS: dict[str, type[BaseException]] = {
    "denied": PermissionError,
    "aborted": AbortError,
    "timeout": TimeoutError,
    "too_large": OSError,
    "bad_request": ValueError,
    "network": ConnectionError,
}


class _Raw:
    """A response as the host gave it."""

    __slots__ = ("status", "status_text", "url", "redirected", "type", "headers", "body")

    def __init__(self, meta: list[str], body: bytes) -> None:
        # The host's fields (loop/host.go fetchReply): status, status text,
        # URL, redirected ("1" or ""), type, then header names and values.
        self.status: int = int(meta[0])
        self.status_text: str = meta[1]
        self.url: str = meta[2]
        self.redirected: bool = meta[3] == "1"
        self.type: str = meta[4]
        self.headers: list[tuple[str, str]] = list(zip(meta[5::2], meta[6::2]))
        self.body = body


def _decode_reply(data: bytes) -> _Raw:
    if not data:
        raise ConnectionError("empty reply from the host")
    if data[0] == 1:
        err = json.loads(data[1:] or b"{}")
        exc = _ERRORS.get(err.get("kind", ""), OSError)
        raise exc(err.get("message") or "fetch failed")
    (n,) = _U32.unpack_from(data, 1)
    meta = data[5 : 5 + n].decode("utf-8", "replace").split("\0")
    if len(meta) < 5 or len(meta) % 2 == 0:
        raise ConnectionError("malformed reply from the host")
    return _Raw(meta, bytes(data[5 + n :]))


def _body_bytes(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if hasattr(body, "to_bytes") and callable(body.to_bytes):  # a JsBuffer
        return bytes(body.to_bytes())
    if isinstance(body, Mapping):
        return urllib.parse.urlencode(body).encode("ascii")
    if hasattr(body, "read"):
        data = body.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if isinstance(body, Iterable):
        return b"".join(x.encode("utf-8") if isinstance(x, str) else bytes(x) for x in body)
    raise TypeError(f"cannot send a body of type {type(body).__name__}")


def _header_pairs(headers: Any) -> list[list[str]]:
    if headers is None:
        return []
    if hasattr(headers, "to_py") and callable(headers.to_py):  # a JsProxy
        headers = headers.to_py()
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [[str(k), str(v)] for k, v in items]


def _start(
    url: str,
    method: str = "GET",
    headers: Any = None,
    body: Any = None,
    redirect: str = "follow",
    timeout: float | None = None,
    loop: webloop.WebLoop | None = None,
) -> tuple[asyncio.Future[_Raw], int]:
    """Start a fetch on the host; return its future and completion id."""
    loop = loop or _loop()
    fut: asyncio.Future[_Raw] = loop.create_future()

    def done(data: bytes) -> None:
        if fut.done():
            return
        # Completed by the host: nothing to abort (and one callback less to
        # run before the awaiting task).
        fut.remove_done_callback(on_done)
        try:
            fut.set_result(_decode_reply(data))
        except Exception as e:
            fut.set_exception(e)

    cid = webloop.add_completion(done, loop)
    # loop/host.go fetchRequest, as json.dumps would write it, without its
    # encoder's set-up (some 10 us of a small fetch in the sandbox).
    req = '{"method":%s,"url":%s,"headers":%s,"redirect":%s,"timeout_ms":%d}' % (
        _json_str(str(method or "GET").upper()),
        _json_str(str(url)),
        json.dumps(_header_pairs(headers)) if headers is not None else "[]",
        _json_str(redirect or "follow"),
        int(timeout * 1000) if timeout else 0,
    )
    try:
        webloop.host().fetch(cid, req.encode("ascii"), _body_bytes(body) or b"")
    except BaseException:
        webloop.cancel_completion(cid)
        raise

    def on_done(f: asyncio.Future[_Raw]) -> None:
        # Cancelled or failed from outside (an interrupt): stop the request.
        if f.cancelled() or isinstance(f.exception(), (KeyboardInterrupt, AbortError)):
            webloop.cancel_completion(cid)
            webloop.host().abort(cid)

    fut.add_done_callback(on_done)
    return fut, cid


def _loop() -> webloop.WebLoop:
    running = asyncio.events._get_running_loop()
    return running if isinstance(running, webloop.WebLoop) else webloop.get_loop()


# ---- pyfetch --------------------------------------------------------------------


class _Buffer(bytes):
    """The response body, with the conversion methods of Pyodide's JsBuffer."""

    @property
    def byteLength(self) -> int:  # noqa: N802 (the JavaScript name)
        return len(self)

    def to_bytes(self) -> bytes:
        return bytes(self)

    def to_memoryview(self) -> memoryview:
        return memoryview(self)

    def to_string(self, encoding: str | None = None) -> str:
        return self.decode(encoding or "utf-8")

    def to_file(self, file: IO[bytes] | IO[str]) -> None:
        fd = file.fileno()
        os.write(fd, self)

    def _into_file(self, file: IO[bytes] | IO[str]) -> None:
        self.to_file(file)


class _AbortController:
    """What FetchResponse.abort uses when no JS AbortController exists."""

    def __init__(self) -> None:
        self.aborted = False
        self.reason: Any = None

    def abort(self, reason: Any = None) -> None:
        self.aborted = True
        self.reason = reason


class FetchResponse:
    """The response of :func:`pyfetch`, as Pyodide's (after fetch's Response)."""

    def __init__(self, url: str, raw: _Raw, abort_controller: Any = None, abort_signal: Any = None) -> None:
        self._url = url
        self._raw = raw
        self._body_used = False
        self._js_response: Any = None
        self.abort_controller = abort_controller if abort_controller is not None else _AbortController()
        self.abort_signal = abort_signal

    @property
    def body_used(self) -> bool:
        """Whether the body was read (then reading it again raises BodyUsedError)."""
        return self._body_used or (self._js_response is not None and bool(self._js_response.bodyUsed))

    @property
    def js_response(self) -> Any:
        """The response as a JavaScript Response (made on first use, from the
        response the host read; reading either body uses both)."""
        jr = self._js_response
        if jr is None:
            try:
                import js
                from pyodide.ffi import to_js
            except ImportError:
                return None
            raw = self._raw
            init = js.Object.new()
            init.status = raw.status
            init.statusText = raw.status_text
            init.headers = to_js([[k, v] for k, v in raw.headers])
            init._url = raw.url
            init._redirected = raw.redirected
            init._type = raw.type
            body = to_js(raw.body) if raw.body and raw.status not in (204, 205, 304) else None
            jr = js.Response.new(body, init)
            if self._body_used:
                jr.arrayBuffer()
            self._js_response = jr
        return jr

    @property
    def headers(self) -> dict[str, str]:
        """The response headers, names in lower case."""
        return dict(self._raw.headers)

    @property
    def ok(self) -> bool:
        return 200 <= self._raw.status <= 299

    @property
    def redirected(self) -> bool:
        return self._raw.redirected

    @property
    def status(self) -> int:
        return self._raw.status

    @property
    def status_text(self) -> str:
        return self._raw.status_text

    @property
    def type(self) -> str:
        return self._raw.type

    @property
    def url(self) -> str:
        """The final URL (after redirects)."""
        return self._raw.url

    def _aborted(self) -> bool:
        for s in (self.abort_signal, self.abort_controller):
            if s is not None and getattr(s, "aborted", False):
                return True
        return False

    def _raise_if_failed(self) -> None:
        if self._aborted():
            raise AbortError(getattr(self.abort_controller, "reason", None))
        if self.body_used:
            raise BodyUsedError

    def _take(self) -> bytes:
        self._raise_if_failed()
        self._body_used = True
        if self._js_response is not None:
            self._js_response.arrayBuffer()
        return self._raw.body

    def raise_for_status(self) -> None:
        """Raise HttpStatusError if the status is 4xx or 5xx."""
        if 400 <= self.status < 600:
            raise HttpStatusError(self.status, self.status_text, self.url)

    def clone(self) -> FetchResponse:
        """A copy whose body can be read separately."""
        if self._body_used:
            raise BodyUsedError
        return FetchResponse(self._url, self._raw, self.abort_controller, self.abort_signal)

    def abort(self, reason: Any = None) -> None:
        """Abort: later reads of the body raise AbortError."""
        if self.abort_controller is None:
            raise ValueError("abort_controller is not set")
        self.abort_controller.abort(reason)

    async def buffer(self) -> Any:
        """The body as a JS ArrayBuffer (a JsProxy with to_bytes, to_memoryview,
        ...), as Pyodide gives; without a JS world, a stand-in with the same
        methods."""
        data = self._take()
        try:
            from pyodide.ffi import to_js
        except ImportError:
            return _Buffer(data)
        try:
            return to_js(data).buffer
        except Exception:
            return _Buffer(data)

    async def text(self) -> str:
        """The body decoded as UTF-8 (as fetch's text())."""
        return self._take().decode("utf-8", "replace")

    async def string(self) -> str:
        """Same as text() (deprecated in Pyodide)."""
        return await self.text()

    async def json(self, **kwargs: Any) -> Any:
        """The body parsed with json.loads(**kwargs)."""
        return json.loads(await self.text(), **kwargs)

    async def memoryview(self) -> memoryview:
        return memoryview(self._take())

    async def bytes(self) -> bytes:
        return self._take()

    async def _into_file(self, f: IO[bytes] | IO[str]) -> None:
        (await self.buffer())._into_file(f)

    async def _create_file(self, path: str) -> None:
        with open(path, "xb") as f:
            f.write(self._take())

    async def unpack_archive(self, *, extract_dir: str | None = None, format: str | None = None) -> None:
        """Unpack the body, an archive, with shutil.unpack_archive (the format
        from `format`, else from the URL's file name)."""
        data = self._take()
        name = os.path.basename(urllib.parse.urlsplit(self._url).path) or "archive"
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(data)
            try:
                shutil.unpack_archive(path, extract_dir, format)
            except shutil.ReadError as e:
                raise ValueError(f"cannot unpack {name!r}: {e} (pass format=)") from None


async def pyfetch(url: str, /, *, signal: Any = None, fetcher: Any = None, **kwargs: Any) -> FetchResponse:
    """Fetch url and return a :class:`FetchResponse`.

    Keyword arguments are fetch's options: ``method``, ``headers`` (a dict or
    pairs), ``body`` (str, bytes, a dict for a form), ``redirect`` ("follow",
    "error", "manual"); others (mode, credentials, cache...) are accepted and
    ignored. Errors: PermissionError when the network policy refuses the URL,
    AbortError when aborted, TimeoutError, ConnectionError, ValueError for a
    bad URL. Cancelling the awaiting task aborts the request.
    """
    if fetcher is not None:
        raise TypeError("pyfetch(fetcher=...) is not supported by wasmpy")
    _check_url(url)
    if signal is not None and getattr(signal, "aborted", False):
        raise AbortError(getattr(signal, "reason", None))
    fut, cid = _start(
        url,
        method=kwargs.get("method", "GET"),
        headers=kwargs.get("headers"),
        body=kwargs.get("body"),
        redirect=kwargs.get("redirect", "follow"),
        timeout=kwargs.get("timeout"),
    )
    controller = _AbortController()
    if signal is not None:
        listen = getattr(signal, "add_event_listener", None) or getattr(signal, "addEventListener", None)
        if callable(listen):
            def on_abort(*_: Any) -> None:
                if not fut.done():
                    fut.set_exception(AbortError(getattr(signal, "reason", None)))

            listen("abort", on_abort)
    try:
        raw = await fut
    except CancelledError:
        controller.abort("cancelled")
        raise
    except (ConnectionError, ValueError) as e:
        # Pyodide raises AbortError (an OSError) when fetch itself fails, with
        # the message of the JavaScript error (Node's).
        raise AbortError("fetch failed") from e
    return FetchResponse(url, raw, controller, signal)


_SPECIAL_SCHEMES = ("http", "https", "ws", "wss", "ftp")


# Where Pyodide defines them (pyodide/http/_pyfetch.py, _exceptions.py).
for _c in (HttpStatusError, BodyUsedError, AbortError, XHRError, XHRNetworkError):
    _c.__module__ = "pyodide.http._exceptions"
FetchResponse.__module__ = "pyodide.http._pyfetch"
pyfetch.__module__ = "pyodide.http._pyfetch"


def _check_url(url: Any) -> None:
    """Raise what fetch raises (a JsException TypeError, from the Request
    constructor in Pyodide's pyfetch) for a URL that does not parse."""
    u = str(url)
    if u in _urls_ok:
        return
    _check_new_url(u)
    if len(_urls_ok) >= 256:
        _urls_ok.clear()
    _urls_ok.add(u)


# URLs _check_url passed (a loop fetching the same URL checks it once).
_urls_ok: set[str] = set()


def _check_new_url(u: str) -> None:
    scheme, sep, rest = u.partition(":")
    ok = bool(sep) and scheme[:1].isalpha() and all(c.isalnum() or c in "+-." for c in scheme)
    if ok and scheme.lower() in _SPECIAL_SCHEMES:
        try:
            ok = bool(urllib.parse.urlsplit(u).hostname)
        except ValueError:
            ok = False
    if not ok:
        from pyodide.ffi import JsException

        raise JsException("TypeError", f"Failed to parse URL from {u}")


# ---- blocking -------------------------------------------------------------------


def _fetch_sync(url: str, **kwargs: Any) -> _Raw:
    fut, _ = _start(url, **kwargs)
    return webloop.run_sync(fut)


def open_url(url: str) -> io.StringIO:
    """Fetch url (blocking) and return its text in a StringIO. Use pyfetch
    for binary data. An HTTP error status raises HttpStatusError."""
    raw = _fetch_sync(url)
    if 400 <= raw.status < 600:
        raise HttpStatusError(raw.status, raw.status_text, raw.url)
    return io.StringIO(raw.body.decode("utf-8", "replace"))


class XHRResponse:
    """The response of :class:`pyxhr`, requests-like."""

    __module__ = "pyodide.http.pyxhr"

    def __init__(self, raw: _Raw) -> None:
        self._raw = raw

    @property
    def status_code(self) -> int:
        return self._raw.status

    @property
    def content(self) -> bytes:
        return self._raw.body

    @property
    def text(self) -> str:
        return self._raw.body.decode("utf-8", "replace")

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._raw.headers)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 400

    @property
    def url(self) -> str:
        return self._raw.url

    def json(self, **kwargs: Any) -> Any:
        return json.loads(self.text, **kwargs)

    def raise_for_status(self) -> None:
        if 400 <= self.status_code < 600:
            raise HttpStatusError(self.status_code, self._raw.status_text, self.url)


def _xhr_request(method: str, url: str, **kwargs: Any) -> XHRResponse:
    if params := kwargs.get("params"):
        url = f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(params)}"
    headers = dict(kwargs.get("headers") or {})
    data = kwargs.get("data")
    if (j := kwargs.get("json")) is not None:
        data = json.dumps(j)
        headers["Content-Type"] = "application/json"
    if auth := kwargs.get("auth"):
        user, password = auth
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    try:
        raw = _fetch_sync(url, method=method, headers=headers, body=data, timeout=kwargs.get("timeout"))
    except (ConnectionError, TimeoutError) as e:
        raise XHRNetworkError(f"Network error for {method} {url}: {e}") from e
    return XHRResponse(raw)


class pyxhr:  # noqa: N801 (Pyodide's name)
    """Blocking, requests-like HTTP: pyxhr.get(url, headers=, params=, data=,
    json=, auth=), post, put, delete, head, patch, options."""

    @staticmethod
    def get(url: str, **kwargs: Any) -> XHRResponse:
        return _xhr_request("GET", url, **kwargs)

    @staticmethod
    def post(url: str, **kwargs: Any) -> XHRResponse:
        return _xhr_request("POST", url, **kwargs)

    @staticmethod
    def put(url: str, **kwargs: Any) -> XHRResponse:
        return _xhr_request("PUT", url, **kwargs)

    @staticmethod
    def delete(url: str, **kwargs: Any) -> XHRResponse:
        return _xhr_request("DELETE", url, **kwargs)

    @staticmethod
    def head(url: str, **kwargs: Any) -> XHRResponse:
        return _xhr_request("HEAD", url, **kwargs)

    @staticmethod
    def patch(url: str, **kwargs: Any) -> XHRResponse:
        return _xhr_request("PATCH", url, **kwargs)

    @staticmethod
    def options(url: str, **kwargs: Any) -> XHRResponse:
        return _xhr_request("OPTIONS", url, **kwargs)


# ---- urllib -----------------------------------------------------------------------


def _urllib_open(self: Any, req: urllib.request.Request) -> urllib.response.addinfourl:
    """http_open/https_open of urllib: the request through the host's fetch."""
    data = req.data
    if data is not None and not isinstance(data, (bytes, bytearray, memoryview)):
        data = _body_bytes(data)
    headers = [(k, v) for k, v in req.header_items()]
    timeout = req.timeout if isinstance(req.timeout, (int, float)) else None
    try:
        raw = _fetch_sync(req.full_url, method=req.get_method(), headers=headers, body=data, timeout=timeout)
    except (ValueError, OSError) as e:
        raise urllib.error.URLError(e) from None
    msg = http.client.HTTPMessage()
    for k, v in raw.headers:
        msg[k] = v
    resp = urllib.response.addinfourl(io.BytesIO(raw.body), msg, raw.url, raw.status)
    resp.msg = raw.status_text  # type: ignore[attr-defined]
    resp.reason = raw.status_text  # type: ignore[attr-defined]
    return resp


_urllib_installed = False


def install_urllib() -> None:
    """Make urllib.request open http and https URLs through the host's fetch
    (idempotent): HTTPHandler's http_open/https_open are replaced, and the
    default opener is rebuilt."""
    global _urllib_installed
    if _urllib_installed:
        return
    urllib.request.HTTPHandler.http_open = _urllib_open  # type: ignore[method-assign,assignment]
    urllib.request.HTTPHandler.https_open = _urllib_open  # type: ignore[attr-defined]
    urllib.request.HTTPHandler.https_request = urllib.request.AbstractHTTPHandler.do_request_  # type: ignore[attr-defined]
    if hasattr(urllib.request, "HTTPSHandler"):
        urllib.request.HTTPSHandler.https_open = _urllib_open  # type: ignore[method-assign,assignment]
    urllib.request.install_opener(None)  # type: ignore[arg-type]
    _urllib_installed = True


# Pyodide's pyodide.http is a package whose namespace holds its public names
# (the XHR API is its submodule pyodide.http.pyxhr); dir() lists those, not
# this module's imports and extensions (which stay importable).
_PUBLIC = ("AbortError", "BodyUsedError", "FetchResponse", "HttpStatusError", "IN_BROWSER", "StringIO", "open_url", "pyfetch")


def __dir__() -> list[str]:
    return sorted({*_PUBLIC, *(k for k in globals() if k.startswith("_"))})
