#!/usr/bin/python3
"""Self-test of the PyTorch reference NVAE (tests/reference/nvae_ref.py).

    /usr/bin/python3 tests/reference/test_reference.py [-v] [--bench]

Exit 0 when every check passes, 1 otherwise. Checks:
  - state_dict == the official lists for tiny, tiny-nf, mnist, celeba64 (kind, name, shape, order,
    totals), built on the meta device;
  - the weight_normalized aliases share storage (also after .double() and load_state_dict);
  - components: AR-flow masks give a unit-diagonal triangular Jacobian, DMOL (1 and 3 channels)
    normalises, Adamax == torch.optim.Adamax, KL-balancing alphas, LR schedule and beta values of
    NVAE.md, SR power iteration -> largest singular value, BNreg tie gradient, HDF5 round trip
    and noise injection;
  - tiny, tiny-nf (RGB DMOL) and fmnist-small (Bernoulli): forward + backward gives finite losses
    of plausible size, a gradient for every parameter, 20 Adamax steps on one batch lower the
    loss, eval-mode sampling at t = 0.7 gives images in [0,1];
  - --bench: times one training step of fmnist-small at batch 32 with 2 threads.
"""
import argparse
import math
import os
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import check_state_dict  # noqa: E402
import configs  # noqa: E402
import nvae_ref as R  # noqa: E402

VERBOSE = False
FAILURES = []


