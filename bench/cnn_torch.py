"""The PyTorch forward-hook loop of bench/cnn.mjs: every filter of every site of the VGG fixture
(test/fixtures/cnn/vgg_bn.onnx) on the bundled CIFAR-10 test subset (1,000 images), as a PyTorch user would run it:
the network as nn.Modules (Conv2d with the exported, BatchNorm-folded weights, ReLU, MaxPool2d, Flatten, Linear), a
forward hook on the site's ReLU that zeroes the filter, one full forward pass per condition in float32, then per-class
counts and the mean cross-entropy. Timed on `sample` conditions per site, extrapolated to the site's filters.

Setup (not part of CI): Debian's PyTorch and ONNX, `apt-get install python3-torch python3-onnx`. Run by the benchmark
as `/usr/bin/python3 bench/cnn_torch.py <vgg_bn.onnx> <test_batch_first1000.bin.gz> <threads> <sample>`; prints JSON.
"""
import gzip
import json
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

path, cifar, threads, sample = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
MEAN, STD = [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]
raw = np.frombuffer(gzip.open(cifar).read(), dtype=np.uint8).reshape(-1, 3073)
labels = torch.tensor(raw[:, 0].astype(np.int64))
x = (torch.tensor(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32)) / 255 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)

# The exported graph is a chain: Conv/Relu/MaxPool/Flatten/Gemm, one module each; a site is a ReLU module, named as
# lesion names it (after the layer behind it).
graph = onnx.load(path).graph
weights = {t.name: torch.tensor(numpy_helper.to_array(t).copy()) for t in graph.initializer}
modules, sites, last_layer = [], {}, None
for node in graph.node:
    a = {at.name: onnx.helper.get_attribute_value(at) for at in node.attribute}
    if node.op_type == "Conv":
        w, b = weights[node.input[1]], weights[node.input[2]]
        m = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], stride=a["strides"], padding=a["pads"][:2])
        m.weight.data, m.bias.data = w, b
        last_layer = node.name.split("/")[-2]
    elif node.op_type == "Gemm":
        w, b = weights[node.input[1]], weights[node.input[2]]
        m = nn.Linear(w.shape[1], w.shape[0])
        m.weight.data, m.bias.data = w, b
        last_layer = node.name.split("/")[-2]
    elif node.op_type == "Relu":
        m = nn.ReLU()
        sites[last_layer] = m
    elif node.op_type == "MaxPool":
        m = nn.MaxPool2d(a["kernel_shape"], a["strides"])
    elif node.op_type == "Flatten":
        m = nn.Flatten()
    else:
        raise SystemExit("op not handled: " + node.op_type)
    modules.append(m)
net = nn.Sequential(*modules).eval()

result = {}
with torch.no_grad():
    net(x)
    for site, module in sites.items():
        state = {"unit": 0}

        def hook(_m, _i, out):
            out = out.clone()
            out[:, state["unit"]] = 0
            return out

        handle = module.register_forward_hook(hook)
        timed = []
        started = time.perf_counter()
        for unit in range(sample):
            state["unit"] = unit
            logits = net(x)
            pred = logits.argmax(1)
            correct = [int(((pred == labels) & (labels == c)).sum()) for c in range(10)]
            timed.append({"unit": unit, "correctPerClass": correct, "loss": float(F.cross_entropy(logits, labels))})
        seconds = time.perf_counter() - started
        handle.remove()
        result[site] = {"timed": sample, "secondsPerCondition": seconds / sample, "units": timed}
print(json.dumps(result))
