// Lets Node.js run a plugin's code outside a component, for unit tests:
//
//   node --import ./sdk/test-host.mjs --test dist/app.test.js
//
// The SDK imports the contract's log interface (quarry:plugin/log@0.2.0), which only the
// host provides; this module hooks Node's module loader to answer that import with a
// stand-in that writes each log line to stderr.
import { register } from "node:module";
import { isMainThread } from "node:worker_threads";

const LOG = "quarry:plugin/log@0.2.0";
const STAND_IN = "export function write(level, message) { console.error(`${level}: ${message}`); }";

// Node loads the hooks below in a thread of their own, from this same module.
if (isMainThread) register(import.meta.url);

export async function resolve(specifier, context, next) {
  return specifier === LOG ? { url: LOG, shortCircuit: true } : next(specifier, context);
}

export async function load(url, context, next) {
  return url === LOG ? { format: "module", source: STAND_IN, shortCircuit: true } : next(url, context);
}
