// `tokenwatch demo`: the Quick start. Simulates a small tenant with planted attacks,
// replays it through every rule on an in-memory Azurite, and prints incidents per account.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detect } from "./detect.js";
import { parseSimulateArgs, simulate } from "./simulate.js";
import { summary } from "./summary.js";

/** The simulated tenant's size in `demo` (the README says so). */
export const DEMO_DEFAULT_USERS = 300;

export async function demo(values: Record<string, string | boolean | undefined>, log: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "tokenwatch-demo-"));
  try {
    const options = parseSimulateArgs({ users: String(DEMO_DEFAULT_USERS), days: "1", ...values, out: dir });
    const tenant = await simulate(options, log);
    const output = await detect({ logs: dir, from: Date.parse(tenant.from), to: Date.parse(tenant.to), correlations: true, log });
    process.stdout.write(summary(output));
    const found = tenant.planted.filter((p) => output.alerts.some((a) => a.ruleId === p.ruleId && a.account === p.account));
    process.stdout.write(`\nPlanted attacks found: ${found.length} of ${tenant.planted.length}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
