"""PyTorch reference for tests/torch/test_torch_conv.c (float64 autograd).

For case i (params["ncases"] cases) the inputs are named c<i>_<tensor> and the parameters
c<i>_<param>; params c<i>_kind selects what is computed:
  0  conv:        y = conv2d(x, w, b, stride, pad, groups)                     -> y, dx, dw, db
  1  WN + mask:   w = exp(g)·(v⊙m)/(‖v⊙m‖ + 1e-5) (NVAE.md §1.1, §1.7), then
                  y = conv2d(x, w⊙m, b, stride, pad, groups)                   -> y, dx, dv, dg, db
  2  factorized reduce: four 1x1 stride-2 convs on x, x[:, :, 1:, 1:], x[:, :, :, 1:], x[:, :, 1:, :]
                  (weights w0..w3, biases b0..b3), concatenated on channels    -> y, dx, dw<k>, db<k>
Every case backpropagates the given dy.
"""
import torch
import torch.nn.functional as F

import bridge


def conv_case(t, p, pre):
    x = t[pre + "x"].requires_grad_()
    w = t[pre + "w"].requires_grad_()
    b = t[pre + "b"].requires_grad_() if pre + "b" in t else None
    y = F.conv2d(x, w, b, int(p[pre + "stride"]), int(p[pre + "pad"]), 1, int(p[pre + "groups"]))
    y.backward(t[pre + "dy"])
    out = {"y": y, "dx": x.grad, "dw": w.grad}
    if b is not None:
        out["db"] = b.grad
    return out


def wn_masked_case(t, p, pre):
    x = t[pre + "x"].requires_grad_()
    v = t[pre + "v"].requires_grad_()
    g = t[pre + "g"].requires_grad_()
    m = t[pre + "mask"]
    b = t[pre + "b"].requires_grad_() if pre + "b" in t else None
    u = v * m
    norm = torch.sqrt(torch.sum(u * u, dim=[1, 2, 3], keepdim=True))
    w = torch.exp(g).view(-1, 1, 1, 1) * u / (norm + 1e-5)
    y = F.conv2d(x, w * m, b, int(p[pre + "stride"]), int(p[pre + "pad"]), 1,
                 int(p[pre + "groups"]))
    y.backward(t[pre + "dy"])
    out = {"y": y, "dx": x.grad, "dv": v.grad, "dg": g.grad}
    if b is not None:
        out["db"] = b.grad
    return out


def factorized_reduce_case(t, p, pre):
    x = t[pre + "x"].requires_grad_()
    ws = [t[pre + "w%d" % k].requires_grad_() for k in range(4)]
    bs = [t[pre + "b%d" % k].requires_grad_() for k in range(4)]
    views = [x, x[:, :, 1:, 1:], x[:, :, :, 1:], x[:, :, 1:, :]]
    y = torch.cat([F.conv2d(a, w, b, 2) for a, w, b in zip(views, ws, bs)], dim=1)
    y.backward(t[pre + "dy"])
    out = {"y": y, "dx": x.grad}
    for k in range(4):
        out["dw%d" % k] = ws[k].grad
        out["db%d" % k] = bs[k].grad
    return out


def main():
    t, p = bridge.load()
    kinds = {0: conv_case, 1: wn_masked_case, 2: factorized_reduce_case}
    out = {}
    for i in range(int(p["ncases"])):
        pre = "c%d_" % i
        for k, v in kinds[int(p[pre + "kind"])](t, p, pre).items():
            out[pre + k] = v
    bridge.save(out)


if __name__ == "__main__":
    main()
