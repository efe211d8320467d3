"""Every notebook under notebooks/ runs headless through
`jupyter nbconvert --execute` with the wasmpy kernel; errors fail the test
unless the cell is tagged raises-exception. Then each notebook's outputs are
checked for what it is meant to show."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess

import pytest
from conftest import ARTIFACTS, KERNEL, REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def execute(nb: pathlib.Path) -> dict:
    out_dir = ARTIFACTS / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["jupyter", "nbconvert", "--to", "notebook", "--execute",
         f"--ExecutePreprocessor.kernel_name={KERNEL}", "--ExecutePreprocessor.timeout=120",
         "--output-dir", str(out_dir), str(nb)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, f"nbconvert failed on {nb.name}:\n{proc.stderr[-4000:]}"
    return json.loads((out_dir / nb.name).read_text())


def outputs(nb: dict) -> list[list[dict]]:
    return [c.get("outputs", []) for c in nb["cells"] if c["cell_type"] == "code"]


def text_of(outs: list[dict]) -> str:
    parts = []
    for o in outs:
        if o["output_type"] == "stream":
            parts.append("".join(o["text"]))
        elif "data" in o:
            parts.append("".join(o["data"].get("text/plain", "")))
        elif o["output_type"] == "error":
            parts.append(o["ename"] + ": " + o["evalue"])
    return "".join(parts)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[n.stem for n in NOTEBOOKS])
def test_notebook_runs(nb):
    done = execute(nb)
    for cell in done["cells"]:
        if cell["cell_type"] != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        tagged = "raises-exception" in cell["metadata"].get("tags", [])
        assert bool(errors) == tagged, f"{nb.name}: cell {''.join(cell['source'])[:60]!r}: errors={errors}"


def test_tour_outputs():
    outs = outputs(execute(REPO / "notebooks" / "tour.ipynb"))
    assert "wasi" in text_of(outs[0])
    html = [o for o in outs[1] if "text/html" in o.get("data", {})]
    assert html and 'id="powers"' in "".join(html[0]["data"]["text/html"])
    assert any("text/markdown" in o.get("data", {}) for o in outs[1])
    assert any("application/json" in o.get("data", {}) for o in outs[1])
    png = [o for o in outs[2] if "image/png" in o.get("data", {})]
    assert png, "the PNG made in Python is missing"
    import base64
    assert base64.b64decode(png[0]["data"]["image/png"]).startswith(b"\x89PNG")
    # update_display leaves the final value in the display
    assert "step 3 of 3" in text_of(outs[3]) and "done" in text_of(outs[3])
    assert any("swatch" in "".join(o.get("data", {}).get("text/html", "")) for o in outs[4])
    assert "('grace', 9.75)" in text_of(outs[5]) and "2026-07-14T12:00:00+02:00" in text_of(outs[5])
    sandbox = text_of(outs[6])
    assert "reading /etc/passwd:" in sandbox and "'HOME': '/home/pyodide'" in sandbox
    assert "ZeroDivisionError" in text_of(outs[7])


def test_async_outputs():
    outs = outputs(execute(REPO / "notebooks" / "async.ipynb"))
    assert "slept 0.2" in text_of(outs[0])
    assert text_of(outs[1]) == "[0, 1, 4, 9, 16]"
    assert "task started" in text_of(outs[2])
    assert "ran meanwhile: [0, 1, 2] True" in text_of(outs[3])
    assert text_of(outs[4]) == "[0.01, 0.02, 0.03]"
    assert "asyncio.run works" in text_of(outs[5])


def test_fetch_outputs():
    outs = outputs(execute(REPO / "notebooks" / "fetch.ipynb"))
    assert "200 True" in text_of(outs[0]) and "'answer': 42" in text_of(outs[0])
    assert "héllo from a data: URL" in text_of(outs[1])
    assert text_of(outs[2]).startswith("PermissionError")
    assert text_of(outs[3]).startswith("ConnectionError") and "denied" in text_of(outs[3])


def test_sandbox_outputs():
    outs = outputs(execute(REPO / "notebooks" / "sandbox.ipynb"))
    attempts = text_of(outs[0])
    assert "ALLOWED" not in attempts, attempts
    assert attempts.count("refused") == 8
    assert "SandboxUnsupportedError" in text_of(outs[1])
    assert "notes.txt" in text_of(outs[2])
    assert "MemoryError" in text_of(outs[3])


def test_ffi_outputs():
    outs = outputs(execute(REPO / "notebooks" / "ffi.ipynb"))
    assert text_of(outs[0]) == "hello from the JavaScript console\nJsProxy 2026 True\n"
    assert '"big":"1152921504606846976n"' in text_of(outs[1]) and "Uint8Array" in text_of(outs[1])
    assert "['HI!', 'THERE!']" in text_of(outs[2])
    assert "RangeError - out of range" in text_of(outs[3])
    assert "resolved after 50 ms" in text_of(outs[4])
    assert "'from': 'js.fetch'" in text_of(outs[5])


def test_input_interrupt_outputs():
    outs = outputs(execute(REPO / "notebooks" / "input-interrupt.ipynb"))
    assert text_of(outs[0]).startswith("StdinNotImplementedError")
    assert text_of(outs[1]) == "hello, batch run\n"
    assert "cleaned up" in text_of(outs[2])


def test_widgets_outputs():
    nb = execute(REPO / "notebooks" / "widgets.ipynb")
    outs = outputs(nb)
    views = [o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
             for cell in outs for o in cell if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    state = nb["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert all(v in state for v in views) and len(views) >= 4
    models = {(m["model_name"], m["state"].get("description")): m["state"] for m in state.values()}
    assert models["IntSliderModel", "n"]["value"] == 8
    assert models["IntSliderModel", "x"]["value"] == 4  # interact's
    assert "changes: [(3, 8)]" in text_of(outs[1])
    assert models["TextModel", ""]["value"] == "hello" and models["CheckboxModel", "on"]["value"] is True
    captured = [o for m in state.values() if m["model_name"] == "OutputModel"
                for o in m["state"]["outputs"] if o["output_type"] == "stream"]
    assert [o["text"] for o in captured] == ["captured by the Output widget\n"]
    # interact shows its result in its own Output widget.
    assert any(o.get("data", {}).get("text/plain") == "16" for m in state.values()
               if m["model_name"] == "OutputModel" for o in m["state"]["outputs"])


def test_packages_outputs():
    """Requests for preinstalled packages succeed (%pip, micropip); others fail."""
    outs = outputs(execute(REPO / "notebooks" / "packages.ipynb"))
    assert "Requirement already satisfied: ipywidgets in " in text_of(outs[0])
    assert "Requirement already satisfied: traitlets>=5 in " in text_of(outs[0])
    assert text_of(outs[1]) == ""
    assert text_of(outs[2]).startswith("ipywidgets 8.")
    assert "Name: comm\nVersion: " in text_of(outs[3])
    libs = text_of(outs[4])
    assert re.search(r"wasmpy +3\.13", libs) and "2026-11-26 09:00:00+00:00" in libs, libs
    assert "Hello soup\nTrue\n" in libs, libs
    assert "499500" in text_of(outs[5])  # tqdm (its bar is an ipywidget here)
    assert "SandboxUnsupportedError: %pip: cannot install numpy (not preinstalled)" in text_of(outs[6])
