// The local Log Analytics query API lives in src/bench/query-api.ts, so that `tokenwatch
// bench` drives the production client against the same server the tests use.
export * from "../../src/bench/query-api.js";
export { LocalQueryApi as FakeLogAnalytics } from "../../src/bench/query-api.js";
