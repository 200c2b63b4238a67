"""Full-width ResNet-18 for CIFAR-10 (torchvision's resnet18 structure, 3x3 stem, no max pool, widths 64-128-256-512,
11.2 M parameters, ~45 MB as ONNX), for the memory and time measurements of `lesion study` in bench/study-memory.mjs.
Not committed (too large): this script makes it, with the classes of test/fixtures/cnn/make_cnn_fixtures.py.

Weights: PyTorch's default initialisation (seed 0), then BatchNorm running statistics set from the 1,000 bundled
CIFAR-10 test images (train-mode forward passes, cumulative average, no gradient steps): an untrained network whose
activations are on a sane scale. Exported in eval mode (BN folded by lesion's import like any export), opset 13.

  /usr/bin/python3 bench/make_resnet18_full.py OUT.onnx      (python3-torch, python3-onnx, python3-numpy)
"""
import os, sys
import torch, torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "test", "fixtures", "cnn", "make_cnn_fixtures.py")
source = open(SCRIPT).read()
# Only the definitions (data, classes, export); the fixture script trains and writes its fixtures after them.
namespace = {"__file__": SCRIPT}
exec(compile(source[: source.index("\nvgg = train(")], SCRIPT, "exec"), namespace)

torch.manual_seed(0)
net = namespace["ResNet18"](widths=(64, 128, 256, 512))
for m in net.modules():
    if isinstance(m, nn.BatchNorm2d):
        m.momentum = None  # cumulative average over the calibration batches
net.train()
with torch.no_grad():
    for batch in namespace["x32"].split(100):
        net(batch)
net.eval()
out = sys.argv[1] if len(sys.argv) > 1 else "resnet18_full.onnx"
namespace["export"](net, out)
with torch.no_grad():
    accuracy = (net(namespace["x32"]).argmax(1) == namespace["labels"]).float().mean().item()
print(f"wrote {out}: {sum(p.numel() for p in net.parameters())} parameters, accuracy on the 1,000 images {accuracy:.3f}")
