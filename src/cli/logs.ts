// Opening a replay folder for a command that reads logs (detect, backfill): every file not
// read is named, rejected rows are reported a few per file and then counted, and a folder
// that yields nothing to evaluate is an error, never a silent "0 alerts".
import { ReplaySource } from "../sources/replay.js";
import { TABLES } from "../model/rows.js";
import { InputError } from "./usage.js";

/** Rejected rows reported line by line per file; the rest of a file's are one count. */
export const WARNINGS_PER_FILE = 5;

export async function openReplayLogs(dir: string, options: { allowEmpty?: boolean; log: (line: string) => void }): Promise<ReplaySource> {
  const { log } = options;
  const shown = new Map<string, number>();
  const source = await ReplaySource.open(dir, (r) => {
    const file = r.origin.slice(0, r.origin.lastIndexOf(":"));
    const n = (shown.get(file) ?? 0) + 1;
    shown.set(file, n);
    if (n <= WARNINGS_PER_FILE) log(`warning: ${r.origin}: ${r.reason}; row skipped`);
  });
  const { files, unread } = source.load;
  for (const entry of unread) if (!entry.companion) log(`warning: ${dir}: ${entry.name} not read: ${entry.reason}`);
  for (const file of files) {
    if (file.table === null) log(`warning: ${file.name}: not a table tokenwatch reads (${TABLES.join(", ")}); its ${file.rows} rows are counted as rejected`);
    else if (file.rejected > WARNINGS_PER_FILE) log(`warning: ${file.name}: ${file.rejected - WARNINGS_PER_FILE} more rows rejected (${file.rejected} of ${file.rows} in all)`);
  }

  const tableRows = files.filter((f) => f.table !== null).reduce((n, f) => n + f.rows, 0);
  if (tableRows === 0 && !options.allowEmpty) {
    const names = [...files.map((f) => `${f.name} (${f.rows} rows)`), ...unread.map((u) => u.name)];
    const holds = names.length === 0 ? "the folder is empty" : `it holds ${names.slice(0, 5).join(", ")}${names.length > 5 ? ` and ${names.length - 5} more` : ""}`;
    const meant = unread.find((u) => u.reason.includes("did you mean"));
    const hint = meant ? `${meant.name}: ${meant.reason.slice(meant.reason.indexOf("did you mean"))}` : `tokenwatch reads ${TABLES.map((t) => `${t}.ndjson`).join(", ")}`;
    throw new InputError(`no rows read from ${dir}, so nothing was evaluated: ${holds}; ${hint} (--allow-empty runs on an empty export)`);
  }
  const dead = files.filter((f) => f.table !== null && f.rows > 0 && f.rejected === f.rows);
  if (dead.length > 0) {
    const first = source.load.rejected.find((r) => r.origin.startsWith(`${dead[0]!.name}:`));
    throw new InputError(
      `every row of ${dead.map((f) => `${f.name} (${f.rows})`).join(", ")} was rejected, so its table was not evaluated; first: ${first?.origin}: ${first?.reason}`,
    );
  }
  return source;
}
