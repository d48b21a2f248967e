// Runs bench/mp_firmware_heap.py on the MicroPython WebAssembly build, one phase per
// runPython call: that build frees garbage only between calls, so gc.mem_alloc() after
// gc.collect() is only meaningful at the start of a call.
//   node bench/wasm_heap.mjs FIRMWARE_DIR MP_TESTS_DIR BOARDS_DIR SCRIPT
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import path from "node:path";

const [firmware, mpTests, boards, script] = process.argv.slice(2);
const mp = await loadMicroPython({
  heapsize: 8 * 1024 * 1024,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
function copyTree(hostDir, vmDir) {
  try { mp.FS.mkdir(vmDir); } catch (e) { /* exists */ }
  for (const entry of fs.readdirSync(hostDir, { withFileTypes: true })) {
    if (entry.name === "__pycache__" || entry.name.startsWith(".")) continue;
    const h = path.join(hostDir, entry.name);
    if (entry.isDirectory()) copyTree(h, vmDir + "/" + entry.name);
    else if (entry.name.endsWith(".py")) mp.FS.writeFile(vmDir + "/" + entry.name, fs.readFileSync(h));
  }
}
copyTree(firmware, "/fw");
copyTree(mpTests, "/mp");
copyTree(boards, "/boards");
mp.runPython('import sys\nsys.path.insert(0, "/boards")\nsys.path.insert(0, "/mp")\nsys.path.insert(0, "/fw")');
mp.runPython(fs.readFileSync(script, "utf8").replace('if __name__ == "__main__":', "if False:"));
mp.runPython('measure("base")');
for (const phase of ["imports", "boot", "login"]) {
  mp.runPython(`${phase}()`);
  mp.runPython(`measure("${phase}")`);
}
