/** `lesion info` names the head it found at the end of the graph (issue #13, case softmax-output-loss). */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { DataType, encodeModel, makeNode, makeTensor, makeValueInfo, onnx } from "../../src/onnx/proto.js";
import { runLesion } from "../lesionCli.js";

const CASE = (name: string) => fileURLToPath(new URL(`../fixtures/cases/${name}`, import.meta.url));

const lesion = (...args: string[]) => runLesion(args);

describe("lesion info", () => {
  it("lesion info softmax_mlp.onnx says the output is softmax probabilities; --json has head 'softmax', and 'log-softmax' / 'logits' for the others", () => {
    const text = lesion("info", CASE("softmax-output-loss/softmax_mlp.onnx"));
    expect(text.status).toBe(0);
    expect(text.stdout.split("\n")).toContain("output softmax probabilities (loss from the logits before the Softmax)");
    const heads = ["softmax-output-loss/softmax_mlp.onnx", "second-output-before-site/two_outputs.onnx", "softmax-output-loss/logits_mlp.onnx"].map(
      (path) => JSON.parse(lesion("info", CASE(path), "--json").stdout).head,
    );
    expect(heads).toEqual(["softmax", "log-softmax", "logits"]);
  });

  it("lesion info names a layer site's layer node, and the node its tensor comes out of where an Identity follows (it had printed 'MatMul out/Identity')", () => {
    // x[N,4] → fc1 (MatMul, Add) → Relu → fc2 (MatMul, Add) → Identity → logits: the site fc2 is the Identity's output.
    const graph = onnx.GraphProto.create({
      name: "g",
      node: [
        makeNode("MatMul", ["x", "W1"], ["m1"], "fc1/MatMul"),
        makeNode("Add", ["m1", "b1"], ["a1"], "fc1/Add"),
        makeNode("Relu", ["a1"], ["r1"], "relu1"),
        makeNode("MatMul", ["r1", "W2"], ["m2"], "fc2/MatMul"),
        makeNode("Add", ["m2", "b2"], ["y"], "fc2/Add"),
        makeNode("Identity", ["y"], ["logits"], "out/Identity"),
      ],
      initializer: [makeTensor("W1", [4, 6], new Float32Array(24).fill(0.1)), makeTensor("b1", [6], new Float32Array(6)), makeTensor("W2", [6, 3], new Float32Array(18).fill(0.2)), makeTensor("b2", [3], new Float32Array(3))],
      input: [makeValueInfo("x", DataType.FLOAT, ["N", 4])],
      output: [makeValueInfo("logits", DataType.FLOAT, ["N", 3])],
    });
    const path = join(mkdtempSync(join(tmpdir(), "lesion-info-")), "identity.onnx");
    writeFileSync(path, encodeModel(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph })));
    const run = lesion("info", path);
    expect(run.status).toBe(0);
    const sites = run.stdout.split("\n").filter((line) => line.startsWith("  "));
    expect(sites.map((line) => line.replace(/\s+/g, " ").trim())).toEqual(["fc1 dense 6 units [6] Relu relu1", "fc2 dense 3 units [3] MatMul fc2/MatMul → out/Identity"]);
    expect(run.stdout).toContain("input x [N, 4], layout flat,");
    const json = JSON.parse(lesion("info", path, "--json").stdout);
    expect(json.sites.map((s: { op: string; node: string; layer: string | null }) => [s.op, s.node, s.layer])).toEqual([["Relu", "relu1", "fc1/MatMul"], ["MatMul", "out/Identity", "fc2/MatMul"]]);
  });

  it("lesion info of an [N, 28, 28] input (a grayscale export without a channel axis) says its layout is hw, not nchw", () => {
    const graph = onnx.GraphProto.create({
      name: "g",
      node: [makeNode("Flatten", ["x"], ["flat"], "/f/Flatten", { axis: 1 }), makeNode("Gemm", ["flat", "W", "b"], ["logits"], "/fc/Gemm", { transB: 1 })],
      initializer: [makeTensor("W", [3, 784], new Float32Array(3 * 784).fill(0.01)), makeTensor("b", [3], new Float32Array(3))],
      input: [makeValueInfo("x", DataType.FLOAT, ["N", 28, 28])],
      output: [makeValueInfo("logits", DataType.FLOAT, ["N", 3])],
    });
    const path = join(mkdtempSync(join(tmpdir(), "lesion-info-")), "hw.onnx");
    writeFileSync(path, encodeModel(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph })));
    const run = lesion("info", path);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("input x [N, 28, 28], layout hw (one channel, no channel axis),");
  });

  it("lesion import of an ONNX lesion cannot study names that file, not the output it never writes (helper trial 'newuser62')", () => {
    const graph = onnx.GraphProto.create({
      name: "g",
      node: [makeNode("Add", ["a", "b"], ["y"], "add")],
      input: [makeValueInfo("a", DataType.FLOAT, ["N", 4]), makeValueInfo("b", DataType.FLOAT, ["N", 4])],
      output: [makeValueInfo("y", DataType.FLOAT, ["N", 4])],
    });
    const dir = mkdtempSync(join(tmpdir(), "lesion-import-"));
    writeFileSync(join(dir, "two_inputs.onnx"), encodeModel(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: "", version: 13 }], graph })));
    const run = runLesion(["import", "two_inputs.onnx", "-o", "out/2in.onnx"], { cwd: dir });
    expect([run.status, run.stderr]).toEqual([1, "lesion: two_inputs.onnx has 2 inputs; lesion studies classifiers with one image input\n"]);
  });

  it("lesion info of an export that records no normalisation says so on its input line; an imported model's line gives its formula alone (helper trial 'newuser45')", () => {
    const raw = fileURLToPath(new URL("../fixtures/cnn/resnet18.onnx", import.meta.url));
    const input = (run: ReturnType<typeof lesion>) => run.stdout.split("\n").find((line) => line.startsWith("input "));
    expect(input(lesion("info", raw))).toBe("input input [N, 3, 32, 32], layout nchw, (x − 0) / 1 (none recorded: the pixels as they are; lesion import records a mean and std), images 3x32x32");
    expect(JSON.parse(lesion("info", raw, "--json").stdout).preprocessingRecorded).toBe(false);
    const imported = fileURLToPath(new URL("../fixtures/meyes2019/meyes2019-mlp20/trained.pt", import.meta.url));
    const out = join(mkdtempSync(join(tmpdir(), "lesion-info-")), "mlp20.onnx");
    expect(lesion("import", imported, "--arch", "mlp", "--activation", "relu", "--mean", "0.5", "--std", "0.5", "-o", out).status).toBe(0);
    expect(input(lesion("info", out))).toBe("input input [N, 784], layout flat, (x − 0.5) / 0.5, images 1x28x28");
  });
});
