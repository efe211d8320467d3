"""Package requests in a sandbox that cannot download anything.

`%pip`, `!pip` and `micropip.install` cannot reach PyPI here, but notebooks
written for ipykernel or JupyterLite often begin by asking for packages that
this runtime already has (`%pip install -q ipywidgets`). A request that the
preinstalled packages satisfy succeeds as pip's "Requirement already
satisfied" does; anything else fails with a message naming what is missing,
and nothing changes. `pip list`, `pip freeze` and `pip show` read the
installed metadata.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["PackageError", "Requirement", "find", "installed", "parse_requirement", "pip", "satisfy"]


class PackageError(Exception):
    """A request the sandbox cannot fulfil."""


_NAME = re.compile(r"\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(\[[^\]]*\])?\s*")
_CLAUSE = re.compile(r"\s*(===|==|!=|~=|>=|<=|>|<)\s*([A-Za-z0-9.*+!_-]+)\s*$")
_RELEASE = re.compile(r"\d+(?:\.\d+)*")


def canonical(name: str) -> str:
    """A project name as PEP 503 compares it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _release(version: str) -> tuple[int, ...]:
    m = _RELEASE.match(version.lstrip("vV"))
    if m is None:
        return ()
    parts = [int(p) for p in m.group().split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _is_pre(version: str) -> bool:
    m = _RELEASE.match(version.lstrip("vV"))
    rest = version.lstrip("vV")[m.end() :] if m else version
    return bool(re.match(r"[-_.]?(a|b|c|rc|alpha|beta|pre|preview|dev)", rest.lower()))


def _clause_ok(op: str, want: str, have: str) -> bool:
    if op == "===":
        return have == want
    if want.endswith(".*") and op in ("==", "!="):
        prefix = _release(want[:-2])
        match = _release(have)[: len(prefix)] + (0,) * max(0, len(prefix) - len(_release(have))) == prefix
        return match if op == "==" else not match
    h, w = _release(have), _release(want)
    if op == "~=":
        upper = w[:-1] if len(w) > 1 else w
        return h >= w and h[: len(upper)] == upper
    # A pre-release sorts before its release: 2.0rc1 < 2.0.
    key_h, key_w = (h, not _is_pre(have)), (w, not _is_pre(want))
    return {
        "==": key_h == key_w,
        "!=": key_h != key_w,
        ">=": key_h >= key_w,
        "<=": key_h <= key_w,
        ">": key_h > key_w,
        "<": key_h < key_w,
    }[op]


@dataclass(frozen=True)
class Requirement:
    """A PEP 508 requirement, as far as a sandbox can check one."""

    text: str
    name: str
    clauses: tuple[tuple[str, str], ...] = ()

    def accepts(self, version: str) -> bool:
        return all(_clause_ok(op, want, version) for op, want in self.clauses)


def parse_requirement(text: str) -> Requirement:
    """Parse `name[extras] specifiers ; markers`; URLs and paths are refused."""
    spec = text.split(";", 1)[0].strip()
    if "://" in spec or " @ " in spec or spec.startswith((".", "/", "~")) or spec.endswith((".whl", ".tar.gz", ".zip")):
        raise PackageError(f"cannot install {text!r}: the sandbox installs nothing from URLs, files or directories")
    m = _NAME.match(spec)
    if m is None:
        raise PackageError(f"invalid requirement: {text!r}")
    rest = spec[m.end() :].strip()
    if rest.startswith("(") and rest.endswith(")"):
        rest = rest[1:-1]
    clauses = []
    for part in filter(None, (p.strip() for p in rest.split(","))):
        c = _CLAUSE.match(part)
        if c is None:
            raise PackageError(f"invalid requirement: {text!r}")
        clauses.append((c.group(1), c.group(2)))
    return Requirement(text=text.strip(), name=m.group(1), clauses=tuple(clauses))


def find(name: str) -> md.Distribution | None:
    """The installed distribution of a project, or None."""
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        pass
    # Debian's egg-info directories may spell the name differently.
    want = canonical(name)
    for dist in md.distributions():
        if canonical(dist.metadata["Name"] or "") == want:
            return dist
    return None


def installed() -> list[md.Distribution]:
    """The installed distributions, one per project, sorted by name."""
    seen: dict[str, md.Distribution] = {}
    for dist in md.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) not in seen:
            seen[canonical(name)] = dist
    return sorted(seen.values(), key=lambda d: canonical(d.metadata["Name"]))


def _location(dist: md.Distribution) -> str:
    return os.path.normpath(str(dist.locate_file("")))


def satisfy(requirements: Iterable[str]) -> list[tuple[Requirement, md.Distribution]]:
    """Check requirements against the installed packages; PackageError names
    every one that the sandbox cannot satisfy."""
    found, missing = [], []
    for text in requirements:
        req = parse_requirement(text)
        dist = find(req.name)
        if dist is None:
            missing.append(f"{req.text} (not preinstalled)")
        elif not req.accepts(dist.version):
            missing.append(f"{req.text} (the sandbox has {dist.metadata['Name']} {dist.version})")
        else:
            found.append((req, dist))
    if missing:
        raise PackageError(
            f"cannot install {', '.join(missing)}: this sandbox cannot download packages from PyPI, "
            "so only its preinstalled packages can be used (`%pip list` shows them)"
        )
    return found


