// The registry (src/rules/index.ts) is the one list of rules: a rule file that is not in it
// would never run, so every rule file under src/rules must be registered, once.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rules } from "../../src/rules/index.js";
import type { Rule } from "../../src/rules/rule.js";

// The rule framework, the KQL library and the session state a rule can declare (sessions.ts:
// the engine folds sign-ins into it for any rule with a `sessions` hook) beside the rules;
// every other file is a rule.
const FRAMEWORK = new Set(["index.ts", "rule.ts", "kql.ts", "kql-text.ts", "sessions.ts"]);
const dir = join(import.meta.dirname, "../../src/rules");

const isRule = (value: unknown): value is Rule =>
  typeof value === "object" && value !== null && "meta" in value && "evaluate" in value && typeof (value as Rule).evaluate === "function";

describe("rule registry", () => {
  const files = readdirSync(dir).filter((f) => f.endsWith(".ts") && !FRAMEWORK.has(f));

  it("finds the rule files", () => {
    expect(files.length).toBeGreaterThanOrEqual(rules.length);
  });

  it.each(files)("%s defines a rule and the registry lists it", async (file) => {
    const exported = Object.values(await import(join(dir, file))).filter(isRule);
    expect(exported, `${file} exports no rule`).not.toHaveLength(0);
    for (const rule of exported) expect(rules, `${file}: ${rule.meta.name} is not in src/rules/index.ts`).toContain(rule);
  });

  it("lists each rule once, with distinct ids", () => {
    expect(new Set(rules).size).toBe(rules.length);
    expect(new Set(rules.map((r) => r.meta.id)).size).toBe(rules.length);
  });
});
