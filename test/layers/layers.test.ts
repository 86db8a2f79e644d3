// The layering the README's Design section describes, as .dependency-cruiser.cjs encodes it:
// forbidden imports between folders, no cycles, functions/ importing only the app object.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}

async function cruise(): Promise<Violation[]> {
  const bin = "node_modules/dependency-cruiser/bin/dependency-cruise.mjs";
  const args = [bin, "src", "functions", "--config", ".dependency-cruiser.cjs", "--output-type", "json"];
  const { stdout } = await promisify(execFile)(process.execPath, args, { maxBuffer: 64 * 1024 * 1024 }).catch((error: { stdout?: string }) => {
    // depcruise exits non-zero when it finds violations; the JSON is on stdout all the same.
    if (!error.stdout) throw error;
    return { stdout: error.stdout };
  });
  const summary = (JSON.parse(stdout) as { summary: { violations: Violation[]; totalCruised: number } }).summary;
  // A cruise that read nothing would report no violations: make sure it looked.
  expect(summary.totalCruised).toBeGreaterThan(100);
  return summary.violations;
}

describe("layers", () => {
  it("no import breaks the layering", async () => {
    const violations = await cruise();
    expect(violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`)).toEqual([]);
  }, 120_000);
});
