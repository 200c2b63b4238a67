"""The PyTorch side of bench/training.mjs: one epoch of the same networks on MNIST, timed.

Setup (not part of CI): Debian's PyTorch, `apt-get install python3-torch` (CPU, OpenBLAS). Run by the benchmark as
`/usr/bin/python3 bench/training_torch.py <idx-dir>`; prints JSON with seconds per epoch.
"""
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
print(json.dumps(result))
