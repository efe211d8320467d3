"""Helpers that manage the lifetime of the proxies of callbacks given to JavaScript."""

from collections.abc import Callable
from typing import Any

from . import create_once_callable, create_proxy

EVENT_LISTENERS: dict[tuple[int, str, Callable[[Any], None]], Any] = {}
TIMEOUTS: dict[int, Any] = {}
INTERVALS: dict[int, Any] = {}


class _NoDestroy:
    @staticmethod
    def destroy() -> None:
        pass


def _js_id(v: Any) -> int:
    return v if isinstance(v, int) else v.js_id


def add_event_listener(elt: Any, event: str, listener: Callable[[Any], None]) -> None:
    """addEventListener that keeps a proxy of ``listener`` until it is removed."""
    proxy = create_proxy(listener)
    EVENT_LISTENERS[(elt.js_id, event, listener)] = proxy
    elt.addEventListener(event, proxy)


def remove_event_listener(elt: Any, event: str, listener: Callable[[Any], None]) -> None:
    """removeEventListener for a listener added with add_event_listener."""
    proxy = EVENT_LISTENERS.pop((elt.js_id, event, listener), None)
    if proxy is None:
        return
    elt.removeEventListener(event, proxy)
    proxy.destroy()


def set_timeout(callback: Callable[[], None], timeout: int) -> Any:
    """setTimeout whose callback proxy is released when it runs or is cleared."""
    from js import setTimeout

    box: list[Any] = []

    def wrapper() -> None:
        TIMEOUTS.pop(box[0], None)
        callback()

    proxy = create_once_callable(wrapper)
    tid = setTimeout(proxy, timeout)
    box.append(_js_id(tid))
    TIMEOUTS[box[0]] = proxy
    return tid


def clear_timeout(timeout_retval: Any) -> None:
    """clearTimeout for a timeout made with set_timeout."""
    from js import clearTimeout

    clearTimeout(timeout_retval)
    TIMEOUTS.pop(_js_id(timeout_retval), _NoDestroy).destroy()


def set_interval(callback: Callable[[], None], interval: int) -> Any:
    """setInterval whose callback proxy is released when it is cleared."""
    from js import setInterval

    proxy = create_proxy(callback)
    iid = setInterval(proxy, interval)
    INTERVALS[_js_id(iid)] = proxy
    return iid


def clear_interval(interval_retval: Any) -> None:
    """clearInterval for an interval made with set_interval."""
    from js import clearInterval

    clearInterval(interval_retval)
    INTERVALS.pop(_js_id(interval_retval), _NoDestroy).destroy()


__all__ = [
    "add_event_listener",
    "remove_event_listener",
    "set_timeout",
    "clear_timeout",
    "set_interval",
    "clear_interval",
]
