"""Print what an executed notebook showed, cell by cell, in a terminal."""

import json
import sys


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        nb = json.load(f)
    errors = 0
    for n, cell in enumerate(nb["cells"], 1):
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"]).strip().splitlines()
        print(f"--- cell {n} [{cell.get('execution_count')}]: {src[0] if src else ''}")
        for out in cell.get("outputs", []):
            kind = out["output_type"]
            if kind == "stream":
                text = "".join(out["text"])
                print(f"  {out['name']}: {text.rstrip()[:300]}")
            elif kind in ("execute_result", "display_data"):
                data = out["data"]
                plain = "".join(data.get("text/plain", ""))
                mimes = ", ".join(sorted(data))
                print(f"  {kind} ({mimes}): {plain[:200]}")
            elif kind == "error":
                errors += 1
                print(f"  error: {out['ename']}: {out['evalue']}")
    print(f"--- {path}: {sum(c['cell_type'] == 'code' for c in nb['cells'])} code cells, {errors} errors shown")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
