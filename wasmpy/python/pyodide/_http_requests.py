"""`requests` through the host's fetch.

requests speaks HTTP through urllib3 and sockets, which the sandbox does not
have. As pyodide-http does in a browser, :func:`install` replaces
``requests.adapters.HTTPAdapter.send`` (when requests is first imported) by
one that sends the prepared request through the same fetch path as
:func:`pyodide.http.pyfetch`, under the kernel's network policy, and builds
an ordinary ``requests.Response``: status, reason, headers, cookies, url,
encoding, content, streaming over the received body. Redirects come back as
they are, so requests follows them itself (``history``,
``allow_redirects=False``), each one asked of the network policy again.
"""

from __future__ import annotations

import http.client
import io
import sys
from collections.abc import Callable
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType, SimpleNamespace
from typing import Any

__all__ = ["install", "send"]


def _body(body: Any) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if hasattr(body, "read"):
        return _body(body.read())
    return b"".join(_body(chunk) or b"" for chunk in body)  # a generator of chunks


def _timeout(timeout: Any) -> float | None:
    if isinstance(timeout, tuple):  # (connect, read): the whole request gets both
        parts = [t for t in timeout if t is not None]
        return float(sum(parts)) if parts else None
    return None if timeout is None else float(timeout)


def send(
    self: Any,
    request: Any,
    stream: bool = False,
    timeout: Any = None,
    verify: Any = True,
    cert: Any = None,
    proxies: Any = None,
) -> Any:
    """HTTPAdapter.send through the host's fetch."""
    from requests import exceptions
    from requests.cookies import extract_cookies_to_jar
    from requests.models import Response
    from requests.structures import CaseInsensitiveDict
    from requests.utils import get_encoding_from_headers

    from .http import _fetch_sync

    # Like a browser's fetch, the host negotiates compression itself and
    # hands over the decoded body.
    headers = [(k, v) for k, v in request.headers.items() if k.lower() != "accept-encoding"]
    try:
        raw = _fetch_sync(
            request.url,
            method=request.method,
            headers=headers,
            body=_body(request.body),
            redirect="manual",
            timeout=_timeout(timeout),
        )
    except TimeoutError as e:
        raise exceptions.ReadTimeout(e, request=request) from None
    except (OSError, ValueError) as e:  # refused by the policy, unreachable, bad URL
        raise exceptions.ConnectionError(e, request=request) from None

    msg = http.client.HTTPMessage()
    merged: dict[str, tuple[str, list[str]]] = {}
    for k, v in raw.headers:
        msg[k] = v
        merged.setdefault(k.lower(), (k, []))[1].append(v)
    resp = Response()
    resp.status_code = raw.status
    resp.reason = raw.status_text or http.client.responses.get(raw.status, "")
    resp.headers = CaseInsensitiveDict({k: ", ".join(vs) for k, vs in merged.values()})
    resp.encoding = get_encoding_from_headers(resp.headers)
    resp.url = raw.url or request.url
    resp.request = request
    resp.connection = self
    # Session reads cookies from resp.raw, as from urllib3's response.
    resp.raw = _RawBody(raw.body)
    resp.raw._original_response = SimpleNamespace(msg=msg)
    resp._content = raw.body
    resp._content_consumed = True  # iter_content streams over what was received
    extract_cookies_to_jar(resp.cookies, request, resp.raw)
    return resp


class _RawBody(io.BytesIO):
    """Response.raw: the body, and the headers where requests looks for
    cookies."""

    _original_response: Any = None


class _HookLoader(Loader):
    """Loads a module with another loader, then runs a hook on it."""

    def __init__(self, loader: Loader, hook: Callable[[ModuleType], None]) -> None:
        self.loader, self.hook = loader, hook

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        self.hook(module)

    def __getattr__(self, name: str) -> Any:  # get_resource_reader, get_data, ...
        return getattr(self.loader, name)


class _AfterImport(MetaPathFinder):
    """Runs a hook on a module right after it is first imported."""

    def __init__(self, hooks: dict[str, Callable[[ModuleType], None]]) -> None:
        self.hooks = hooks

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> ModuleSpec | None:
        hook = self.hooks.get(fullname)
        if hook is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _HookLoader(spec.loader, hook)
                return spec
        return None


def _patch(adapters: ModuleType) -> None:
    adapters.HTTPAdapter.send = send  # type: ignore[attr-defined]


def install() -> None:
    """Make requests use the host's fetch, now or when it is first imported
    (idempotent)."""
    if any(isinstance(f, _AfterImport) for f in sys.meta_path):
        return
    if "requests.adapters" in sys.modules:
        _patch(sys.modules["requests.adapters"])
    sys.meta_path.insert(0, _AfterImport({"requests.adapters": _patch}))
