"""The PyTorch side of bench/training.mjs: one network's epoch, timed, with the same layers and optimizer as lesion's.

Setup (not part of CI): Debian's PyTorch, `apt-get install python3-torch` (CPU, OpenBLAS). Run by the benchmark right
after lesion's epoch of the same network (so both see the same machine load) as
`/usr/bin/python3 bench/training_torch.py <network> <threads> <data>`:
- mlp (SGD, momentum 0.9) and cnn (Adam): one epoch of MNIST (60,000 images, batch 128); <data> is the idx folder;
- vgg_bn (lesion's vgg:small, make_vgg_bn_state.py's VGG with BatchNorm, Adam): the median of three epochs of the
  bundled CIFAR-10 subset (1,000 images, batch 128); <data> is its .bin.gz.
Prints JSON: {"seconds": …}.
"""
import gzip
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

network, threads, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.set_num_threads(threads)


def idx(path):
    data = open(path, "rb").read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def block(i, o):
    return [nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU()]


if network == "vgg_bn":
    raw = np.frombuffer(gzip.open(root).read(), dtype=np.uint8).reshape(-1, 3073)
    y = torch.from_numpy(raw[:, 0].astype(np.int64))
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)
    x = (torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).astype(np.float32)) / 255 - mean) / std
    net = nn.Sequential(*block(3, 16), *block(16, 16), nn.MaxPool2d(2), *block(16, 32), *block(32, 32), nn.MaxPool2d(2), *block(32, 64), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))
    epochs = 3
else:
    x = torch.from_numpy(idx(f"{root}/train-images-idx3-ubyte").astype(np.float32) / 255).sub(0.5).div(0.5).unsqueeze(1)
    y = torch.from_numpy(idx(f"{root}/train-labels-idx1-ubyte").astype(np.int64))
    if network == "mlp":
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))
    else:
        net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
    epochs = 1
opt = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9) if network == "mlp" else torch.optim.Adam(net.parameters(), lr=0.001)
net.train()
times = []
for epoch in range(epochs):
    order = torch.randperm(len(y))
    start = time.perf_counter()
    for b in range(0, len(y), 128):
        i = order[b : b + 128]
        opt.zero_grad()
        F.cross_entropy(net(x[i]), y[i]).backward()
        opt.step()
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds": sorted(times)[len(times) // 2]}))
