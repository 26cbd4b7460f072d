"""Python side of tests/torch/torch_bridge.c.

A reference script does:
    import bridge
    t, p = bridge.load()          # dict name -> torch.float64 tensor, dict of scalar parameters
    ... compute with PyTorch ...
    bridge.save({"y": y, "dx": dx})
Inputs arrive as float32 and are promoted to float64 so that the reference itself adds no
float32 rounding; outputs are written back as float32.
"""
import os
import sys

import h5py
import numpy as np
import torch

torch.set_num_threads(1)


def load():
    with h5py.File(sys.argv[1], "r") as f:
        tensors = {k: torch.from_numpy(np.asarray(f[k], dtype=np.float64)) for k in f.keys()}
        params = {k: float(v) for k, v in f.attrs.items()}
    return tensors, params


def save(outputs):
    with h5py.File(sys.argv[2], "w") as f:
        for k, v in outputs.items():
            if isinstance(v, torch.Tensor):
                v = v.detach().cpu().numpy()
            f.create_dataset(k, data=np.asarray(v, dtype=np.float32))