def log(*a):
    print(*a, flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def run(name, fn):
    t0 = time.time()
    try:
        fn()
        log("PASS %-34s (%.1f s)" % (name, time.time() - t0))
    except Exception:  # noqa: BLE001 - report every failure, keep going
        FAILURES.append(name)
        log("FAIL %s" % name)
        traceback.print_exc()
        sys.stdout.flush()


def input_batch(model, b, gen):
    c, s = model.img_c, model.img_size
    if model.decoder == "bernoulli":
        # 28x28 content padded to 32x32, dynamically binarised (the official MNIST pipeline)
        x = torch.zeros(b, c, s, s)
        k = model.crop
        x[:, :, k:s - k, k:s - k] = torch.rand(b, c, s - 2 * k, s - 2 * k, generator=gen)
        return R.binarize(x, generator=gen)
    return torch.randint(0, 256, (b, c, s, s), generator=gen).float() / 255.0


# ---------------------------------------------------------------------------------------------

def t_state_dicts():
    for name in ("tiny", "tiny-nf", "mnist", "celeba64"):
        ok, msg = check_state_dict.compare(name)
        log("     " + msg)
        check(ok, msg)


def t_alias():
    m = R.NVAE(configs.get_config("tiny"), seed=3)
    for mm in (m, m.double()):
        for _, mod in mm.conv_layers:
            if isinstance(mod, R.PlainConv2d):
                check(mod.weight_normalized is mod.weight, "alias lost")
    m2 = R.NVAE(configs.get_config("tiny"), seed=4).double()
    m2.load_state_dict(m.state_dict())
    for (_, a), (_, b) in zip(m.conv_layers, m2.conv_layers):
        check(torch.equal(a.weight, b.weight), "load_state_dict")
        if isinstance(b, R.PlainConv2d):
            check(b.weight_normalized is b.weight, "alias lost after load")


def t_ar_jacobian():
    torch.manual_seed(0)
    L, H = 4, 4
    gen = torch.Generator().manual_seed(5)
    for mirror in (False, True):
        cell = R.CellAR(L, mirror=mirror).double()
        for mod in cell.modules():
            if isinstance(mod, R._ConvBase):
                mod.reset_parameters(gen)
        with torch.no_grad():      # make mu large enough to see every dependency
            cell.mu.conv_0.log_weight_norm.add_(3.0)
        z = torch.randn(1, L, H, H, dtype=torch.float64)
        J = torch.autograd.functional.jacobian(lambda t: cell(t), z).reshape(L * H * H, -1)
        # order: pixel (raster, reversed for the mirror cell) major, channel minor
        def idx(c, i, j):
            p = i * H + j
            if mirror:
                p = H * H - 1 - p
            return p * L + c
        perm = [0] * (L * H * H)
        for c in range(L):
            for i in range(H):
                for j in range(H):
                    perm[idx(c, i, j)] = c * H * H + i * H + j
        Jp = J[perm][:, perm]
        check(torch.allclose(torch.diagonal(Jp), torch.ones(L * H * H, dtype=torch.float64)),
              "flow Jacobian diagonal != 1")
        upper = torch.triu(Jp, diagonal=1)
        check(float(upper.abs().max()) == 0.0, "flow is not autoregressive (mirror=%s)" % mirror)
        lower = torch.tril(Jp, diagonal=-1)
        check(float(lower.abs().max()) > 1e-6, "flow does not depend on earlier elements")


def t_dmol_normalised():
    gen = torch.Generator().manual_seed(2)
    M = 5
    # 1 channel, 8 bits, PixelCNN++ top-bin threshold: sum over the 256 values == 1
    param = torch.randn(1, 3 * M, 1, 1, generator=gen, dtype=torch.float64)
    param[:, 2 * M:] = param[:, 2 * M:] - 2.0
    x = (torch.arange(256, dtype=torch.float64) / 255.0).view(256, 1, 1, 1)
    d = R.DiscMixLogistic(param.expand(256, -1, -1, -1), M, 8, channels=1, upper=0.999)
    s = float(torch.exp(d.log_prob(x)).sum())
    check(abs(s - 1.0) < 2e-3, "1-channel DMOL sums to %f" % s)
    # the official 0.99 threshold gives value 254 the whole top tail: the sum exceeds 1
    d = R.DiscMixLogistic(param.expand(256, -1, -1, -1), M, 8, channels=1, upper=0.99)
    check(float(torch.exp(d.log_prob(x)).sum()) > 1.0, "0.99 quirk not visible")
    # 3 channels with coupling, 4 bits (16^3 colours)
    param = torch.randn(1, 10 * M, 1, 1, generator=gen, dtype=torch.float64)
    v = torch.arange(16, dtype=torch.float64) / 15.0
    r, g, b = torch.meshgrid(v, v, v, indexing="ij")
    x = torch.stack([r.reshape(-1), g.reshape(-1), b.reshape(-1)], 1).view(-1, 3, 1, 1)
    d = R.DiscMixLogistic(param.expand(x.shape[0], -1, -1, -1), M, 4, channels=3, upper=0.999)
    s = float(torch.exp(d.log_prob(x)).sum())
    check(abs(s - 1.0) < 1e-2, "3-channel DMOL sums to %f" % s)
    for ch, p in ((1, torch.randn(2, 3 * M, 3, 3)), (3, torch.randn(2, 10 * M, 3, 3))):
        d = R.DiscMixLogistic(p, M, 8, channels=ch)
        for img in (d.sample(0.7), d.mean()):
            check(img.shape == (2, ch, 3, 3) and img.min() >= 0 and img.max() <= 1,
                  "DMOL sample range")


def t_adamax():
    gen = torch.Generator().manual_seed(7)
    p1 = [torch.nn.Parameter(torch.randn(5, 3, generator=gen)) for _ in range(3)]
    p2 = [torch.nn.Parameter(p.detach().clone()) for p in p1]
    o1 = R.Adamax(p1, lr=1e-2, eps=1e-3, weight_decay=3e-4)
    o2 = torch.optim.Adamax(p2, lr=1e-2, eps=1e-3, weight_decay=3e-4)
    for _ in range(7):
        gs = [torch.randn(5, 3, generator=gen) * 1e-3 for _ in p1]
        for p, q, g in zip(p1, p2, gs):
            p.grad, q.grad = g.clone(), g.clone()
        o1.step()
        o2.step()
    for p, q in zip(p1, p2):
        check(torch.allclose(p, q, rtol=1e-6, atol=1e-7), "Adamax differs from torch.optim")
    # eps inside the max (u <- max(b2 u, |g| + eps)), not in the denominator: after one
    # gradient of 1 and k zero gradients u = max(b2^k (1 + eps), eps); with eps in the
    # denominator it would be b2^k + eps.
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    o = R.Adamax([p], lr=1e-2, eps=1e-3, weight_decay=0.0)
    p.grad = torch.ones(1, dtype=torch.float64)
    o.step()
    p.grad = torch.zeros(1, dtype=torch.float64)
    for _ in range(3000):
        o.step()
    want = max(0.999 ** 3000 * (1 + 1e-3), 1e-3)
    check(abs(float(o.u[0]) - want) < 1e-12, "eps placement: u %g, want %g"
          % (float(o.u[0]), want))


def t_schedules():
    cel = R.NVAE(configs.get_config("celeba64"), device="meta", seed=None)
    a = cel.kl_alpha().tolist()
    check(a == [1.0] * 5 + [2.0] * 10 + [4.0] * 20, "celeba64 alpha %s" % a)
    mn = R.NVAE(configs.get_config("mnist"), device="meta", seed=None)
    check(mn.kl_alpha().tolist() == [1.0] * 5 + [2.0] * 10, "mnist alpha")
    ipe, E = 1271, 90
    want = {1: 2e-3, 4: 8e-3, 5: 9.998e-3, 10: 9.91e-3, 20: 9.24e-3, 30: 7.99e-3, 45: 5.42e-3,
            60: 2.74e-3, 75: 7.6e-4, 85: 1.55e-4, 89: 1e-4}
    for e, lr in want.items():
        got = R.lr_at(e * ipe, ipe, E, 1e-2, 1e-4, 5)
        check(abs(got - lr) <= 0.006 * lr, "lr epoch %d: %g != %g" % (e, got, lr))
    check(R.lr_at(0, ipe, E, 1e-2) == 0.0, "first step lr")
    T = 114390
    check(R.kl_coeff(0, T) == 1e-4, "beta(0)")
    check(abs(R.kl_coeff(int(0.3 * T) + 12, T) - 1.0) < 1e-12, "beta at 30 %")
    check(abs(R.kl_coeff(T // 10, T) - (T // 10 - 1e-4 * T) / (0.3 * T)) < 1e-12, "beta mid")
    check(abs(R.wdn_coeff(0.0, 0.01, 1.0, True) - 1.0) < 1e-12 and
          abs(R.wdn_coeff(1.0, 0.01, 1.0, True) - 0.01) < 1e-12, "lambda anneal")


def t_sr_bn():
    m = R.NVAE(configs.get_config("tiny-nf"), seed=1).double()
    gen = torch.Generator().manual_seed(1)
    m.init_sr_vectors(gen)
    with torch.no_grad():
        m.spectral_reg(num_iter=300)
        vec = m.get_sr_vectors()
        for name, mod in m.conv_layers:
            w = mod.effective_weight().reshape(mod.sr_shape())
            u, v = vec[name]
            est = float(u @ w @ v)
            true = float(torch.linalg.svdvals(w)[0])
            check(abs(est - true) <= 2e-3 * true, "SR %s: %g vs %g" % (name, est, true))
    # gradient of u^T W v with respect to W is u v^T
    mod = m.conv_layers[0][1]
    m.zero_grad()
    sr = m.spectral_reg(num_iter=0)
    sr.backward()
    check(mod.weight.grad is not None and mod.log_weight_norm.grad is not None, "SR grad")
    # BNreg at init: one per layer; ties split the gradient
    m.zero_grad()
    bn = m.bn_reg()
    check(float(bn) == len(m.bn_layers), "BNreg at init")
    bn.backward()
    g = m.bn_layers[0][1].weight.grad
    check(torch.allclose(g, torch.full_like(g, 1.0 / g.numel())), "BNreg tie gradient")


def t_h5_and_noise():
    import h5py
    cfg = configs.get_config("tiny-nf")
    m = R.NVAE(cfg, seed=11)
    m.init_sr_vectors(torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(4)
    x = input_batch(m, 2, gen)
    eps = [torch.randn((2,) + s, generator=gen) for s in m.latent_shapes()]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "w.h5")
        m.save_h5(path, extra={"batch/x": x, **{"noise/group_%d" % k: e
                                                   for k, e in enumerate(eps)}})
        with h5py.File(path, "r") as f:
            check(f["stem.weight"].dtype == np.float32, "float32 datasets")
        m2 = R.NVAE(cfg, seed=99)
        names = m2.load_from_h5(path)
        check(len(names) == sum(1 for k in R.state_dict_kinds(m).values() if k != "A"),
              "loaded count")
        for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
            check(torch.equal(a, b), "round trip " + k)
        for (n, (u, v)), (u2, v2) in zip(m.get_sr_vectors().items(),
                                         m2.get_sr_vectors().values()):
            check(torch.equal(u, u2) and torch.equal(v, v2), "SR vectors " + n)
        x2, eps2, _ = R.load_inputs_h5(path)
    check(torch.equal(x, x2) and all(torch.equal(a, b) for a, b in zip(eps, eps2)), "inputs")
    m.eval()
    m2.eval()
    with torch.no_grad():
        o1, o2 = m(x, eps=eps), m2(x2, eps=eps2)
    for k in ("recon", "kl", "log_q", "log_p"):
        check(torch.equal(o1[k], o2[k]), "injected noise gives different " + k)
    # z of group k is mu + sigma * eps before the flows: eps = 0 gives the posterior mean
    zero = [torch.zeros_like(e) for e in eps]
    with torch.no_grad():
        a, b = m(x, eps=zero), m(x, eps=zero)
    check(torch.equal(a["recon"], b["recon"]), "deterministic with eps")
    # the other decoders run (1-channel DMOL: our extension; Normal decoder)
    for over in ({"decoder": "dmol"}, {"decoder": "normal"}):
        mm = R.NVAE(configs.get_config("fmnist-small", **over), seed=2)
        xx = torch.rand(2, 1, 32, 32, generator=gen)
        oo = mm(xx)
        check(torch.isfinite(oo["recon"]).all(), "decoder %s" % over)
        mm.eval()
        with torch.no_grad():
            img = mm.sample_images(2, 0.7)
        check(img.min() >= 0 and img.max() <= 1, "sample range %s" % over)


def plausible(name, model, o):
    rec, kl = float(o["recon"]), float(o["kl"])
    if model.decoder == "bernoulli":
        lo, hi = 0.3 * model.num_output, 1.5 * model.num_output     # ~ ln 2 per pixel at init
    else:
        lo, hi = 3.0 * model.num_output, 9.0 * model.num_output     # ~ 6 nats per sub-pixel
    check(lo < rec < hi, "%s: recon %g outside (%g, %g)" % (name, rec, lo, hi))
    check(0.0 < kl < rec, "%s: KL %g implausible" % (name, kl))
    check(0.2 * len(model.conv_layers) < float(o["sr"]) < 20 * len(model.conv_layers),
          "%s: SR %g implausible" % (name, float(o["sr"])))
    check(float(o["bnreg"]) == len(model.bn_layers), "%s: BNreg %g" % (name, float(o["bnreg"])))


def t_model(name):
    def fn():
        cfg = configs.get_config(name)
        torch.manual_seed(0)
        m = R.NVAE(cfg, seed=1)
        gen = torch.Generator().manual_seed(1)
        x = input_batch(m, 4, gen)
        eps = [torch.randn((4,) + s, generator=gen) for s in m.latent_shapes()]
        lam = cfg["weight_decay_norm"]
        # SE blocks whose hidden ReLU is dead for the whole batch pass no gradient to their
        # first Linear nor to the second one's weight (as in the official model): record them
        dead = set()

        def se_hook(name):
            def h(mod, inp, out):
                if bool((out <= 0).all()):
                    dead.add(name)
            return h
        hooks = [mod.se[0].register_forward_hook(se_hook(n)) for n, mod in m.named_modules()
                 if isinstance(mod, R.SE)]
        # forward + backward with KL balancing active (beta < 1)
        o, out = R.train_loss(m, x, beta=0.5, lam=lam, eps=eps)
        for h in hooks:
            h.remove()
        for k in ("loss", "recon", "kl", "kl_weighted", "sr", "bnreg", "bpd"):
            check(math.isfinite(float(o[k])), "%s: %s not finite" % (name, k))
        check(o["kl_groups"].shape == (m.n_groups,) and torch.isfinite(o["kl_groups"]).all(),
              "kl per group")
        check(abs(float(o["gamma"].sum()) - m.n_groups) < 1e-4, "sum gamma != N")
        plausible(name, m, o)
        if VERBOSE:
            log("     %s: recon %.1f  kl %.2f  sr %.2f  bnreg %.0f  loss %.1f  bpd %.3f  "
                "kl/group %s" % (name, float(o["recon"]), float(o["kl"]), float(o["sr"]),
                                 float(o["bnreg"]), float(o["loss"]), float(o["bpd"]),
                                 [round(v, 2) for v in o["kl_groups"].tolist()]))
        o["loss"].backward()
        for pn, p in m.named_parameters():
            check(p.grad is not None, "%s: no gradient for %s" % (name, pn))
            check(torch.isfinite(p.grad).all(), "%s: non-finite gradient for %s" % (name, pn))
            if float(p.grad.abs().max()) == 0:
                se = pn.split(".se.se.")[0] + ".se" if ".se.se." in pn else None
                ok = se in dead and pn.split(".se.se.")[1] in ("0.weight", "0.bias", "2.weight")
                check(ok, "%s: zero gradient for %s" % (name, pn))
        if dead and VERBOSE:
            log("     %s: dead SE ReLU (no gradient, as expected) in %s" % (name, sorted(dead)))
        # 20 Adamax steps on the fixed batch and noise lower the loss
        opt = R.Adamax(m.parameters(), lr=2e-3, eps=1e-3, weight_decay=3e-4)
        losses = []
        for _ in range(21):
            opt.zero_grad()
            o, _ = R.train_loss(m, x, beta=1.0, lam=lam, eps=eps)
            losses.append(float(o["loss"]))
            o["loss"].backward()
            opt.step()
        if VERBOSE:
            log("     %s: loss %.1f -> %.1f after 20 Adamax steps" % (name, losses[0],
                                                                      losses[-1]))
        check(all(math.isfinite(v) for v in losses), "non-finite loss in training")
        check(losses[-1] < 0.97 * losses[0], "%s: loss %g -> %g" % (name, losses[0],
                                                                    losses[-1]))
        # eval-mode prior sampling at t = 0.7
        m.eval()
        with torch.no_grad():
            img = m.sample_images(4, t=0.7, generator=gen)
            ev = m(x, eps=eps)
        check(img.shape == (4, m.img_c, m.img_size, m.img_size), "sample shape")
        check(torch.isfinite(img).all() and img.min() >= 0 and img.max() <= 1, "sample range")
        check(torch.isfinite(ev["recon"]).all(), "eval forward")
    return fn


def bench(batch=32, steps=5):
    torch.set_num_threads(2)
    cfg = configs.get_config("fmnist-small")
    m = R.NVAE(cfg, seed=1)
    opt = R.Adamax(m.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    x = input_batch(m, batch, gen)
    t_fb, t_all, cpu = [], [], []
    for i in range(steps + 2):
        c0, t0 = time.process_time(), time.perf_counter()
        opt.zero_grad()
        o, _ = R.train_loss(m, x, beta=0.5, lam=0.01, generator=gen)
        o["loss"].backward()
        t1 = time.perf_counter()
        opt.step()
        t2, c1 = time.perf_counter(), time.process_time()
        if i >= 2:
            t_fb.append(t1 - t0)
            t_all.append(t2 - t0)
            cpu.append(c1 - c0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    log("bench fmnist-small batch %d, 2 threads: forward+loss+backward %.3f s (median), "
        "with Adamax step %.3f s, process CPU %.3f s/step; load average %.2f"
        % (batch, float(np.median(t_fb)), float(np.median(t_all)), float(np.median(cpu)), load))


def main():
    global VERBOSE
    ap = argparse.ArgumentParser()
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--bench", action="store_true", help="only time fmnist-small")
    a = ap.parse_args()
    VERBOSE = a.verbose
    torch.set_num_threads(2)
    if a.bench:
        bench()
        return 0
    run("state_dict vs official lists", t_state_dicts)
    run("weight_normalized aliases", t_alias)
    run("AR flow Jacobian", t_ar_jacobian)
    run("DMOL normalisation", t_dmol_normalised)
    run("Adamax", t_adamax)
    run("alpha, LR, beta, lambda", t_schedules)
    run("SR power iteration, BNreg", t_sr_bn)
    run("HDF5 round trip, noise injection", t_h5_and_noise)
    for name in ("tiny", "tiny-nf", "fmnist-small"):
        run("model " + name, t_model(name))
    if FAILURES:
        log("%d check(s) failed: %s" % (len(FAILURES), ", ".join(FAILURES)))
        return 1
    log("all reference checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
