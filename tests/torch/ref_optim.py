"""PyTorch reference for tests/torch/test_torch_optim.c: torch.optim.Adamax and torch.optim.Adam
(coupled L2 weight decay) run in float64 for `steps` steps.

Inputs: theta [n], grads [steps, n]; parameters lr, beta1, beta2, eps, weight_decay, steps, adam
(1: Adam, 0: Adamax). Outputs: dtheta = theta - theta0 (taken in float64: the float32 output
would round it at the scale of theta), m (exp_avg), s (exp_inf for Adamax, exp_avg_sq for Adam).
"""
import torch

import bridge


def main():
    t, p = bridge.load()
    theta = torch.nn.Parameter(t["theta"].clone())
    kw = dict(lr=p["lr"], betas=(p["beta1"], p["beta2"]), eps=p["eps"],
              weight_decay=p["weight_decay"])
    adam = int(p["adam"]) == 1
    opt = torch.optim.Adam([theta], **kw) if adam else torch.optim.Adamax([theta], **kw)
    for k in range(int(p["steps"])):
        theta.grad = t["grads"][k].clone()
        opt.step()
    state = opt.state[theta]
    bridge.save({"dtheta": theta.detach() - t["theta"], "m": state["exp_avg"],
                 "s": state["exp_avg_sq"] if adam else state["exp_inf"]})


if __name__ == "__main__":
    main()
