import { describe, expect, it } from "vitest";
import { alignUp, planWindows } from "../../src/model/time.js";

const H = 3_600_000;
const T0 = Date.parse("2026-11-01T00:00:00.000Z");
const t = (hours: number) => T0 + hours * H;

describe("planWindows", () => {
  it("plans consecutive aligned windows after the checkpoint up to `until`", () => {
    expect(planWindows(H, t(10), t(13))).toEqual([
      { start: t(10), end: t(11) },
      { start: t(11), end: t(12) },
      { start: t(12), end: t(13) },
    ]);
  });

  it("includes a window that ends exactly at `until`, never one that ends after it", () => {
    expect(planWindows(H, t(10), t(11))).toEqual([{ start: t(10), end: t(11) }]);
    expect(planWindows(H, t(10), t(11) - 1)).toEqual([]);
    expect(planWindows(H, t(10), t(12.5)).at(-1)).toEqual({ start: t(11), end: t(12) });
  });

  it("aligns to the frequency: an unaligned checkpoint gets a short first window, then aligned ones", () => {
    const windows = planWindows(H, t(10) + 20 * 60_000, t(12));
    expect(windows).toEqual([
      { start: t(10) + 20 * 60_000, end: t(11) },
      { start: t(11), end: t(12) },
    ]);
    for (const w of windows) expect(w.end % H).toBe(0);
  });

  it("aligns windows of other frequencies to their own multiple (5 minutes, 1 day)", () => {
    const m5 = 5 * 60_000;
    expect(planWindows(m5, t(1) + 7 * 60_000, t(1) + 20 * 60_000)).toEqual([
      { start: t(1) + 7 * 60_000, end: t(1) + 10 * 60_000 },
      { start: t(1) + 10 * 60_000, end: t(1) + 15 * 60_000 },
      { start: t(1) + 15 * 60_000, end: t(1) + 20 * 60_000 },
    ]);
    expect(planWindows(24 * H, t(0), t(72))).toHaveLength(3);
  });

  it("windows are contiguous and never overlap: each arrival instant belongs to exactly one", () => {
    const windows = planWindows(H, t(3) + 1234, t(40));
    for (let i = 1; i < windows.length; i++) expect(windows[i]!.start).toBe(windows[i - 1]!.end);
    expect(windows[0]!.start).toBe(t(3) + 1234);
  });

  it("bounds catch-up after downtime by maxWindows, oldest first; the next call resumes where it stopped", () => {
    const first = planWindows(H, t(0), t(48), 5);
    expect(first).toHaveLength(5);
    expect(first[0]).toEqual({ start: t(0), end: t(1) });
    expect(first.at(-1)).toEqual({ start: t(4), end: t(5) });
    const next = planWindows(H, first.at(-1)!.end, t(48), 5);
    expect(next[0]).toEqual({ start: t(5), end: t(6) });
    // Catching up in chunks covers exactly what one unbounded call would.
    const chunks = [];
    for (let checkpoint = t(0); ; ) {
      const ws = planWindows(H, checkpoint, t(48), 7);
      if (ws.length === 0) break;
      chunks.push(...ws);
      checkpoint = ws.at(-1)!.end;
    }
    expect(chunks).toEqual(planWindows(H, t(0), t(48)));
  });

  it("plans nothing when no window is due yet (or maxWindows is 0)", () => {
    expect(planWindows(H, t(10), t(10))).toEqual([]);
    expect(planWindows(H, t(10), t(10) + H - 1)).toEqual([]);
    expect(planWindows(H, t(10), t(9))).toEqual([]);
    expect(planWindows(H, t(10), t(20), 0)).toEqual([]);
  });
});

describe("alignUp", () => {
  it("rounds up to the next multiple and leaves a multiple alone", () => {
    expect(alignUp(t(10), H)).toBe(t(10));
    expect(alignUp(t(10) + 1, H)).toBe(t(11));
  });
});
