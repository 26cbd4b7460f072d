"""PyTorch reference for tests/torch/test_torch_norm.c (float64; see bridge.py).

BatchNorm2d (momentum 0.05, eps 1e-5) in training for two calls and in eval, fused BN+Swish as
swish(BatchNorm2d(x)), F.interpolate ×2 (bilinear with align_corners=True, and nearest),
Swish, ELU, and squeeze-excitation built from nn.Linear. Every backward is of sum(out * dy)."""
import bridge
import torch
import torch.nn.functional as F

t, p = bridge.load()
out = {}


def leaf(name):
    return t[name].clone().requires_grad_()


def bn_module(prefix):
    c = t[prefix + "gamma"].numel()
    bn = torch.nn.BatchNorm2d(c, eps=p["eps"], momentum=p["momentum"]).double()
    with torch.no_grad():
        bn.weight.copy_(t[prefix + "gamma"])
        bn.bias.copy_(t[prefix + "beta"])
        bn.running_mean.copy_(t[prefix + "rm"])
        bn.running_var.copy_(t[prefix + "rv"])
    return bn


# BatchNorm2d, training: two forward calls, backward through the second
bn = bn_module("bn_")
bn.train()
out["bn_y1"] = bn(t["bn_x1"])
x2 = leaf("bn_x2")
y2 = bn(x2)
(y2 * t["bn_dy"]).sum().backward()
out.update(bn_y2=y2, bn_rm=bn.running_mean, bn_rv=bn.running_var, bn_dx=x2.grad,
           bn_dgamma=bn.weight.grad, bn_dbeta=bn.bias.grad)

# BatchNorm2d, eval
bn = bn_module("bne_")
bn.eval()
x = leaf("bne_x")
y = bn(x)
(y * t["bne_dy"]).sum().backward()
out.update(bne_y=y, bne_dx=x.grad, bne_dgamma=bn.weight.grad, bne_dbeta=bn.bias.grad)

# fused BN + Swish = swish(BN(x)), training, one call
bn = bn_module("bns_")
bn.train()
x = leaf("bns_x")
z = bn(x)
y = z * torch.sigmoid(z)
(y * t["bns_dy"]).sum().backward()
out.update(bns_y=y, bns_rm=bn.running_mean, bns_rv=bn.running_var, bns_dx=x.grad,
           bns_dgamma=bn.weight.grad, bns_dbeta=bn.bias.grad)

# ×2 upsampling
for name, mode in (("bil", "bilinear"), ("bil1", "bilinear"), ("near", "nearest")):
    x = leaf(name + "_x")
    kw = {"align_corners": True} if mode == "bilinear" else {}
    y = F.interpolate(x, scale_factor=2, mode=mode, **kw)
    (y * t[name + "_dy"]).sum().backward()
    out[name + "_y"] = y
    out[name + "_dx"] = x.grad

# activations
for name, fn in (("swish", lambda v: v * torch.sigmoid(v)), ("elu", F.elu)):
    x = leaf(name + "_x")
    y = fn(x)
    (y * t[name + "_dy"]).sum().backward()
    out[name + "_y"] = y
    out[name + "_dx"] = x.grad

# squeeze-excitation: mean pool -> Linear -> ReLU -> Linear -> sigmoid -> scale
w1, b1, w2, b2 = leaf("se_w1"), leaf("se_b1"), leaf("se_w2"), leaf("se_b2")
x = leaf("se_x")
gate = torch.sigmoid(F.linear(F.relu(F.linear(x.mean(dim=(2, 3)), w1, b1)), w2, b2))
y = x * gate[:, :, None, None]
(y * t["se_dy"]).sum().backward()
out.update(se_y=y, se_dx=x.grad, se_dw1=w1.grad, se_db1=b1.grad, se_dw2=w2.grad, se_db2=b2.grad)

bridge.save(out)