# pip's options that take a value (the value is skipped), and those that do
# not matter when nothing is downloaded.
_VALUE_OPTS = {
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host",
    "--upgrade-strategy", "--progress-bar", "--only-binary", "--no-binary", "-c",
    "--constraint", "--platform", "--python-version", "--implementation", "--abi",
    "--root", "--prefix", "-t", "--target", "--src", "--log", "--proxy", "--retries",
    "--timeout", "--cache-dir", "--report", "--root-user-action", "--format",
}


def _requirements_file(path: str) -> Iterator[str]:
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise PackageError(f"cannot read requirements file {path}: {e.strerror or e}") from None
    for line in lines:
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            yield from _requirements_file(os.path.join(os.path.dirname(path), line.split(None, 1)[1]))
        elif not line.startswith("-"):
            yield line


def _install(args: list[str]) -> str:
    quiet = 0
    reqs: list[str] = []
    it = iter(args)
    for a in it:
        if a in ("-r", "--requirement"):
            reqs.extend(_requirements_file(next(it, "")))
        elif a.startswith("--requirement="):
            reqs.extend(_requirements_file(a.split("=", 1)[1]))
        elif a in ("-e", "--editable"):
            raise PackageError("cannot install in editable mode: the sandbox cannot build packages")
        elif a in _VALUE_OPTS:
            next(it, None)
        elif a == "--quiet" or re.fullmatch(r"-q+", a):
            quiet += 1 if a == "--quiet" else len(a) - 1
        elif a.startswith("-"):
            continue
        else:
            reqs.append(a)
    if not reqs:
        raise PackageError("You must give at least one requirement to install (see `pip help install`)")
    found = satisfy(reqs)
    if quiet:
        return ""
    return "".join(
        f"Requirement already satisfied: {req.text} in {_location(dist)} ({dist.version})\n" for req, dist in found
    )


def _list(args: list[str]) -> str:
    rows = [(d.metadata["Name"], d.version) for d in installed()]
    if "--format=freeze" in args or ("--format" in args and "freeze" in args):
        return "".join(f"{n}=={v}\n" for n, v in rows)
    w1 = max([len("Package")] + [len(n) for n, _ in rows])
    w2 = max([len("Version")] + [len(v) for _, v in rows])
    lines = [f"{'Package':<{w1}} {'Version':<{w2}}".rstrip(), f"{'-' * w1} {'-' * w2}"]
    lines += [f"{n:<{w1}} {v}" for n, v in rows]
    return "\n".join(lines) + "\n"


def _show(args: list[str]) -> tuple[str, str]:
    out, missing = [], []
    for name in (a for a in args if not a.startswith("-")):
        dist = find(name)
        if dist is None:
            missing.append(name)
            continue
        meta = dist.metadata
        requires = sorted({re.split(r"[\s;\[<>=!~(]", r, maxsplit=1)[0] for r in dist.requires or [] if "extra ==" not in r})
        out.append(
            "\n".join(
                [
                    f"Name: {meta['Name']}",
                    f"Version: {dist.version}",
                    f"Summary: {meta['Summary'] or ''}",
                    f"Home-page: {meta['Home-page'] or ''}",
                    f"Author: {meta['Author'] or ''}",
                    f"Author-email: {meta['Author-email'] or ''}",
                    f"License: {meta['License'] or ''}",
                    f"Location: {_location(dist)}",
                    f"Requires: {', '.join(requires)}",
                ]
            )
        )
    err = f"WARNING: Package(s) not found: {', '.join(missing)}\n" if missing else ""
    return ("\n---\n".join(out) + "\n" if out else ""), err


def pip(args: list[str]) -> tuple[str, str]:
    """Run a pip command line (without `pip`) against the preinstalled
    packages: returns (stdout, stderr) text, or raises PackageError."""
    if not args or args[0] in ("help", "-h", "--help"):
        return (
            "In this sandbox pip cannot download packages. It can:\n"
            "  pip install REQ...   succeed when the preinstalled packages satisfy REQ\n"
            "  pip list | freeze    list the preinstalled packages\n"
            "  pip show NAME...     show one's metadata\n",
            "",
        )
    cmd, rest = args[0], args[1:]
    if cmd == "install":
        return _install(rest), ""
    if cmd == "list":
        return _list(rest), ""
    if cmd == "freeze":
        return _list(["--format=freeze"]), ""
    if cmd == "show":
        return _show(rest)
    if cmd in ("uninstall", "download", "wheel"):
        raise PackageError(f"pip {cmd} is not available: the sandbox's packages are read-only and it cannot reach PyPI")
    raise PackageError(f"pip {cmd} is not available in the sandbox (it cannot reach PyPI)")
