"""The naive PyTorch loop of bench/ablation.mjs: the standard sweep of Meyes et al. (every single unit of h0, h1, h2
and every pair of h2 of meyes2019-mlp100x3 on mnist:test) as a plain script would run it: per condition, a full
forward pass over the 10,000 test images with the units' outputs zeroed, then per-class counts and the mean
cross-entropy. Timed on a sample of each group's conditions and extrapolated to the group.

Setup (not part of CI): Debian's PyTorch, `apt-get install python3-torch`. Run by the benchmark as
`/usr/bin/python3 bench/ablation_torch.py <trained.pt> <idx-dir> <threads> <sample>`; prints JSON.
"""
import itertools
import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

checkpoint, root, threads, sample = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)


def idx(path):
    data = open(path, "rb").read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


x = torch.from_numpy(idx(f"{root}/t10k-images-idx3-ubyte").astype(np.float32) / 255).sub(0.5).div(0.5).reshape(-1, 784)
y = torch.from_numpy(idx(f"{root}/t10k-labels-idx1-ubyte").astype(np.int64))
state = torch.load(checkpoint, map_location="cpu")
layers = [(state[f"{name}.weight"], state[f"{name}.bias"]) for name in ["h0", "h1", "h2", "output"]]


def forward(site, units):
    h = x
    for i, (w, b) in enumerate(layers):
        h = F.linear(h, w, b)
        if i < 3:
            h = torch.relu(h)
            if i == site:
                h[:, units] = 0
    return h


groups = {f"h{i} singles": [(i, [u]) for u in range(100)] for i in range(3)}
groups["h2 pairs"] = [(2, list(p)) for p in itertools.combinations(range(100), 2)]
result = {}
with torch.no_grad():
    forward(0, [0])
    for name, conditions in groups.items():
        step = max(1, len(conditions) // sample)
        picked = conditions[::step][:sample]
        start = time.perf_counter()
        for site, units in picked:
            logits = forward(site, units)
            correct = torch.bincount(y[logits.argmax(1) == y], minlength=10)
            loss = F.cross_entropy(logits, y).item()
        seconds = time.perf_counter() - start
        result[name] = {"conditions": len(conditions), "timed": len(picked), "seconds": seconds / len(picked) * len(conditions)}
print(json.dumps(result))
