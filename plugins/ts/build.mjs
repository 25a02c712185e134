// Runs jco with the arguments given, e.g.
//
//   node build.mjs componentize app.js --wit ../wit/v0.2 --world-name plugin --disable all -o app.wasm
//   node build.mjs guest-types ../wit/v0.2 --world-name plugin -o types
//
// (`--world-name aggregate` for a plugin exported with exportAggregate, which exports `merge`.)
//
// jco 1.35.0 reads the WIT files through a WASI shim (@bytecodealliance/preview2-shim), and
// from 0.26 on the shim starts with no preopened directory: jco then fails with "failed to
// get path metadata: No such file or directory". npm installs several copies of the shim
// (jco's, jco-transpile's, ...), each a module instance of its own, so this opens `/` on
// every copy before jco starts. jco's packages come from ./node_modules, or from the
// node_modules directory named by QUARRY_TS_NODE_MODULES (scripts/ts-plugins.sh keeps
// them under target/).
import { existsSync, readdirSync } from "node:fs";
import { dirname, join, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const modules =
  process.env.QUARRY_TS_NODE_MODULES ?? join(dirname(fileURLToPath(import.meta.url)), "node_modules");
const jco = join(modules, "@bytecodealliance", "jco", "dist", "jco.js");
if (!existsSync(jco)) {
  console.error(`build.mjs: ${jco} is missing; run \`npm install\` first`);
  process.exit(1);
}

/** Every installed copy of the shim under `dir`, a node_modules directory. */
function* shimCopies(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const packages = entry.name.startsWith("@")
      ? readdirSync(join(dir, entry.name)).map((name) => join(dir, entry.name, name))
      : [join(dir, entry.name)];
    for (const pkg of packages) {
      if (pkg.endsWith(`${sep}@bytecodealliance${sep}preview2-shim`)) yield pkg;
      const nested = join(pkg, "node_modules");
      if (existsSync(nested)) yield* shimCopies(nested);
    }
  }
}

for (const shim of shimCopies(modules)) {
  const filesystem = await import(pathToFileURL(join(shim, "dist", "nodejs", "filesystem.js")).href);
  filesystem._setPreopens({ "/": "/" });
}

// jco's command line reads process.argv when its module loads.
process.argv = [process.argv[0], jco, ...process.argv.slice(2)];
await import(pathToFileURL(jco).href);
