#!/usr/bin/env node
// Loads a Functions app directory the way the Azure Functions Node.js worker does, and
// prints what it registered as JSON on stdout. Used by test/infra/bundle.test.ts and by
// scripts/coldstart.mjs.
//
//   node scripts/functions-host-harness.mjs <app-dir> [entry]
//
// [entry] replaces package.json "main" (the cold-start benchmark loads the unbundled tsc
// output of the same app with it).
//
// What the worker does (azure-functions-nodejs-worker: setupCoreModule.ts, startApp.ts,
// loadScriptFile.ts): it patches Module.prototype.require so that
// require("@azure/functions-core") returns its core API, reads "main" from the app's
// package.json, and import()s it when it is an ES module (.mjs, or "type": "module"),
// require()s it otherwise. @azure/functions then calls coreApi.setProgrammingModel() and
// coreApi.registerFunction(metadata, callback) for every app.timer/app.http/... call.
// This harness provides the same core API, recording instead of serving.
import { readFile } from "node:fs/promises";
import Module, { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";

class Disposable {
  #onDispose;
  constructor(onDispose) {
    this.#onDispose = onDispose;
  }
  dispose() {
    this.#onDispose?.();
    this.#onDispose = undefined;
  }
}

const registered = [];
const hooks = [];
let programmingModel;

const coreApi = {
  version: "harness",
  hostVersion: "4.0.0-harness",
  registerHook: (hookName, callback) => {
    hooks.push(hookName);
    return new Disposable(() => hooks.splice(hooks.indexOf(hookName), 1));
  },
  setProgrammingModel: (model) => {
    programmingModel = model;
  },
  getProgrammingModel: () => programmingModel,
  registerFunction: (metadata, callback) => {
    if (typeof callback !== "function") throw new Error(`function "${metadata.name}" registered without a callback`);
    if (registered.some((f) => f.name === metadata.name)) throw new Error(`function "${metadata.name}" registered twice`);
    registered.push(metadata);
    return new Disposable(() => registered.splice(registered.indexOf(metadata), 1));
  },
  log: () => undefined,
  Disposable,
};

Module.prototype.require = new Proxy(Module.prototype.require, {
  apply(target, thisArg, argArray) {
    return argArray[0] === "@azure/functions-core" ? coreApi : Reflect.apply(target, thisArg, argArray);
  },
});

const appDir = resolve(process.argv[2] ?? ".");
const packageJson = JSON.parse(await readFile(join(appDir, "package.json"), "utf8"));
const main = process.argv[3] ?? packageJson.main;
if (typeof main !== "string" || main.length === 0) throw new Error(`${appDir}/package.json has no "main"`);
if (/[*?{[]/.test(main)) throw new Error(`"main" is a glob (${main}); tokenwatch loads one entry file`);
const entry = join(appDir, main);
const isESModule = entry.endsWith(".mjs") || (!entry.endsWith(".cjs") && packageJson.type === "module");

const start = performance.now();
if (isESModule) await import(pathToFileURL(entry).href);
else createRequire(join(appDir, "package.json"))(entry);
const loadMs = performance.now() - start;

process.stdout.write(
  `${JSON.stringify({
    entry: main,
    loadMs,
    programmingModel: programmingModel ? { name: programmingModel.name, version: programmingModel.version } : null,
    hooks,
    functions: registered.map((m) => ({ name: m.name, bindings: m.bindings, retryOptions: m.retryOptions ?? null })),
  })}\n`,
);
