/** `lesion info` names the head it found at the end of the graph (issue #13, case softmax-output-loss). */
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const BIN = fileURLToPath(new URL("../../bin/lesion.js", import.meta.url));
const CASE = (name: string) => fileURLToPath(new URL(`../fixtures/cases/${name}`, import.meta.url));

function lesion(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, LESION_DEBUG: "" } });
}

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
