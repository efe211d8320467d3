"""micropip for the wasmpy sandbox: Pyodide's package installer, without
downloads.

Notebooks written for Pyodide or JupyterLite start with
`await micropip.install("...")`. Here a request that the preinstalled
packages satisfy succeeds (nothing happens, as in Pyodide for a package
already loaded); anything else raises ValueError naming what is missing.
`micropip.list()` shows the preinstalled packages.
"""

from __future__ import annotations

from collections.abc import Iterable

from wasmpy_kernel import packages

__all__ = ["install", "list", "uninstall", "set_index_urls", "PackageDict", "PackageMetadata"]
__version__ = "0.10.1+wasmpy"

_builtin_list = list


class PackageMetadata:
    """An installed package: name, version and where it came from."""

    __slots__ = ("name", "version", "source")

    def __init__(self, name: str, version: str, source: str = "wasmpy") -> None:
        self.name, self.version, self.source = name, version, source

    def __getitem__(self, key: str) -> str:
        return getattr(self, key)

    def __repr__(self) -> str:
        return f"PackageMetadata(name={self.name!r}, version={self.version!r}, source={self.source!r})"


class PackageDict(dict[str, PackageMetadata]):
    """Package name to metadata; shown as a table."""

    def __repr__(self) -> str:
        rows = [("Name", "Version", "Source")] + [(p.name, p.version, p.source) for p in self.values()]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        line = lambda r: " | ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
        sep = "-+-".join("-" * w for w in widths)
        return "\n".join([line(rows[0]), sep] + [line(r) for r in rows[1:]])


async def install(
    requirements: str | Iterable[str],
    keep_going: bool = False,
    deps: bool = True,
    credentials: str | None = None,
    pre: bool = False,
    index_urls: Iterable[str] | str | None = None,
    *,
    constraints: Iterable[str] | None = None,
    reinstall: bool = False,
    verbose: bool | int = False,
) -> None:
    """Install requirements: succeeds when the preinstalled packages satisfy
    all of them; raises ValueError otherwise (nothing can be downloaded)."""
    reqs = [requirements] if isinstance(requirements, str) else _builtin_list(requirements)
    try:
        found = packages.satisfy(reqs)
    except packages.PackageError as e:
        raise ValueError(f"Can't install: {e}") from None
    if verbose:
        for req, dist in found:
            print(f"Requirement already satisfied: {req.text} ({dist.version})")


def list() -> PackageDict:  # noqa: A001 (micropip's name)
    """The installed packages."""
    out = PackageDict()
    for dist in packages.installed():
        name = dist.metadata["Name"]
        out[name] = PackageMetadata(name, dist.version)
    return out


def uninstall(packages_: str | Iterable[str], *, verbose: bool | int = False) -> None:
    """Preinstalled packages cannot be removed from the sandbox."""
    raise ValueError("Can't uninstall: the sandbox's packages are read-only")


_index_urls: _builtin_list[str] = []


def set_index_urls(urls: _builtin_list[str] | str) -> None:
    """Accepted and kept; the sandbox downloads nothing, from any index."""
    _index_urls[:] = [urls] if isinstance(urls, str) else _builtin_list(urls)
