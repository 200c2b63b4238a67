/**
 * recover(…, {control: true}): the intact network retrained with the same budget. Hand-derived check: holding a unit
 * that is dead on every training image at zero changes nothing training can see (a dead ReLU unit passes no gradient,
 * its output is 0 either way, and its incoming weights only matter through that output), so the recovery run and the
 * control must give the same test accuracy at every epoch. And `free`: fresh weights, so a ReLU unit can learn again.
 */
import { describe, expect, it } from "vitest";
import { evaluate } from "../../src/engine/evaluate.js";
import { closeModel, openModel } from "../../src/engine/model.js";
import { record } from "../../src/engine/record.js";
import { buildClassifier } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { decodeModel, encodeModel, metadataValue } from "../../src/onnx/proto.js";
import { recover } from "../../src/models/recover.js";
import { provenance } from "../../src/runs/provenance.js";
import { recoverFiles } from "../../src/runs/recoverFiles.js";
import { fourPixelBlobs, random, randomArray } from "../helpers.js";

describe("recover control", () => {
  it("recover(m, d, {units: [a dead unit], control: true}) equals its control at every epoch", async () => {
    const rand = random(5);
    const w1 = randomArray(6 * 4, rand, 0.8);
    const b1 = randomArray(6, rand, 0.1);
    // fc1:5 is dead: zero weights, bias −1 (pixels are normalised to [−1, 1] with mean 0.5, std 0.5).
    w1.fill(0, 5 * 4, 6 * 4);
    b1[5] = -1;
    const w2 = randomArray(3 * 6, rand, 0.5);
    const b2 = randomArray(3, rand, 0.1);
    const spec = buildClassifier({
      layers: [
        { op: "linear", name: "fc1", weight: w1, shape: [6, 4], bias: b1 },
        { op: "relu" },
        { op: "linear", name: "fc2", weight: w2, shape: [3, 6], bias: b2 },
      ],
      inputShape: [4],
    });
    writeMetadata(spec, { preprocessing: { layout: "flat", mean: [0.5], std: [0.5], imageShape: [1, 1, 4] }, classNames: null });
    const model = await openModel(encodeModel(spec), { name: "dead-unit" });
    // The intact network's mean cross-entropy on the test set, in float64 here (the weights as stored: float32).
    const test = fourPixelBlobs(150, 2);
    let intactLoss = 0;
    for (let s = 0; s < test.n; s++) {
      const x = Array.from({ length: 4 }, (_, p) => (test.images[s * 4 + p] - 0.5) / 0.5);
      const h = Array.from({ length: 6 }, (_, u) => Math.max(0, b1[u] + x.reduce((a, xp, p) => a + w1[u * 4 + p] * xp, 0)));
      const z = Array.from({ length: 3 }, (_, c) => b2[c] + h.reduce((a, hu, u) => a + w2[c * 6 + u] * hu, 0));
      const top = Math.max(...z);
      intactLoss += Math.log(z.reduce((a, zc) => a + Math.exp(zc - top), 0)) + top - z[test.labels[s]];
    }
    intactLoss /= test.n;
    try {
      const result = await recover(model, fourPixelBlobs(300, 1), { site: "fc1", units: [5], test: fourPixelBlobs(150, 2), epochs: 3, control: true, lr: 0.05 });
      expect(result.control).toHaveLength(3);
      expect(result.ablated.accuracy).toBe(result.intact.accuracy);
      // Training moves the network: the control is not simply the intact accuracy repeated.
      expect(result.control!.some((e) => e.accuracy !== result.intact.accuracy)).toBe(true);
      result.epochs.forEach((e, i) => {
        expect(e.accuracy).toBe(result.control![i].accuracy);
        expect(e.perClass).toEqual(result.control![i].perClass);
      });
      const csv = recoverFiles(result, provenance(model, fourPixelBlobs(300, 1))).files.find((f) => f.name === "recovery.csv")! as { header: string[]; rows: unknown[][] };
      // Per-class columns carry the class names (the model has none: the data's), as ablate's CSV does.
      expect(result.classNames).toEqual(["circle", "square", "star"]);
      expect(csv.header).toEqual(["epoch", "trainLoss", "accuracy", "loss", "recovered", "accuracy_circle", "accuracy_square", "accuracy_star", "recovered_circle", "recovered_square", "recovered_star", "controlTrainLoss", "controlAccuracy", "controlLoss", "control_accuracy_circle", "control_accuracy_square", "control_accuracy_star"]);
      // A dead unit held at zero gets no gradient either way: the control trains as the ablated network does, loss for loss.
      expect(csv.rows.map((r) => r[11])).toEqual([null, ...result.epochs.map((e) => e.trainLoss)]);
      expect(csv.rows.map((r) => r[12])).toEqual([result.intact.accuracy, ...result.control!.map((e) => e.accuracy)]);
      expect(csv.rows.map((r) => r.slice(14))).toEqual([result.intact.perClass, ...result.control!.map((e) => e.perClass)]);
      // The test loss: the intact network's as computed above (float32 logits against float64 here), the ablated
      // network's the same (the unit is dead), and the control's equal to the recovery's, epoch for epoch.
      expect(result.intact.loss).toBeCloseTo(intactLoss, 6);
      expect(result.ablated.loss).toBe(result.intact.loss);
      expect(csv.rows.map((r) => r[3])).toEqual([result.ablated.loss, ...result.epochs.map((e) => e.loss)]);
      expect(csv.rows.map((r) => r[13])).toEqual([result.intact.loss, ...result.control!.map((e) => e.loss)]);
      expect(result.epochs.map((e) => e.loss)).toEqual(result.control!.map((e) => e.loss));
      // Training lowers the test loss of these separable blobs.
      expect(result.epochs[2].loss).toBeLessThan(result.intact.loss);
      // The control network is written (control.onnx): evaluated as any model, it scores what the last control epoch says.
      const written = recoverFiles(result, provenance(model, fourPixelBlobs(300, 1))).files.find((f) => f.name === "control.onnx")! as { data: Uint8Array };
      const controlModel = await openModel(written.data, { name: "control" });
      try {
        const scored = await evaluate(controlModel, test);
        expect([scored.accuracy, scored.perClass]).toEqual([result.control![2].accuracy, result.control![2].perClass]);
        expect(scored.loss).toBeCloseTo(result.control![2].loss!, 9);
      } finally {
        await closeModel(controlModel);
      }
      // A dead unit's ablation costs nothing: nothing to recover, undefined at row 0 as at every epoch.
      expect(csv.rows.map((r) => r[4])).toEqual([null, null, null, null]);
      const without = await recover(model, fourPixelBlobs(300, 1), { site: "fc1", units: [5], test: fourPixelBlobs(150, 2), epochs: 1, free: true });
      expect(without.control).toBeNull();
      // Free ReLU units start from fresh weights and learn: they fire again in the saved model (at zero weights they
      // got no gradient, and free equalled held bit for bit).
      const free = await recover(model, fourPixelBlobs(300, 1), { site: "fc1", units: [0, 1], test: fourPixelBlobs(150, 2), epochs: 2, free: true, lr: 0.05 });
      const held = await recover(model, fourPixelBlobs(300, 1), { site: "fc1", units: [0, 1], test: fourPixelBlobs(150, 2), epochs: 2, lr: 0.05 });
      expect(JSON.parse(metadataValue(decodeModel(free.retrained), "lesion.recover")!)).toEqual({ site: "fc1", units: [0, 1], mode: "free", from: model.sha256 });
      const freeModel = await openModel(free.retrained, { name: "free" });
      const heldModel = await openModel(held.retrained, { name: "held" });
      try {
        const data = fourPixelBlobs(150, 2);
        const [freeActivity, heldActivity] = await Promise.all([record(freeModel, data, { sites: ["fc1"] }), record(heldModel, data, { sites: ["fc1"] })]);
        expect([heldActivity.sites[0].max[0], heldActivity.sites[0].max[1]]).toEqual([0, 0]);
        expect(Math.max(freeActivity.sites[0].max[0], freeActivity.sites[0].max[1])).toBeGreaterThan(0);
      } finally {
        await closeModel(freeModel);
        await closeModel(heldModel);
      }
      // Retrained and measured on the same images (the same content loaded twice): said, as train says it.
      expect(result.warnings).toEqual([]);
      const same = await recover(model, fourPixelBlobs(300, 1), { site: "fc1", units: [5], test: fourPixelBlobs(300, 1), epochs: 1 });
      expect(same.warnings).toEqual(["the test data is the training data (blobs:1): recovery is measured on the images the network retrains on; give `test` another set"]);
    } finally {
      await closeModel(model);
    }
  });
});
