// The engine throughput passes (throughput.ts) in a worker thread, started by the bench
// (run.ts): a V8 heap that holds only the sample and its baseline. In the bench's own thread
// the passes ran beside the generated tenant (hundreds of MB at L), whose collections fell
// on whichever pass allocated more, and the ratios moved by more than their targets' margins
// between runs of the same code.
import { parentPort, workerData } from "node:worker_threads";
import { throughput, type Baselines, type SampleLine } from "./throughput.js";

const { lines, baselines } = workerData as { lines: SampleLine[]; baselines: Baselines };
parentPort!.postMessage(throughput(lines, baselines));
