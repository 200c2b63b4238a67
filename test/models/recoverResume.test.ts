/**
 * recover(…, {epochState}): a recovery stopped after any epoch, of the recovery or of its control, and run again
 * resumes from its saved state and ends with what an uninterrupted run gives, bit for bit (the model's bytes, every
 * epoch's loss and accuracy); a state of another recovery is refused, naming what differs.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { closeModel, openModel } from "../../src/engine/model.js";
import { buildClassifier } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { recover, type RecoverOptions } from "../../src/models/recover.js";
import type { Progress } from "../../src/progress.js";
import { fourPixelBlobs, random, randomArray } from "../helpers.js";

function classifier(): Uint8Array {
  const rand = random(11);
  const spec = buildClassifier({
    layers: [
      { op: "linear", name: "fc1", weight: randomArray(6 * 4, rand, 0.8), shape: [6, 4], bias: randomArray(6, rand, 0.1) },
      { op: "relu" },
      { op: "linear", name: "fc2", weight: randomArray(3 * 6, rand, 0.5), shape: [3, 6], bias: randomArray(3, rand, 0.1) },
    ],
    inputShape: [4],
  });
  writeMetadata(spec, { preprocessing: { layout: "flat", mean: [0.5], std: [0.5], imageShape: [1, 1, 4] }, classNames: null });
  return encodeModel(spec);
}

describe("recover epoch state", () => {
  it("a recovery stopped after each epoch of the recovery and of the control resumes to the uninterrupted result", async () => {
    const model = await openModel(classifier(), { name: "m" });
    const dir = mkdtempSync(join(tmpdir(), "lesion-recover-state-"));
    const base = { site: "fc1", units: [1, 4], test: fourPixelBlobs(150, 2), epochs: 2, control: true, lr: 0.05, batchSize: 16 } satisfies RecoverOptions;
    try {
      const whole = await recover(model, fourPixelBlobs(300, 1), base);
      // Stop after the 1st, 2nd (the recovery's last) and 3rd (the control's first) epoch, then run to the end.
      for (const stopAfter of [1, 2, 3]) {
        const epochState = join(dir, `state-${stopAfter}.json`);
        const stop = new AbortController();
        let seen = 0;
        await expect(recover(model, fourPixelBlobs(300, 1), { ...base, epochState, signal: stop.signal, onEpoch: () => ++seen === stopAfter && stop.abort() })).rejects.toMatchObject({ code: "aborted" });
        expect(existsSync(epochState)).toBe(true);
        const events: Progress[] = [];
        const runs: string[] = [];
        const resumed = await recover(model, fourPixelBlobs(300, 1), { ...base, epochState, onProgress: (e) => e.phase === "resume" && events.push(e), onEpoch: (run, e) => runs.push(`${run} ${e.epoch}`) });
        expect(events).toEqual([{ phase: "resume", done: stopAfter, total: 4, detail: epochState }]);
        expect(runs).toEqual(["recovery 1", "recovery 2", "control 1", "control 2"].slice(stopAfter));
        expect(Buffer.from(resumed.retrained).equals(Buffer.from(whole.retrained))).toBe(true);
        const figures = (r: typeof whole) => [r.epochs.map((e) => [e.trainLoss, e.accuracy, e.recovered, e.perClass]), r.control!.map((e) => [e.trainLoss, e.accuracy, e.perClass])];
        expect(figures(resumed)).toEqual(figures(whole));
        // Removed once the run ends.
        expect(existsSync(epochState)).toBe(false);
      }
      // A state of another recovery (other units; another learning rate) is refused, naming what differs.
      const epochState = join(dir, "other.json");
      const stop = new AbortController();
      await expect(recover(model, fourPixelBlobs(300, 1), { ...base, epochState, signal: stop.signal, onEpoch: () => stop.abort() })).rejects.toMatchObject({ code: "aborted" });
      await expect(recover(model, fourPixelBlobs(300, 1), { ...base, units: [1], lr: 0.01, epochState })).rejects.toMatchObject({
        code: "resume-mismatch",
        message: `${epochState} belongs to a different recovery (units [1,4] there, [1] now; lr 0.05 there, 0.01 now); remove it or choose another path`,
      });
      await expect(recover(model, fourPixelBlobs(300, 1), { ...base, epochs: 1, epochState })).resolves.toBeDefined();
      // Two epochs asked for after one of the control was saved, then one: more saved than asked is refused.
      const longer = join(dir, "longer.json");
      const halt = new AbortController();
      let seen = 0;
      await expect(recover(model, fourPixelBlobs(300, 1), { ...base, epochState: longer, signal: halt.signal, onEpoch: () => ++seen === 2 && halt.abort() })).rejects.toMatchObject({ code: "aborted" });
      await expect(recover(model, fourPixelBlobs(300, 1), { ...base, epochs: 1, epochState: longer })).rejects.toMatchObject({ code: "resume-mismatch", message: expect.stringContaining("holds 2 epochs of this recovery, more than the 1 asked for") });
      // Per-class figures are named by the test data, whose classes they are, where the training data's are numbers.
      const numbered = { ...fourPixelBlobs(300, 1), classNames: ["0", "1", "2"] };
      expect((await recover(model, numbered, { ...base, epochs: 1, control: false })).classNames).toEqual(["circle", "square", "star"]);
      // Adam has no momentum: none is recorded (a trial found 0.9 in an Adam run's settings).
      expect((await recover(model, fourPixelBlobs(300, 1), { ...base, epochs: 1, control: false, optimizer: "adam" })).settings).toEqual({ optimizer: "adam", lr: 0.05, momentum: null, batchSize: 16, epochs: 1, seed: 0 });
    } finally {
      await closeModel(model);
    }
  }, 60_000);
});
