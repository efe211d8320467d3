// compute.mjs: runs compute.py in Pyodide under Node and prints its result
// as one line "COMPUTE {json}", as bench/runtime expects.
//
//	node bench/pyodide/compute.mjs COMPUTE_PY REPEAT SCALE
//
// Pyodide comes from this directory's node_modules (npm install --no-package-lock --prefix
// bench/pyodide); nothing is fetched at run time.
import { readFileSync } from "node:fs";
import { loadPyodide } from "pyodide";

const [path, repeat = "3", scale = "1"] = process.argv.slice(2);
if (!path) {
  console.error("usage: node compute.mjs COMPUTE_PY [REPEAT] [SCALE]");
  process.exit(2);
}
const py = await loadPyodide();
py.globals.set("SOURCE", readFileSync(path, "utf8"));
const out = py.runPython(`
import json
ns = {"__name__": "compute"}
exec(compile(SOURCE, "compute.py", "exec"), ns)
json.dumps(ns["run_all"](${Number(repeat)}, ${Number(scale)}))
`);
console.log("COMPUTE " + out);
