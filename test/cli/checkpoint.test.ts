/**
 * The bin with a PyTorch checkpoint where a model goes (issue #13, case checkpoint-passed-as-model): one line naming
 * the `lesion import` command, exit 1, nothing written; the import it names gives a model that evaluates to the
 * case's 10.44 % on mnist:test.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { runLesion } from "../lesionCli.js";

const WEIGHTS = fileURLToPath(new URL("../fixtures/cases/checkpoint-passed-as-model/weights.pth", import.meta.url));
let dir = "";

const lesion = (...args: string[]) => runLesion(args, { cwd: dir, cache: join(dir, "cache") });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lesion-ckpt-"));
  mkdirSync(join(dir, "runs"));
  copyFileSync(WEIGHTS, join(dir, "weights.pth"));
  copyFileSync(WEIGHTS, join(dir, "runs", "weights.pth"));
});

describe("lesion (bin) with a PyTorch checkpoint as the model", () => {
  it("lesion info|eval|ablate|record|study weights.pth: one line naming `lesion import`, exit 1, nothing written", () => {
    const runs = [
      lesion("info", "weights.pth"),
      lesion("eval", "weights.pth", "--data", "mnist:test"),
      lesion("ablate", "weights.pth", "--data", "mnist:test", "--site", "fc1", "-o", "out-ablate"),
      lesion("record", "weights.pth", "--data", "mnist:test", "-o", "out-record"),
      lesion("study", "weights.pth", "-o", "out-study"),
    ];
    for (const run of runs) {
      expect(run.status).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr).toBe("lesion: weights.pth is a PyTorch checkpoint; make a model with `lesion import weights.pth --arch … -o model.onnx`\n");
    }
    for (const out of ["out-ablate", "out-record", "out-study"]) expect(existsSync(join(dir, out))).toBe(false);
  });

  it("lesion info runs/weights.pth: the command names the path as given", () => {
    const run = lesion("info", "runs/weights.pth");
    expect(run.status).toBe(1);
    expect(run.stderr).toBe("lesion: runs/weights.pth is a PyTorch checkpoint; make a model with `lesion import runs/weights.pth --arch … -o model.onnx`\n");
  });

  it("lesion import weights.pth --arch mlp -o w.onnx says which dict it took; lesion eval w.onnx gives 10.44 %", () => {
    const imported = lesion("import", "weights.pth", "--arch", "mlp", "-o", "w.onnx");
    expect(imported.status).toBe(0);
    expect(imported.stdout.split("\n")[0]).toBe("read weights.pth: took the top-level dict: 4 tensors");
    const run = lesion("eval", "w.onnx", "--data", "mnist:test", "--json");
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout).accuracy).toBe(0.1044);
  });

  it("lesion import without --mean/--std notes the raw [0, 1] pixels; the same import again is fine, another model at the path needs --overwrite (helper trial 'newuser27')", () => {
    const first = lesion("import", "weights.pth", "--arch", "mlp", "-o", "again.onnx");
    expect(first.stderr).toBe("lesion: note: no --mean/--std: the model gets pixels in [0, 1] as they are; give the normalisation it was trained with (e.g. --mean 0.1307 --std 0.3081 for torchvision's MNIST)\n");
    expect(lesion("import", "weights.pth", "--arch", "mlp", "-o", "again.onnx").status).toBe(0);
    const other = lesion("import", "weights.pth", "--arch", "mlp", "--mean", "0.5", "--std", "0.5", "-o", "again.onnx");
    expect([other.status, other.stderr]).toEqual([1, "lesion: again.onnx exists (another model); use --overwrite to replace it, or choose another -o path\n"]);
    expect(lesion("import", "weights.pth", "--arch", "mlp", "--mean", "0.5", "--std", "0.5", "-o", "again.onnx", "--overwrite").status).toBe(0);
  });

  it("lesion import resnet20.pt --arch resnet (akamaster's CIFAR ResNet, wrapped, 'module.' keys): the export's site names; the note without --mean/--std gives a 3-channel example", () => {
    copyFileSync(fileURLToPath(new URL("../fixtures/resnet/cifar_resnet20a.pt", import.meta.url)), join(dir, "resnet20.pt"));
    const run = lesion("import", "resnet20.pt", "--arch", "resnet", "-o", "resnet20.onnx");
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(
      "read resnet20.pt: took checkpoint['state_dict']: 44 tensors, without the prefix 'module.' every key had; built a ResNet, stem: 3x3 conv1, stride 1, no max pool (arch resnet:maxpool or resnet:nomaxpool to choose the pool)\n" +
        "wrote resnet20.onnx: sites conv1 (16), layer1.0.conv1 (16), layer1.0.conv2 (16), layer1.0 (16), layer2.0.conv1 (32), layer2.0.conv2 (32), layer2.0 (32), layer3.0.conv1 (64), layer3.0.conv2 (64), layer3.0 (64), linear (10); 10 classes\n",
    );
    expect(run.stderr).toBe("lesion: note: no --mean/--std: the model gets pixels in [0, 1] as they are; give the normalisation it was trained with (e.g. --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 for torchvision's ImageNet models)\n");
  });

  it("a ResNet user's slips, one line each (helper trials 'newuser37', 'newuser38'): study without --data, a BatchNorm as the site, train --arch resnet, study --recover without training files", () => {
    const oneLine = (run: { status: number | null; stdout: string; stderr: string }) => {
      expect(run.status).toBe(1);
      expect(run.stderr.trimEnd().split("\n")).toHaveLength(1);
      return run.stderr.trimEnd();
    };
    expect(oneLine(lesion("study", "resnet20.onnx", "-o", "study-default"))).toBe("lesion: model resnet20.onnx takes inputs of shape 3x32x32 (images 3x32x32) but data mnist:test has 1x28x28 images; --data defaults to mnist:test: give the data resnet20.onnx takes (e.g. --data cifar10:test)");
    expect(oneLine(lesion("ablate", "resnet20.onnx", "--data", "cifar10:test", "--site", "layer1.0.bn1", "-o", "ablate-bn"))).toMatch(/^lesion: unknown site 'layer1\.0\.bn1' in resnet20\.onnx; a BatchNorm folded into the conv before it has that conv's site: layer1\.0\.conv1; closest: /);
    expect(oneLine(lesion("train", "--arch", "resnet", "--data", "cifar10:test", "-o", "never.onnx"))).toMatch(/^lesion: `resnet` is read by import only/);
    expect(oneLine(lesion("study", "resnet20.onnx", "--data", "cifar10:test", "--recover", "-o", "study-recover"))).toMatch(/; or give --recover-data \(e\.g\. --recover-data cifar10:test retrains on the studied images, with a warning\)$/);
    for (const out of ["study-default", "ablate-bn", "never.onnx", "study-recover"]) expect(existsSync(join(dir, out))).toBe(false);
  });
});
