#!/usr/bin/python3
"""One training step of the PyTorch reference NVAE on the C side's tensors (test_model_parity).

    parity_step.py CONFIG IN.h5 OUT.h5 BETA LAMBDA KL_BALANCE [STEPS LR WD]

CONFIG is a tests/reference/configs.py name, optionally with overrides: tiny+decoder=normal.

IN.h5 (written by the C test, tests/reference/README.md layout): every parameter and buffer
under its official name, /batch/x, /noise/group_<k> (the ε the C step used, decoder order) and
/sr/<conv>/u|v with /sr@first_call = 1 (so both sides run 40 power iterations).

OUT.h5: /loss/{loss,recon,kl,sr,bnreg,nelbo} scalars, /loss/kl_groups [N], /loss/gamma [N], the
gradient of `loss` under /grad/<parameter name>, the buffers after the step under
/after/<buffer name> (BN running statistics) and the SR vectors after the step under
/sr_after/<conv>/u|v. Everything float64 for the comparison.

With STEPS: afterwards, the optimiser trajectory: the C side's STEPS training steps, each followed
by an Adamax update (lr LR, betas 0.9/0.999, eps 1e-3, coupled weight decay WD), starting again
from the state in IN.h5 with the ε of step s in /steps/<s>/noise/group_<k>; the parameters after
the last update under /adamax/<parameter name>.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import configs  # noqa: E402
import nvae_ref as R  # noqa: E402


def get_config(spec):
    """'tiny' or 'tiny+decoder=normal' (a configs.py name with overrides)."""
    name, *over = spec.split("+")
    kw = dict(o.split("=", 1) for o in over)
    return configs.get_config(name, **kw)


def main():
    name, src, dst = sys.argv[1], sys.argv[2], sys.argv[3]
    beta, lam, balance = float(sys.argv[4]), float(sys.argv[5]), bool(int(sys.argv[6]))
    torch.set_num_threads(2)
    cfg = get_config(name)
    model = R.NVAE(cfg, seed=None)
    model.load_from_h5(src, strict=True)
    x, eps, _ = R.load_inputs_h5(src)
    model.train()
    obj, _ = R.train_loss(model, x, beta, lam, eps=eps, kl_balance=balance)
    obj["loss"].backward()
    kinds = R.state_dict_kinds(model)
    with h5py.File(dst, "w") as f:
        for k in ("loss", "recon", "kl", "sr", "bnreg", "nelbo"):
            f.create_dataset("loss/" + k, data=np.float64(float(obj[k])))
        f.create_dataset("loss/kl_groups", data=obj["kl_groups"].detach().double().numpy())
        f.create_dataset("loss/gamma", data=obj["gamma"].detach().double().numpy())
        for n, p in model.named_parameters():
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            f.create_dataset("grad/" + n, data=g.detach().double().numpy())
        for n, t in model.state_dict().items():
            if kinds[n] == "B" and t.dtype.is_floating_point:
                f.create_dataset("after/" + n, data=t.detach().double().numpy())
        for n, (u, v) in model.get_sr_vectors().items():
            f.create_dataset("sr_after/%s/u" % n, data=u.double().numpy())
            f.create_dataset("sr_after/%s/v" % n, data=v.double().numpy())
    if len(sys.argv) > 7:
        adamax_trajectory(name, src, dst, beta, lam, balance, int(sys.argv[7]),
                          float(sys.argv[8]), float(sys.argv[9]))
    return 0


def adamax_trajectory(name, src, dst, beta, lam, balance, steps, lr, wd):
    cfg = get_config(name)
    model = R.NVAE(cfg, seed=None)
    model.load_from_h5(src, strict=True)
    x, _, _ = R.load_inputs_h5(src)
    model.train()
    opt = R.Adamax(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-3, weight_decay=wd)
    with h5py.File(src, "r") as f:
        eps_steps = [[torch.from_numpy(np.asarray(f["steps/%d/noise/group_%d" % (s, k)]))
                      for k in range(model.n_groups)] for s in range(steps)]
    for s in range(steps):
        opt.zero_grad()
        obj, _ = R.train_loss(model, x, beta, lam, eps=eps_steps[s], kl_balance=balance)
        obj["loss"].backward()
        opt.step()
    with h5py.File(dst, "a") as f:
        for n, p in model.named_parameters():
            f.create_dataset("adamax/" + n, data=p.detach().double().numpy())


if __name__ == "__main__":
    sys.exit(main())
