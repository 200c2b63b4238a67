"""The PyTorch side of bench/training.mjs: one epoch of the same networks on MNIST, timed; with a third argument, the
VGG-BN network `vgg:small` (make_vgg_bn_state.py's VGG) on the bundled CIFAR-10 subset, the median of three epochs.

Setup (not part of CI): Debian's PyTorch, `apt-get install python3-torch` (CPU, OpenBLAS). Run by the benchmark as
`/usr/bin/python3 bench/training_torch.py <idx-dir> <threads> [<cifar-subset.bin.gz>]`; prints JSON with seconds
per epoch.
"""
import gzip
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2)
root = sys.argv[1]


def idx(path):
    data = open(path, "rb").read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


x = torch.from_numpy(idx(f"{root}/train-images-idx3-ubyte").astype(np.float32) / 255).sub(0.5).div(0.5).unsqueeze(1)
y = torch.from_numpy(idx(f"{root}/train-labels-idx1-ubyte").astype(np.int64))

mlp = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))
cnn = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
result = {}
for name, net, opt in [("mlp", mlp, torch.optim.SGD(mlp.parameters(), lr=0.02, momentum=0.9)), ("cnn", cnn, torch.optim.Adam(cnn.parameters(), lr=0.001))]:
    order = torch.randperm(len(y))
    start = time.perf_counter()
    for b in range(0, len(y), 128):
        i = order[b : b + 128]
        opt.zero_grad()
        F.cross_entropy(net(x[i]), y[i]).backward()
        opt.step()
    result[name] = time.perf_counter() - start

if len(sys.argv) > 3:
    raw = np.frombuffer(gzip.open(sys.argv[3]).read(), dtype=np.uint8).reshape(-1, 3073)
    cy = torch.from_numpy(raw[:, 0].astype(np.int64))
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
    cx = (torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32)) / 255 - mean) / std

    def block(i, o):
        return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]

    vgg = nn.Sequential(*block(3, 16), *block(16, 16), nn.MaxPool2d(2), *block(16, 32), *block(32, 32), nn.MaxPool2d(2), *block(32, 64), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10)).train()
    opt = torch.optim.Adam(vgg.parameters(), lr=0.001)
    epochs = []
    for epoch in range(3):
        order = torch.randperm(len(cy))
        start = time.perf_counter()
        for b in range(0, len(cy), 128):
            i = order[b : b + 128]
            opt.zero_grad()
            F.cross_entropy(vgg(cx[i]), cy[i]).backward()
            opt.step()
        epochs.append(time.perf_counter() - start)
    result["vgg_bn"] = sorted(epochs)[1]
print(json.dumps(result))
