// Webhook delivery from the settings: the worker over the shared TableStore, and the call
// made right after detection. The composition root (src/app.ts) passes the console's URL.
import type { Config } from "../config.js";
import { retentionPolicy } from "./retention.js";
import type { TableStore } from "../store/tables.js";
import type { TargetPolicy } from "./targets.js";
import { DeliveryWorker, type WorkerOptions, type WorkerReport } from "./worker.js";

export function targetPolicy(config: Pick<Config, "TOKENWATCH_WEBHOOK_ALLOW_HTTP" | "TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS">): TargetPolicy {
  return { allowHttp: config.TOKENWATCH_WEBHOOK_ALLOW_HTTP, allowPrivate: config.TOKENWATCH_WEBHOOK_ALLOW_PRIVATE_TARGETS };
}

export function createDeliveryWorker(store: TableStore, config: Config, options: Omit<WorkerOptions, "policy"> = {}): DeliveryWorker {
  return new DeliveryWorker(store, { retention: retentionPolicy(config), ...options, policy: targetPolicy(config) });
}

/**
 * Delivers what a detection run just announced. Never throws: the incidents are stored
 * and their outbox rows with them, so a delivery failure here only means the next timer
 * run sends them.
 */
export async function deliverAfterDetection(worker: () => Promise<DeliveryWorker>, log: (line: string) => void = () => {}): Promise<WorkerReport | null> {
  try {
    const report = await (await worker()).run();
    log(JSON.stringify({ event: "webhookDelivery", trigger: "detection", ...report }));
    return report;
  } catch (error) {
    log(JSON.stringify({ event: "webhookDelivery", trigger: "detection", error: error instanceof Error ? error.message : String(error) }));
    return null;
  }
}

export { DeliveryWorker } from "./worker.js";
export type { WorkerReport } from "./worker.js";
