// Runs a MicroPython script on the official WebAssembly build (npm
// @micropython/micropython-webassembly-pyscript) under Node.js.
//   node tests/mp/run_wasm.mjs [--mount HOSTDIR:VMDIR]... [--path VMDIR]... SCRIPT [ARG...]
// Each --mount copies a host directory tree into the VM's in-memory filesystem; each --path is
// prepended to sys.path. sys.argv is [SCRIPT, ARG...]. Exit code 0 when the script ran to the
// end (or raised SystemExit(0)), 1 on an uncaught exception or SystemExit(n != 0).
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";

const args = process.argv.slice(2);
const mounts = [];
const paths = [];
let heap = 8 * 1024 * 1024;
while (args.length && args[0].startsWith("--")) {
  const flag = args.shift();
  if (flag === "--mount") mounts.push(args.shift().split(":"));
  else if (flag === "--path") paths.push(args.shift());
  else if (flag === "--heap") heap = Number(args.shift());
  else { console.error(`run_wasm: unknown option ${flag}`); process.exit(2); }
}
if (!args.length) { console.error("run_wasm: no script"); process.exit(2); }
const [script, ...scriptArgs] = args;

let out = "";
const mp = await loadMicroPython({
  heapsize: heap,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

function mkdirs(dir) {
  let cur = "";
  for (const part of dir.split("/").filter(Boolean)) {
    cur += "/" + part;
    try { mp.FS.mkdir(cur); } catch (e) { /* exists */ }
  }
}
function copyTree(hostDir, vmDir) {
  mkdirs(vmDir);
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if (entry.name === "__pycache__" || entry.name.startsWith(".")) continue;
    const h = path.join(hostDir, entry.name);
    const v = vmDir + "/" + entry.name;
    if (entry.isDirectory()) copyTree(h, v);
    else mp.FS.writeFile(v, fs.readFileSync(h));
  }
}
for (const [hostDir, vmDir] of mounts) copyTree(hostDir, vmDir);
const scriptVm = "/__main_script.py";
mp.FS.writeFile(scriptVm, fs.readFileSync(script));

const setup = [
  "import sys",
  ...paths.map((p) => `sys.path.insert(0, ${JSON.stringify(p)})`),
  `sys.argv[:] = ${JSON.stringify([script, ...scriptArgs])}`,
].join("\n");
let code = 0;
try {
  mp.runPython(setup);
  mp.runPython(`
_f = open(${JSON.stringify(scriptVm)})
_src = _f.read()
_f.close()
_g = {"__name__": "__main__"}
exec(compile(_src, ${JSON.stringify(script)}, "exec"), _g)
`);
} catch (e) {
  const text = String(e && e.message ? e.message : e);
  const m = text.match(/SystemExit:?\s*(\d+)?/);
  if (m) code = m[1] ? Number(m[1]) : 0;
  else { process.stderr.write(text + "\n"); code = 1; }
}
process.exit(code);
