"""PyTorch reference for tests/torch/test_torch_dmol.c: the discretised mixture of logistics
log-likelihood of NVAE.md §1.8 (3 channels with coupling, and our 1-channel layout), written from
the specification in float64 with autograd for the gradient; and Bernoulli log_prob from
torch.distributions.

Inputs per configuration k: logits{k} [N, Cp, H, W], x{k} [N, C, H, W] in [0, 1], w{k} [N, H, W]
(weights of the loss sum(w * logp)); parameters C{k}, M{k}, bits{k}, edge{k}, and ncfg.
Outputs: logp{k} [N, H, W], dlogits{k} = d sum(w * logp) / d logits. Bernoulli: bl, bx, bw ->
blogp, bdl.
"""
import math

import torch

import bridge


def softplus(v):
    # exact log(1 + e^v) (F.softplus switches to v above 20, a 2e-9 shortcut we do not want here)
    return torch.logaddexp(v, torch.zeros_like(v))


def dmol_log_prob(logits, x, C, M, bits, edge):
    N, P, H, W = logits.shape
    K = 2.0 ** bits - 1.0
    log_pi = torch.log_softmax(logits[:, :M], dim=1)               # [N, M, H, W]
    if C == 3:
        rest = logits[:, M:].reshape(N, 3, 3 * M, H, W)             # colour blocks
        means = rest[:, :, :M]
        log_scales = torch.clamp(rest[:, :, M:2 * M], min=-7.0)
        coeffs = torch.tanh(rest[:, :, 2 * M:3 * M])
    else:
        means = logits[:, M:2 * M].unsqueeze(1)
        log_scales = torch.clamp(logits[:, 2 * M:3 * M], min=-7.0).unsqueeze(1)
    xt = (2.0 * x - 1.0).unsqueeze(2)                               # [N, C, 1, H, W]
    if C == 3:
        mu_r = means[:, 0]
        mu_g = means[:, 1] + coeffs[:, 0] * xt[:, 0]
        mu_b = means[:, 2] + coeffs[:, 1] * xt[:, 0] + coeffs[:, 2] * xt[:, 1]
        mu = torch.stack([mu_r, mu_g, mu_b], dim=1)
    else:
        mu = means
    cen = xt - mu
    inv = torch.exp(-log_scales)
    plus = inv * (cen + 1.0 / K)
    minus = inv * (cen - 1.0 / K)
    mid = inv * cen
    log_cdf_plus = plus - softplus(plus)
    log_one_minus_cdf = -softplus(minus)
    cdf_delta = torch.sigmoid(plus) - torch.sigmoid(minus)
    log_pdf_mid = mid - log_scales - 2.0 * softplus(mid)
    inner = torch.where(cdf_delta > 1e-5, torch.log(torch.clamp(cdf_delta, min=1e-10)),
                        log_pdf_mid - math.log(K / 2.0))
    lp = torch.where(xt < -0.999, log_cdf_plus, torch.where(xt > edge, log_one_minus_cdf, inner))
    return torch.logsumexp(lp.sum(dim=1) + log_pi, dim=1)          # [N, H, W]


def main():
    t, p = bridge.load()
    out = {}
    for k in range(int(p["ncfg"])):
        logits = t[f"logits{k}"].clone().requires_grad_(True)
        logp = dmol_log_prob(logits, t[f"x{k}"], int(p[f"C{k}"]), int(p[f"M{k}"]),
                             int(p[f"bits{k}"]), p[f"edge{k}"])
        (logp * t[f"w{k}"]).sum().backward()
        out[f"logp{k}"] = logp
        out[f"dlogits{k}"] = logits.grad
    bl = t["bl"].clone().requires_grad_(True)
    blogp = torch.distributions.Bernoulli(logits=bl).log_prob(t["bx"]).sum(dim=1)
    (blogp * t["bw"]).sum().backward()
    out["blogp"] = blogp
    out["bdl"] = bl.grad
    bridge.save(out)


if __name__ == "__main__":
    main()
