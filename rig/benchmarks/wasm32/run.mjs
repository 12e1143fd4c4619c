// Run a MicroPython script on the 32-bit WebAssembly port (rig/benchmarks/heap_wasm32.py).
// usage: node run.mjs MICROPYTHON_MJS DIR SCRIPT
// DIR is copied into the port's in-memory filesystem at the same path (it becomes the cwd);
// SCRIPT runs there, in chunks separated by lines `#---`, each its own runPython call: this
// port's collector scans the C stack conservatively, and pointers left there by a call are gone
// only in a later call, so a measurement that must not see garbage runs in a chunk of its own.
// Its output goes to stdout; an uncaught Python exception exits with 1.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [moduleFile, dir, script] = process.argv.slice(2);
const { loadMicroPython } = await import(pathToFileURL(moduleFile).href);
const mp = await loadMicroPython({
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});

function copyInto(from, to) {
  mp.FS.mkdirTree(to);
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.posix.join(to, entry.name);
    if (entry.isDirectory()) copyInto(src, dst);
    else mp.FS.writeFile(dst, fs.readFileSync(src));
  }
}

const root = path.resolve(dir);
copyInto(root, root);
try {
  mp.runPython(`import os\nos.chdir(${JSON.stringify(root)})`);
  for (const chunk of fs.readFileSync(script, "utf8").split(/^#---$/m)) mp.runPython(chunk);
} catch (err) {
  process.stderr.write(String(err) + "\n");
  process.exit(1);
}
