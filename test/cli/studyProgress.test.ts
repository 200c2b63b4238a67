/**
 * The study's progress display (issue #18): step n of m, the current bar with ETA, a working sign for a phase without
 * a bar, one permanent line per finished step, and nothing stale after stop. Expected strings are written by hand.
 */
import { describe, expect, it } from "vitest";
import { studyProgress } from "../../src/cli/studyProgress.js";

function fakeStream(isTTY: boolean) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns: 200, write: (t: string) => writes.push(t) } };
}

/** What a terminal shows: carriage return + erase-line rewrite the current line. */
function screen(writes: string[]): string[] {
  const lines = [""];
  for (const w of writes) {
    for (const part of w.split(/(\r\x1b\[2K|\n)/)) {
      if (part === "\r\x1b[2K") lines[lines.length - 1] = "";
      else if (part === "\n") lines.push("");
      else lines[lines.length - 1] += part;
    }
  }
  return lines;
}

describe("studyProgress", () => {
  it("studyProgress on a TTY shows [n/m] step · phase with bar and ETA, a spinner without a bar, and leaves only finished-step lines", () => {
    let t = 0;
    const { writes, stream } = fakeStream(true);
    const p = studyProgress({ stream, now: () => t, tick: 0 });
    p.onStep({ name: "eval", index: 1, total: 3, state: "reused" });
    p.onStep({ name: "singles", index: 2, total: 3, state: "start" });
    p.onProgress({ phase: "ablate", detail: "fc1", done: 0, total: 100 });
    t = 2000;
    p.onProgress({ phase: "ablate", detail: "fc1", done: 25, total: 100 });
    // 25 of 100 in 2 s: 6 s left.
    expect(screen(writes).at(-1)).toBe("[2/3] singles · ablate fc1 [██████░░░░░░░░░░░░░░░░░░] 25% 25/100 ETA 6.0s");
    // Redrawn at most every 100 ms: an event 50 ms later changes nothing on screen.
    t = 2050;
    p.onProgress({ phase: "ablate", detail: "fc1", done: 26, total: 100 });
    expect(screen(writes).at(-1)).toBe("[2/3] singles · ablate fc1 [██████░░░░░░░░░░░░░░░░░░] 25% 25/100 ETA 6.0s");
    t = 4000;
    p.onStep({ name: "singles", index: 2, total: 3, state: "done", seconds: 4 });
    p.onStep({ name: "characterize", index: 3, total: 3, state: "start" });
    p.onProgress({ phase: "stimulus map", done: 0, total: 0 });
    t = 7500;
    p.onProgress({ phase: "stimulus map", done: 0, total: 0 });
    expect(screen(writes).at(-1)).toBe("[3/3] characterize · stimulus map ⠋ 3.5s");
    p.onStep({ name: "characterize", index: 3, total: 3, state: "done", seconds: 3.5 });
    p.stop();
    expect(screen(writes)).toEqual(["· [1/3] eval reused", "✓ [2/3] singles 4.0 s", "✓ [3/3] characterize 3.5 s", ""]);
  });

  it("studyProgress without a TTY writes one line per finished step with its time, and no bars", () => {
    const { writes, stream } = fakeStream(false);
    const p = studyProgress({ stream, now: () => 0, tick: 0 });
    p.onStep({ name: "eval", index: 1, total: 2, state: "start" });
    p.onProgress({ phase: "evaluate", done: 5, total: 10 });
    p.onStep({ name: "eval", index: 1, total: 2, state: "done", seconds: 1.25 });
    p.onStep({ name: "record", index: 2, total: 2, state: "reused" });
    p.stop();
    expect(writes.join("")).toBe("lesion: step 1/2 eval done in 1.3 s\nlesion: step 2/2 record reused\n");
  });

  it("studyProgress without a TTY writes a progress line inside a long step every lineEvery ms (a silent 3.6-minute step looked hung)", () => {
    const { writes, stream } = fakeStream(false);
    let t = 0;
    const p = studyProgress({ stream, now: () => t, tick: 0, lineEvery: 30_000 });
    p.onStep({ name: "singles", index: 3, total: 8, state: "start" });
    for (const [at, done] of [[0, 0], [10_000, 40], [31_000, 120], [45_000, 160], [62_000, 250]]) {
      t = at;
      p.onProgress({ phase: "ablate", detail: "conv2", done, total: 256 });
    }
    p.onStep({ name: "singles", index: 3, total: 8, state: "done", seconds: 62 });
    p.stop();
    expect(writes.join("")).toBe("lesion: step 3/8 singles: ablate conv2 120/256 (46 %)\nlesion: step 3/8 singles: ablate conv2 250/256 (97 %)\nlesion: step 3/8 singles done in 62.0 s\n");
  });
});
