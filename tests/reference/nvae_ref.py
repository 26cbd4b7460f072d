"""PyTorch reference implementation of NVAE and its training objective.

Written by the nvae-train project from its specification (/work/shared/NVAE.md, which describes
the official NVlabs/NVAE code at commit 9fc1a28); it is the numerical reference for the C trainer
(parity tests) and a baseline for speed comparisons. Module paths reproduce the official
`state_dict` names, order and shapes exactly (tests/data/state_dict/*.txt), so official
checkpoints load with `load_state_dict` and C-side tensors load by name (`load_from_h5`).

Contents (section numbers refer to NVAE.md):
  layers        WN conv, plain conv (+ its `weight_normalized` alias), masked AR conv, BN,
                BN+Swish, SE, FactorizedReduce, up-skip, res_bnswish, MBConv, cells     (§1.1-1.2)
  NVAE          towers, samplers, combiners, flows, forward pass, prior sampling       (§1.3-1.7)
  distributions Normal (soft clamp, sigma = exp + 0.01), DMOL (3 and 1 channel),
                Bernoulli, Normal decoder                                              (§1.8, §2)
  objective     recon, KL per group, warm-up beta, KL balancing, SR, BN reg, lambda     (§3)
  optimisers    Adamax (by hand, §4.1), Adam, warm-up + cosine / step LR (§4.2), grad clipping
  init          §1.9, from a seed
  I/O           load_from_h5 / load_inputs_h5 / save_h5 (file layout: README.md)

Dependencies: the standard library, torch, numpy, h5py (h5py only for the HDF5 helpers).
Everything runs on CPU in float32 or float64 (`model.double()`); no autocast.
"""
import math
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS = 1e-5
BN_MOMENTUM = 0.05
CHANNEL_MULT = 2

MODEL_KEYS = (
    "num_channels_enc", "num_channels_dec", "num_preprocess_blocks", "num_preprocess_cells",
    "num_postprocess_blocks", "num_postprocess_cells", "num_latent_scales",
    "num_groups_per_scale", "ada_groups", "min_groups_per_scale", "num_latent_per_group",
    "num_cell_per_cond_enc", "num_cell_per_cond_dec", "num_nf", "use_se", "res_dist",
    "decoder", "num_mixture_dec", "num_x_bits", "image_channels", "image_size", "crop",
)
TRAIN_KEYS = (
    "name", "weight_decay_norm", "weight_decay_norm_init", "weight_decay_norm_anneal",
    "kl_anneal_portion", "kl_const_portion", "kl_const_coeff", "learning_rate",
    "learning_rate_min", "weight_decay", "warmup_epochs", "epochs", "batch_size",
)


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------

def groups_per_scale(num_scales, num_groups, ada, min_groups=1):
    """Latent groups per scale in ENCODER order (finest first), NVAE.md §1.4."""
    out, n = [], num_groups
    for _ in range(num_scales):
        if n < 1:
            raise ValueError("groups per scale dropped below 1")
        out.append(n)
        if ada:
            n = max(min_groups, n // 2)
    return out


def soft_clamp5(x):
    return 5.0 * torch.tanh(x / 5.0)


def swish(x):
    return x * torch.sigmoid(x)


def quantize_bits(x, num_bits):
    """Bit reduction of an input in [0,1] (NVAE.md §1.8 num_x_bits); identity for 8 bits."""
    if num_bits == 8:
        return x
    return torch.floor(x * 255.0 / 2 ** (8 - num_bits)) / (2 ** num_bits - 1)


def binarize(x, u=None, generator=None):
    """Dynamic binarisation x ~ Bernoulli(x) with the C rule x_bin = (u < x); u ~ U[0,1) is
    drawn here unless given (the C side's Philox uniforms can be injected)."""
    if u is None:
        u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return (u < x).to(x.dtype)


# ---------------------------------------------------------------------------------------------
# Primitive layers (NVAE.md §1.1). Parameters are registered in the official order:
# weight, [bias], log_weight_norm.
# ---------------------------------------------------------------------------------------------

def _uniform_(t, bound, gen):
    with torch.no_grad():
        t.copy_(torch.rand(t.shape, generator=gen, dtype=torch.float64).mul_(2 * bound)
                .sub_(bound).to(t.dtype))


class _ConvBase(nn.Module):
    """Common part of the three conv kinds: F.conv2d with the effective weight. The effective
    weight computed in the last forward is kept in `_w_fwd` so that the spectral regulariser can
    reuse it (as the official code reuses `weight_normalized`)."""

    def _setup(self, cin, cout, k, stride, padding, groups, bias, device):
        self.cin, self.cout, self.k = cin, cout, k
        self.stride, self.padding, self.groups = stride, padding, groups
        self.weight = nn.Parameter(torch.empty(cout, cin // groups, k, k, device=device))
        if bias:
            self.bias = nn.Parameter(torch.empty(cout, device=device))
        else:
            self.register_parameter("bias", None)
        self._w_fwd = None

    @property
    def fan_in(self):
        return (self.cin // self.groups) * self.k * self.k

    def sr_shape(self):
        return (self.cout, (self.cin // self.groups) * self.k * self.k)

    def forward(self, x):
        w = self.effective_weight()
        self._w_fwd = w if torch.is_grad_enabled() else None
        return F.conv2d(x, w, self.bias, self.stride, self.padding, 1, self.groups)

    def _default_init(self, gen):
        bound = 1.0 / math.sqrt(self.fan_in)      # kaiming_uniform(a=sqrt 5) == U(+-1/sqrt fan_in)
        _uniform_(self.weight, bound, gen)
        if self.bias is not None:
            _uniform_(self.bias, bound, gen)


def _wn(log_weight_norm, v):
    """exp(g) * v / (||v|| + 1e-5), the norm over all non-output dims."""
    n = torch.sqrt(torch.sum(v * v, dim=[1, 2, 3])).view(-1, 1, 1, 1)
    return torch.exp(log_weight_norm) * v / (n + 1e-5)


class WNConv2d(_ConvBase):
    """Weight-normalised conv (official `Conv2D` with weight_norm=True)."""

    def __init__(self, cin, cout, k, stride=1, padding=0, groups=1, bias=True, device=None):
        super().__init__()
        self._setup(cin, cout, k, stride, padding, groups, bias, device)
        self.log_weight_norm = nn.Parameter(torch.empty(cout, 1, 1, 1, device=device))

    def effective_weight(self):
        return _wn(self.log_weight_norm, self.weight)

    def reset_parameters(self, gen):
        self._default_init(gen)
        with torch.no_grad():
            n = torch.sqrt(torch.sum(self.weight * self.weight, dim=[1, 2, 3])).view(-1, 1, 1, 1)
            self.log_weight_norm.copy_(torch.log(n + 1e-2))


class PlainConv2d(_ConvBase):
    """Conv without weight norm and bias (inside MBConv). The official code registers the same
    Parameter a second time as `weight_normalized`; we do the same, so `state_dict()` holds both
    names (one storage) while `parameters()` / `named_parameters()` list it once."""

    def __init__(self, cin, cout, k, stride=1, padding=0, groups=1, device=None):
        super().__init__()
        self._setup(cin, cout, k, stride, padding, groups, False, device)
        self.weight_normalized = self.weight     # alias (kind A in the state_dict lists)

    def effective_weight(self):
        return self.weight

    def reset_parameters(self, gen):
        self._default_init(gen)


def _channel_mask(cin, groups, cout, zero_diag):
    """Centre-tap channel mask of an AR conv (NVAE.md §1.7), shape [cout, cin/groups]."""
    if groups == 1:
        cm = torch.ones(cout, cin)
        if cout >= cin:
            r = cout // cin
            for i in range(cin):
                cm[i * r:(i + 1) * r, i + 1:] = 0
                if zero_diag:
                    cm[i * r:(i + 1) * r, i] = 0
        else:
            r = cin // cout
            for i in range(cout):
                cm[i, (i + 1) * r:] = 0
                if zero_diag:
                    cm[i, i * r:(i + 1) * r] = 0
    elif groups == cin:
        cm = torch.full((cout, 1), 0.0 if zero_diag else 1.0)
    else:
        raise ValueError("AR conv: groups must be 1 or cin")
    return cm


def ar_conv_mask(k, cin, groups, cout, zero_diag, mirror):
    """Full kernel mask [cout, cin/groups, k, k]: rows above the centre and the taps left of the
    centre in the centre row are 1, the centre tap is the channel mask, the rest 0; the mirror
    cell flips it in both spatial axes (channel order unchanged)."""
    m = (k - 1) // 2
    mask = torch.zeros(cout, cin // groups, k, k)
    mask[:, :, :m, :] = 1
    mask[:, :, m, :m] = 1
    mask[:, :, m, m] = _channel_mask(cin, groups, cout, zero_diag)
    if mirror:
        mask = torch.flip(mask, dims=[2, 3])
    return mask


class ARConv2d(_ConvBase):
    """Masked, weight-normalised conv of a flow cell (official `ARConv2d`); stride 1. The mask is
    a non-persistent buffer (not in the state_dict, as in the official code)."""

    def __init__(self, cin, cout, k, padding=0, groups=1, bias=False, zero_diag=False,
                 mirror=False, init_scale=1.0, device=None):
        super().__init__()
        self._setup(cin, cout, k, 1, padding, groups, bias, device)
        self.log_weight_norm = nn.Parameter(torch.empty(cout, 1, 1, 1, device=device))
        self.zero_diag, self.mirror, self.init_scale = zero_diag, mirror, init_scale
        mask = ar_conv_mask(k, cin, groups, cout, zero_diag, mirror)
        self.register_buffer("mask", mask.to(device) if device is not None else mask,
                             persistent=False)

    def effective_weight(self):
        return _wn(self.log_weight_norm, self.weight * self.mask)

    def reset_parameters(self, gen):
        self._default_init(gen)
        with torch.no_grad():
            v = self.weight * self.mask
            n = torch.sqrt(torch.sum(v * v, dim=[1, 2, 3])).view(-1, 1, 1, 1)
            self.log_weight_norm.copy_(torch.log(n + 1e-2) + math.log(self.init_scale))


class BatchNorm(nn.BatchNorm2d):
    """BN with the official eps and momentum (PyTorch convention: running = 0.95 running + 0.05
    batch; unbiased variance for the running estimate). Training mode = batch statistics (the
    reference is one process: the whole batch plays the global, synchronised batch)."""

    def __init__(self, c, device=None):
        super().__init__(c, eps=BN_EPS, momentum=BN_MOMENTUM, device=device)


class BNSwish(BatchNorm):
    """Fused BN+Swish of the official code: swish(BN(x)). Numerically the same as BN then swish
    (the official op only saves memory by recomputing BN(x) in backward)."""

    def forward(self, x):
        return swish(super().forward(x))


class BNWrap(nn.Module):
    """The official `SyncBatchNorm` wrapper: the BN lives in `.bn`."""

    def __init__(self, c, device=None):
        super().__init__()
        self.bn = BatchNorm(c, device=device)

    def forward(self, x):
        return self.bn(x)


class SE(nn.Module):
    """Squeeze-excitation: h = max(C // 16, 4); Linear-ReLU-Linear-Sigmoid on the channel mean."""

    def __init__(self, c, device=None):
        super().__init__()
        h = max(c // 16, 4)
        self.se = nn.Sequential(nn.Linear(c, h, device=device), nn.ReLU(),
                                nn.Linear(h, c, device=device), nn.Sigmoid())

    def forward(self, x):
        s = self.se(torch.mean(x, dim=[2, 3]))
        return x * s.view(s.size(0), -1, 1, 1)


class Identity(nn.Module):
    def forward(self, x):
        return x


class NearestUp(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="nearest")


class BilinearUp(nn.Module):
    def forward(self, x):
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


class FactorizedReduce(nn.Module):
    """Skip of a stride-2 cell, C -> Cout: swish, then four 1x1 stride-2 WN convs on the pixel
    phases (0,0), (1,1), (0,1), (1,0), concatenated."""

    def __init__(self, cin, cout, device=None):
        super().__init__()
        q = cout // 4
        self.conv_1 = WNConv2d(cin, q, 1, stride=2, device=device)
        self.conv_2 = WNConv2d(cin, q, 1, stride=2, device=device)
        self.conv_3 = WNConv2d(cin, q, 1, stride=2, device=device)
        self.conv_4 = WNConv2d(cin, cout - 3 * q, 1, stride=2, device=device)

    def forward(self, x):
        a = swish(x)
        return torch.cat([self.conv_1(a), self.conv_2(a[:, :, 1:, 1:]),
                          self.conv_3(a[:, :, :, 1:]), self.conv_4(a[:, :, 1:, :])], dim=1)


class BNSwishConv(nn.Module):
    """Op res_bnswish: BN+Swish on the input, then 3x3 WN conv with bias (stride 1 or 2)."""

    def __init__(self, cin, cout, stride, device=None):
        super().__init__()
        self.bn_act = BNSwish(cin, device=device)
        self.conv_0 = WNConv2d(cin, cout, 3, stride=stride, padding=1, bias=True, device=device)

    def forward(self, x):
        return self.conv_0(self.bn_act(x))


class ConvBNSwish(nn.Module):
    def __init__(self, cin, cout, k, groups=1, device=None):
        super().__init__()
        self.conv = nn.Sequential(PlainConv2d(cin, cout, k, padding=(k - 1) // 2, groups=groups,
                                              device=device),
                                  BNSwish(cout, device=device))

    def forward(self, x):
        return self.conv(x)


class MBConv(nn.Module):
    """Op mconv_e{E}k5g0: [nearest x2] BN - 1x1 - BN+Swish - dw 5x5 - BN+Swish - 1x1 - BN."""

    def __init__(self, cin, cout, ex, upsample, device=None):
        super().__init__()
        hid = int(round(cin * ex))
        layers = [NearestUp()] if upsample else []
        layers += [BNWrap(cin, device=device),
                   ConvBNSwish(cin, hid, 1, device=device),
                   ConvBNSwish(hid, hid, 5, groups=hid, device=device),
                   PlainConv2d(hid, cout, 1, device=device),
                   BNWrap(cout, device=device)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return self.conv(x)


class Cell(nn.Module):
    """out = skip(x) + 0.1 * SE(ops(x)). Cell types of the res_mbconv recipe (NVAE.md §1.2)."""

    def __init__(self, cin, cout, cell_type, use_se, device=None):
        super().__init__()
        self.cell_type = cell_type
        if cell_type.startswith("down"):
            self.skip = FactorizedReduce(cin, cout, device=device)
        elif cell_type.startswith("up"):
            self.skip = nn.Sequential(BilinearUp(), WNConv2d(cin, cout, 1, bias=False,
                                                             device=device))
        else:
            self.skip = Identity()
        self._ops = nn.ModuleList()
        if cell_type in ("normal_pre", "down_pre", "normal_enc", "down_enc"):
            stride = 2 if cell_type.startswith("down") else 1
            self._ops.append(BNSwishConv(cin, cout, stride, device=device))
            self._ops.append(BNSwishConv(cout, cout, 1, device=device))
        elif cell_type in ("normal_dec", "up_dec"):
            self._ops.append(MBConv(cin, cout, 6, cell_type == "up_dec", device=device))
        elif cell_type in ("normal_post", "up_post"):
            self._ops.append(MBConv(cin, cout, 3, cell_type == "up_post", device=device))
        else:
            raise ValueError(cell_type)
        self.use_se = use_se
        if use_se:
            self.se = SE(cout, device=device)

    def forward(self, x):
        skip = self.skip(x)
        s = x
        for op in self._ops:
            s = op(s)
        if self.use_se:
            s = self.se(s)
        return skip + 0.1 * s


class EncCombiner(nn.Module):
    """Encoder combiner slot: e + conv1x1(d); evaluated during the decoder pass."""
    cell_type = "combiner_enc"

    def __init__(self, c_dec, c_enc, device=None):
        super().__init__()
        self.conv = WNConv2d(c_dec, c_enc, 1, bias=True, device=device)

    def forward(self, e, d):
        return e + self.conv(d)


class DecCombiner(nn.Module):
    """Decoder combiner: conv1x1(concat[d, z])."""
    cell_type = "combiner_dec"

    def __init__(self, c, latent, device=None):
        super().__init__()
        self.conv = WNConv2d(c + latent, c, 1, bias=True, device=device)

    def forward(self, d, z):
        return self.conv(torch.cat([d, z], dim=1))


class ARInvertedResidual(nn.Module):
    """Feature net of a flow cell: masked 3x3 L->6L (zero_diag) - ELU - masked dw 5x5 - ELU."""

    def __init__(self, nz, mirror, device=None):
        super().__init__()
        hid = int(round(nz * 6))
        self.hidden_dim = hid
        self.convz = nn.Sequential(
            ARConv2d(nz, hid, 3, padding=1, zero_diag=True, mirror=mirror, device=device),
            nn.ELU(),
            ARConv2d(hid, hid, 5, padding=2, groups=hid, zero_diag=False, mirror=mirror,
                     device=device),
            nn.ELU())

    def forward(self, z):
        return self.convz(z)


class ARELUConv(nn.Module):
    """mu head of a flow cell: ELU then masked 1x1 6L->L with bias, log-scale init x0.1.
    Its input already went through an ELU: the double ELU of the official code (issue #25)."""

    def __init__(self, cin, cout, mirror, device=None):
        super().__init__()
        self.conv_0 = ARConv2d(cin, cout, 1, padding=0, bias=True, zero_diag=False,
                               mirror=mirror, init_scale=0.1, device=device)

    def forward(self, x):
        return self.conv_0(F.elu(x))


class CellAR(nn.Module):
    """Volume-preserving AR shift z <- z - mu_AR(z) (log det 0). The encoder feature is ignored."""

    def __init__(self, nz, mirror, device=None):
        super().__init__()
        self.conv = ARInvertedResidual(nz, mirror, device=device)
        self.mu = ARELUConv(self.conv.hidden_dim, nz, mirror, device=device)

    def forward(self, z):
        return z - self.mu(self.conv(z))


class PairedCellAR(nn.Module):
    def __init__(self, nz, device=None):
        super().__init__()
        self.cell1 = CellAR(nz, mirror=False, device=device)
        self.cell2 = CellAR(nz, mirror=True, device=device)

    def forward(self, z):
        return self.cell2(self.cell1(z))


# ---------------------------------------------------------------------------------------------
# Distributions (NVAE.md §1.8, §2)
# ---------------------------------------------------------------------------------------------

class Normal:
    """mu = 5 tanh(mu_raw/5); sigma = (exp(5 tanh(ls_raw/5)) + 0.01) * t."""

    def __init__(self, mu_raw, ls_raw, temp=1.0):
        self.mu = soft_clamp5(mu_raw)
        self.sigma = torch.exp(soft_clamp5(ls_raw)) + 1e-2
        if temp != 1.0:
            self.sigma = self.sigma * temp

    def sample(self, eps):
        return eps * self.sigma + self.mu

    def log_p(self, z):
        n = (z - self.mu) / self.sigma
        return -0.5 * n * n - 0.5 * math.log(2 * math.pi) - torch.log(self.sigma)

    def kl(self, p):
        t1 = (self.mu - p.mu) / p.sigma
        t2 = self.sigma / p.sigma
        return 0.5 * (t1 * t1 + t2 * t2) - 0.5 - torch.log(t2)


def _uniform_clipped(shape, like, generator=None):
    u = torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)
    return u * (1.0 - 2e-5) + 1e-5


class DiscMixLogistic:
    """Discretised mixture of logistics on x_tilde = 2x - 1 (NVAE.md §1.8).

    3 channels: [M logits | per colour c: M means, M log-scales, M coefficients] (official).
    1 channel (our extension): [M logits | M means | M log-scales], no coefficients.
    `upper` is the top-bin threshold on x_tilde: 0.99 (official quirk) or 0.999 (PixelCNN++).
    """

    def __init__(self, param, num_mix=10, num_bits=8, channels=3, upper=0.99):
        b, c, h, w = param.shape
        m = num_mix
        self.num_mix, self.channels, self.upper = m, channels, upper
        self.max_val = 2.0 ** num_bits - 1
        self.logit_probs = param[:, :m]
        if channels == 3:
            if c != 10 * m:
                raise ValueError("DMOL (3 channels) needs 10*M head channels")
            l = param[:, m:].reshape(b, 3, 3 * m, h, w)
            self.means = l[:, :, :m]
            self.log_scales = torch.clamp(l[:, :, m:2 * m], min=-7.0)
            self.coeffs = torch.tanh(l[:, :, 2 * m:3 * m])
        elif channels == 1:
            if c != 3 * m:
                raise ValueError("DMOL (1 channel) needs 3*M head channels")
            self.means = param[:, m:2 * m].unsqueeze(1)
            self.log_scales = torch.clamp(param[:, 2 * m:3 * m], min=-7.0).unsqueeze(1)
            self.coeffs = None
        else:
            raise ValueError("DMOL supports 1 or 3 channels")

    def log_prob(self, x):
        """log p per pixel, [B, H, W] (colour channels summed inside the mixture)."""
        xt = (2.0 * x - 1.0).unsqueeze(2)                       # B, C, 1, H, W
        if self.channels == 3:
            m0 = self.means[:, 0]
            m1 = self.means[:, 1] + self.coeffs[:, 0] * xt[:, 0]
            m2 = self.means[:, 2] + self.coeffs[:, 1] * xt[:, 0] + self.coeffs[:, 2] * xt[:, 1]
            means = torch.stack([m0, m1, m2], dim=1)            # B, 3, M, H, W
        else:
            means = self.means
        cen = xt - means
        inv = torch.exp(-self.log_scales)
        plus = inv * (cen + 1.0 / self.max_val)
        minus = inv * (cen - 1.0 / self.max_val)
        log_cdf_plus = plus - F.softplus(plus)
        log_one_minus_cdf_min = -F.softplus(minus)
        cdf_delta = torch.sigmoid(plus) - torch.sigmoid(minus)
        mid = inv * cen
        log_pdf_mid = mid - self.log_scales - 2.0 * F.softplus(mid)
        inner = torch.where(cdf_delta > 1e-5, torch.log(torch.clamp(cdf_delta, min=1e-10)),
                            log_pdf_mid - math.log(self.max_val / 2))
        lp = torch.where(xt < -0.999, log_cdf_plus,
                         torch.where(xt > self.upper, log_one_minus_cdf_min, inner))
        lp = torch.sum(lp, dim=1) + F.log_softmax(self.logit_probs, dim=1)   # B, M, H, W
        return torch.logsumexp(lp, dim=1)

    def _couple(self, x, coeffs):
        if self.channels == 1:
            return torch.clamp(x, -1.0, 1.0)
        x0 = torch.clamp(x[:, 0], -1.0, 1.0)
        x1 = torch.clamp(x[:, 1] + coeffs[:, 0] * x0, -1.0, 1.0)
        x2 = torch.clamp(x[:, 2] + coeffs[:, 1] * x0 + coeffs[:, 2] * x1, -1.0, 1.0)
        return torch.stack([x0, x1, x2], dim=1)

    def sample(self, t=1.0, u_mix=None, u_logistic=None, noise_t="divide", generator=None):
        """Gumbel-max component choice on logits/t, logistic noise. The official code divides the
        logistic noise by t (noise_t='divide', PR #54 calls it a bug); 'multiply' is the fix.
        u_mix [B,M,H,W] and u_logistic [B,C,H,W] (uniforms in (0,1)) can be injected."""
        if u_mix is None:
            u_mix = _uniform_clipped(self.logit_probs.shape, self.logit_probs, generator)
        gumbel = -torch.log(-torch.log(u_mix))
        idx = torch.argmax(self.logit_probs / t + gumbel, dim=1, keepdim=True)    # B,1,H,W
        sel = torch.zeros_like(self.logit_probs).scatter_(1, idx, 1.0).unsqueeze(1)
        means = torch.sum(self.means * sel, dim=2)
        log_scales = torch.sum(self.log_scales * sel, dim=2)
        coeffs = torch.sum(self.coeffs * sel, dim=2) if self.coeffs is not None else None
        if u_logistic is None:
            u_logistic = _uniform_clipped(means.shape, means, generator)
        scale = torch.exp(log_scales)
        scale = scale / t if noise_t == "divide" else scale * t
        x = means + scale * (torch.log(u_logistic) - torch.log(1.0 - u_logistic))
        return self._couple(x, coeffs) / 2.0 + 0.5

    def mean(self):
        sel = torch.softmax(self.logit_probs, dim=1).unsqueeze(1)
        means = torch.sum(self.means * sel, dim=2)
        coeffs = torch.sum(self.coeffs * sel, dim=2) if self.coeffs is not None else None
        return self._couple(means, coeffs) / 2.0 + 0.5


class BernoulliDecoder:
    def __init__(self, logits):
        self.logits = logits

    def log_prob(self, x):
        """x log sigma(l) + (1-x) log sigma(-l), per element [B, C, H, W]."""
        return -F.binary_cross_entropy_with_logits(self.logits, x, reduction="none")

    def mean(self):
        return torch.sigmoid(self.logits)

    def sample(self, t=1.0, u=None, generator=None):
        p = torch.sigmoid(self.logits)
        if u is None:
            u = torch.rand(p.shape, generator=generator, dtype=p.dtype, device=p.device)
        return (u < p).to(p.dtype)


class NormalDecoder:
    """Continuous Normal on x_tilde = 2x - 1: [C means | C raw log-sigmas] with the §2
    parameterisation. The official sample() ignores t (PR #55); pass use_t=True to apply it."""

    def __init__(self, param):
        c = param.shape[1] // 2
        self.dist = Normal(param[:, :c], param[:, c:])

    def log_prob(self, x):
        return self.dist.log_p(2.0 * x - 1.0)

    def mean(self):
        return torch.clamp(self.dist.mu, -1.0, 1.0) / 2.0 + 0.5

    def sample(self, t=1.0, eps=None, use_t=False, generator=None):
        sigma = self.dist.sigma * t if use_t else self.dist.sigma
        if eps is None:
            eps = torch.randn(sigma.shape, generator=generator, dtype=sigma.dtype,
                              device=sigma.device)
        x = self.dist.mu + sigma * eps
        return torch.clamp(x, -1.0, 1.0) / 2.0 + 0.5


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------

class NVAE(nn.Module):
    """NVAE with the official module paths. `cfg`: a dict as produced by configs.get_config
    (model keys, see MODEL_KEYS; training keys are ignored here).

    device='meta' builds the structure without storage (state_dict comparison of CelebA-64);
    seed=None skips initialisation (weights to be loaded)."""

    def __init__(self, cfg, device=None, seed=1, dmol_upper=0.99):
        super().__init__()
        unknown = [k for k in cfg if k not in MODEL_KEYS and k not in TRAIN_KEYS]
        if unknown:
            raise KeyError("unknown config keys: %s" % ", ".join(unknown))
        g = lambda k: cfg[k]                                # noqa: E731
        self.cfg = dict(cfg)
        self.ce, self.cd = g("num_channels_enc"), g("num_channels_dec")
        self.P = g("num_preprocess_blocks")
        self.S = g("num_latent_scales")
        self.L = g("num_latent_per_group")
        self.num_nf = g("num_nf")
        self.use_se, self.res_dist = bool(g("use_se")), bool(g("res_dist"))
        self.decoder = g("decoder")
        self.num_mix = g("num_mixture_dec")
        self.num_bits = g("num_x_bits")
        self.img_c, self.img_size = g("image_channels"), g("image_size")
        self.crop = g("crop")
        self.dmol_upper = dmol_upper
        self.groups = groups_per_scale(self.S, g("num_groups_per_scale"), g("ada_groups"),
                                       g("min_groups_per_scale"))
        self.n_groups = sum(self.groups)
        if g("num_postprocess_blocks") != self.P:
            raise ValueError("num_postprocess_blocks must equal num_preprocess_blocks")
        top = CHANNEL_MULT ** (self.P + self.S - 1)
        if self.img_size % top:
            raise ValueError("image_size must be divisible by 2^(P+S-1)")
        self.top_hw = self.img_size // top
        if g("num_groups_per_scale") == 1 and self.S == 1:
            raise ValueError("the vanilla VAE path (S = 1, G = 1) is not implemented")
        dev = device

        # Modules are assigned in the official order: that order is the state_dict order.
        self.prior_ftr0 = nn.Parameter(torch.empty(int(top * self.cd), self.top_hw, self.top_hw,
                                                   device=dev))
        self.stem = WNConv2d(self.img_c, self.ce, 3, padding=1, bias=True, device=dev)

        mult = 1
        self.pre_process = nn.ModuleList()
        for _ in range(self.P):
            for c in range(g("num_preprocess_cells")):
                if c == g("num_preprocess_cells") - 1:
                    ci = int(self.ce * mult)
                    self.pre_process.append(Cell(ci, CHANNEL_MULT * ci, "down_pre", self.use_se,
                                                 device=dev))
                    mult *= CHANNEL_MULT
                else:
                    ci = int(self.ce * mult)
                    self.pre_process.append(Cell(ci, ci, "normal_pre", self.use_se, device=dev))

        self.enc_tower = nn.ModuleList()
        for s in range(self.S):
            for grp in range(self.groups[s]):
                for _ in range(g("num_cell_per_cond_enc")):
                    ci = int(self.ce * mult)
                    self.enc_tower.append(Cell(ci, ci, "normal_enc", self.use_se, device=dev))
                if not (s == self.S - 1 and grp == self.groups[s] - 1):
                    self.enc_tower.append(EncCombiner(int(self.cd * mult), int(self.ce * mult),
                                                      device=dev))
            if s < self.S - 1:
                ci = int(self.ce * mult)
                self.enc_tower.append(Cell(ci, CHANNEL_MULT * ci, "down_enc", self.use_se,
                                           device=dev))
                mult *= CHANNEL_MULT

        c_top = int(self.ce * mult)
        self.enc0 = nn.Sequential(nn.ELU(), WNConv2d(c_top, c_top, 1, bias=True, device=dev),
                                  nn.ELU())

        self.enc_sampler = nn.ModuleList()
        self.dec_sampler = nn.ModuleList()
        self.nf_cells = nn.ModuleList()
        m = mult
        for s in range(self.S):
            for grp in range(self.groups[self.S - 1 - s]):
                self.enc_sampler.append(WNConv2d(int(self.ce * m), 2 * self.L, 3, padding=1,
                                                 bias=True, device=dev))
                for _ in range(self.num_nf):
                    self.nf_cells.append(PairedCellAR(self.L, device=dev))
                if not (s == 0 and grp == 0):
                    self.dec_sampler.append(nn.Sequential(
                        nn.ELU(), WNConv2d(int(self.cd * m), 2 * self.L, 1, bias=True,
                                           device=dev)))
            m = m / CHANNEL_MULT

        self.dec_tower = nn.ModuleList()
        for s in range(self.S):
            for grp in range(self.groups[self.S - 1 - s]):
                c = int(self.cd * mult)
                if not (s == 0 and grp == 0):
                    for _ in range(g("num_cell_per_cond_dec")):
                        self.dec_tower.append(Cell(c, c, "normal_dec", self.use_se, device=dev))
                self.dec_tower.append(DecCombiner(c, self.L, device=dev))
            if s < self.S - 1:
                ci = int(self.cd * mult)
                self.dec_tower.append(Cell(ci, ci // CHANNEL_MULT, "up_dec", self.use_se,
                                           device=dev))
                mult /= CHANNEL_MULT

        self.post_process = nn.ModuleList()
        for _ in range(g("num_postprocess_blocks")):
            for c in range(g("num_postprocess_cells")):
                if c == 0:
                    ci = int(self.cd * mult)
                    self.post_process.append(Cell(ci, ci // CHANNEL_MULT, "up_post", self.use_se,
                                                  device=dev))
                    mult /= CHANNEL_MULT
                else:
                    ci = int(self.cd * mult)
                    self.post_process.append(Cell(ci, ci, "normal_post", self.use_se,
                                                  device=dev))

        self.head_channels = self._head_channels()
        self.image_conditional = nn.Sequential(
            nn.ELU(), WNConv2d(int(self.cd * mult), self.head_channels, 3, padding=1, bias=True,
                               device=dev))

        # Layer lists (named_modules order, as the official all_conv_layers / all_bn_layers).
        self.conv_layers = [(n, mod) for n, mod in self.named_modules()
                            if isinstance(mod, _ConvBase)]
        self.bn_layers = [(n, mod) for n, mod in self.named_modules()
                          if isinstance(mod, nn.BatchNorm2d)]
        self._sr_groups = None          # shape -> list of conv indices
        self.sr_u, self.sr_v = {}, {}   # shape -> [n, rows], [n, cols]
        self.sr_first_call = True
        self.num_power_iter = 4

        if seed is not None and (device is None or torch.device(device).type != "meta"):
            self.init_parameters(seed)

    # -- structure ------------------------------------------------------------------------------

    def _head_channels(self):
        if self.decoder == "dmol":
            return 10 * self.num_mix if self.img_c == 3 else 3 * self.num_mix
        if self.decoder == "bernoulli":
            return self.img_c
        if self.decoder == "normal":
            return 2 * self.img_c
        raise ValueError("decoder must be dmol, bernoulli or normal")

    @property
    def num_output(self):
        """D of bits/dim: the pixels the reconstruction loss covers (NVAE.md §3.8)."""
        side = self.img_size - 2 * self.crop
        return self.img_c * side * side

    def latent_shapes(self):
        """[(L, h, w)] per group in decoder order."""
        out = []
        for s in range(self.S):
            hw = self.top_hw * 2 ** s
            out += [(self.L, hw, hw)] * self.groups[self.S - 1 - s]
        return out

    def kl_alpha(self):
        """Fixed KL-balancing weights alpha ('square'), decoder order (NVAE.md §3.3)."""
        a = []
        for i in range(self.S):
            n = self.groups[self.S - 1 - i]
            a += [(4.0 ** i) / n] * n
        a = torch.tensor(a, dtype=torch.float64)
        return a / a.min()

    # -- initialisation (NVAE.md §1.9) ------------------------------------------------------------

    def init_parameters(self, seed):
        gen = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            self.prior_ftr0.copy_(torch.rand(self.prior_ftr0.shape, generator=gen,
                                             dtype=torch.float64).to(self.prior_ftr0.dtype))
            for mod in self.modules():
                if isinstance(mod, _ConvBase):
                    mod.reset_parameters(gen)
                elif isinstance(mod, nn.Linear):
                    bound = 1.0 / math.sqrt(mod.in_features)
                    _uniform_(mod.weight, bound, gen)
                    _uniform_(mod.bias, bound, gen)
                elif isinstance(mod, nn.BatchNorm2d):
                    mod.reset_parameters()          # gamma 1, beta 0, mean 0, var 1, count 0

    # -- forward (NVAE.md §1.5) -------------------------------------------------------------------

    def _encode(self, x):
        s = self.stem(2.0 * x - 1.0)
        for cell in self.pre_process:
            s = cell(s)
        slots, feats = [], []
        for cell in self.enc_tower:
            if isinstance(cell, EncCombiner):
                slots.append(cell)
                feats.append(s)
            else:
                s = cell(s)
        slots.reverse()
        feats.reverse()
        return s, slots, feats

    def _flow(self, k, z):
        for n in range(self.num_nf):
            z = self.nf_cells[k * self.num_nf + n](z)
        return z

    def forward(self, x, eps=None, generator=None):
        """x: [B, C, H, W] in [0,1] (already bit-reduced / binarised). eps: optional list of the
        reparameterisation noises, one [B, L, h, w] tensor per group in decoder order (top group
        first); drawn from torch.randn(generator) when None.

        Returns a dict:
          logits     head output [B, head_channels, H, W]
          recon      [B] -log p(x|z) per image (cropped region only)
          kl         [B, N] KL per image and group (decoder order): analytic without flows,
                     log q - log p at the sample with flows
          kl_diag    list of [L] (batch mean of the spatially summed KL), for active-unit logging
          log_q, log_p   [B] summed over all groups (flows' log det = 0 included)
          log_iw     [B] -recon - log_q + log_p (one importance weight)
          z, eps     lists per group (z after the flows)
        """
        shapes = self.latent_shapes()
        B = x.shape[0]
        if eps is None:
            eps = [torch.randn((B,) + sh, generator=generator, dtype=x.dtype, device=x.device)
                   for sh in shapes]
        if len(eps) != self.n_groups:
            raise ValueError("eps: %d tensors given, %d groups" % (len(eps), self.n_groups))
        for k, (e, sh) in enumerate(zip(eps, shapes)):
            if tuple(e.shape) != (B,) + sh:
                raise ValueError("eps[%d] has shape %s, expected %s"
                                 % (k, tuple(e.shape), (B,) + sh))

        s, slots, feats = self._encode(x)

        ftr = self.enc0(s)
        mu_q, ls_q = torch.chunk(self.enc_sampler[0](ftr), 2, dim=1)
        q = Normal(mu_q, ls_q)
        z = q.sample(eps[0])
        log_q = q.log_p(z)
        z = self._flow(0, z)
        zeros = torch.zeros_like(z)
        p = Normal(zeros, zeros)                               # sigma = 1.01
        log_p = p.log_p(z)
        qs, ps, lqs, lps, zs = [q], [p], [log_q], [log_p], [z]

        d = self.prior_ftr0.unsqueeze(0).expand(B, -1, -1, -1)
        k = 0
        for cell in self.dec_tower:
            if isinstance(cell, DecCombiner):
                if k > 0:
                    mu_p, ls_p = torch.chunk(self.dec_sampler[k - 1](d), 2, dim=1)
                    ftr = slots[k - 1](feats[k - 1], d)
                    dmu, dls = torch.chunk(self.enc_sampler[k](ftr), 2, dim=1)
                    q = Normal(mu_p + dmu, ls_p + dls) if self.res_dist else Normal(dmu, dls)
                    z = q.sample(eps[k])
                    log_q = q.log_p(z)
                    z = self._flow(k, z)
                    p = Normal(mu_p, ls_p)
                    log_p = p.log_p(z)
                    qs.append(q)
                    ps.append(p)
                    lqs.append(log_q)
                    lps.append(log_p)
                    zs.append(z)
                d = cell(d, z)
                k += 1
            else:
                d = cell(d)
        for cell in self.post_process:
            d = cell(d)
        logits = self.image_conditional(d)

        kl_all, kl_diag = [], []
        log_q_tot, log_p_tot = 0.0, 0.0
        for q, p, lq, lp in zip(qs, ps, lqs, lps):
            kl_el = (lq - lp) if self.num_nf > 0 else q.kl(p)
            kl_diag.append(torch.mean(torch.sum(kl_el, dim=[2, 3]), dim=0))
            kl_all.append(torch.sum(kl_el, dim=[1, 2, 3]))
            log_q_tot = log_q_tot + torch.sum(lq, dim=[1, 2, 3])
            log_p_tot = log_p_tot + torch.sum(lp, dim=[1, 2, 3])

        recon = self.recon_loss(logits, x)
        return {"logits": logits, "recon": recon, "kl": torch.stack(kl_all, dim=1),
                "kl_diag": kl_diag, "log_q": log_q_tot, "log_p": log_p_tot,
                "log_iw": -recon - log_q_tot + log_p_tot, "z": zs, "eps": list(eps)}

    # -- output distribution --------------------------------------------------------------------

    def decoder_output(self, logits):
        if self.decoder == "dmol":
            return DiscMixLogistic(logits, self.num_mix, self.num_bits, self.img_c,
                                   self.dmol_upper)
        if self.decoder == "bernoulli":
            return BernoulliDecoder(logits)
        return NormalDecoder(logits)

    def recon_loss(self, logits, x):
        """-log p(x | z) per image: DMOL sums over (H, W) (colours inside), the others over
        (C, H, W); only the central region when crop > 0 (official MNIST: rows/cols 2..29)."""
        lp = self.decoder_output(logits).log_prob(x)
        c = self.crop
        if c:
            lp = lp[..., c:lp.shape[-2] - c, c:lp.shape[-1] - c]
        return -torch.sum(lp, dim=list(range(1, lp.dim())))

    # -- generation (NVAE.md §1.6) ----------------------------------------------------------------

    def sample(self, n, t=1.0, eps=None, generator=None):
        """Prior sample with temperature t; returns the head logits. eps: optional list of
        [n, L, h, w] per group (decoder order). BN follows the module's train/eval mode."""
        shapes = self.latent_shapes()
        dt, dv = self.prior_ftr0.dtype, self.prior_ftr0.device
        if eps is None:
            eps = [torch.randn((n,) + sh, generator=generator, dtype=dt, device=dv)
                   for sh in shapes]
        zeros = torch.zeros((n,) + shapes[0], dtype=dt, device=dv)
        z = Normal(zeros, zeros, temp=t).sample(eps[0])
        d = self.prior_ftr0.unsqueeze(0).expand(n, -1, -1, -1)
        k = 0
        for cell in self.dec_tower:
            if isinstance(cell, DecCombiner):
                if k > 0:
                    mu, ls = torch.chunk(self.dec_sampler[k - 1](d), 2, dim=1)
                    z = Normal(mu, ls, temp=t).sample(eps[k])
                d = cell(d, z)
                k += 1
            else:
                d = cell(d)
        for cell in self.post_process:
            d = cell(d)
        return self.image_conditional(d)

    def sample_images(self, n, t=0.7, generator=None, **kw):
        """Images in [0,1] as the official training previews: DMOL.sample(t), Bernoulli mean,
        Normal decoder sample."""
        logits = self.sample(n, t, generator=generator)
        out = self.decoder_output(logits)
        if isinstance(out, BernoulliDecoder):
            return out.mean()
        return out.sample(t, generator=generator, **kw)

    # -- regularisers (NVAE.md §3.4, §3.5) --------------------------------------------------------

    def _sr_setup(self):
        if self._sr_groups is None:
            groups = OrderedDict()
            for i, (_, mod) in enumerate(self.conv_layers):
                groups.setdefault(mod.sr_shape(), []).append(i)
            self._sr_groups = groups

    def init_sr_vectors(self, generator=None):
        """u, v ~ N(0,1), normalised with max(||.||, 1e-3); the next call runs 10x the power
        iterations (40)."""
        self._sr_setup()
        p = self.prior_ftr0
        for shp, idx in self._sr_groups.items():
            u = torch.randn((len(idx), shp[0]), generator=generator, dtype=torch.float64)
            v = torch.randn((len(idx), shp[1]), generator=generator, dtype=torch.float64)
            self.sr_u[shp] = F.normalize(u.to(p.dtype).to(p.device), dim=1, eps=1e-3)
            self.sr_v[shp] = F.normalize(v.to(p.dtype).to(p.device), dim=1, eps=1e-3)
        self.sr_first_call = True

    def get_sr_vectors(self):
        """{conv name: (u [rows], v [cols])}, conv names as in the state_dict (no '.weight')."""
        self._sr_setup()
        out = OrderedDict()
        for shp, idx in self._sr_groups.items():
            if shp not in self.sr_u:
                continue
            for j, i in enumerate(idx):
                out[self.conv_layers[i][0]] = (self.sr_u[shp][j].clone(),
                                               self.sr_v[shp][j].clone())
        return out

    def set_sr_vectors(self, vectors, first_call=False):
        """Loads u, v per conv name (all layers must be given). first_call=True makes the next
        spectral_reg call run 40 iterations (the C side's first step), False 4."""
        self._sr_setup()
        p = self.prior_ftr0
        for shp, idx in self._sr_groups.items():
            us, vs = [], []
            for i in idx:
                name = self.conv_layers[i][0]
                if name not in vectors:
                    raise KeyError("SR vectors missing for %s" % name)
                u, v = vectors[name]
                us.append(torch.as_tensor(u).reshape(shp[0]))
                vs.append(torch.as_tensor(v).reshape(shp[1]))
            self.sr_u[shp] = torch.stack(us).to(p.dtype).to(p.device)
            self.sr_v[shp] = torch.stack(vs).to(p.dtype).to(p.device)
        self.sr_first_call = first_call

    def spectral_reg(self, num_iter=None, generator=None):
        """SR = sum over every conv (WN, plain MBConv, masked AR) of u^T W v, W = effective weight
        as [Cout, Cin/groups*k*k]; u, v persistent, updated by power iteration without grad
        (4 per call, 40 on the first). Uses the effective weights of the last forward when
        available (then forgets them), else recomputes them."""
        self._sr_setup()
        if not self.sr_u:
            self.init_sr_vectors(generator)
        if num_iter is None:
            num_iter = 10 * self.num_power_iter if self.sr_first_call else self.num_power_iter
        self.sr_first_call = False
        total = 0.0
        for shp, idx in self._sr_groups.items():
            ws = []
            for i in idx:
                mod = self.conv_layers[i][1]
                w = mod._w_fwd if mod._w_fwd is not None else mod.effective_weight()
                ws.append(w.reshape(shp[0], shp[1]))
            W = torch.stack(ws, dim=0)
            with torch.no_grad():
                u = self.sr_u[shp].to(device=W.device, dtype=W.dtype)
                v = self.sr_v[shp].to(device=W.device, dtype=W.dtype)
                for _ in range(num_iter):
                    v = F.normalize(torch.matmul(u.unsqueeze(1), W).squeeze(1), dim=1, eps=1e-3)
                    u = F.normalize(torch.matmul(W, v.unsqueeze(2)).squeeze(2), dim=1, eps=1e-3)
                self.sr_u[shp], self.sr_v[shp] = u, v
            sigma = torch.matmul(u.unsqueeze(1), torch.matmul(W, v.unsqueeze(2)))
            total = total + torch.sum(sigma)
        for _, mod in self.conv_layers:
            mod._w_fwd = None
        return total

    def bn_reg(self):
        """BNreg = sum over BN layers of max_k |gamma_k| (ties share the gradient equally)."""
        total = 0.0
        for _, mod in self.bn_layers:
            if mod.affine:
                total = total + torch.max(torch.abs(mod.weight))
        return total

    # -- I/O --------------------------------------------------------------------------------------

    def load_from_h5(self, path, strict=True):
        """Loads parameters and buffers stored under their official state_dict names (one
        dataset per name at the file root; float32, any numeric type accepted) and, when present,
        the SR vectors /sr/<conv name>/u and /v. Alias names (weight_normalized) are optional;
        if present they must equal their parameter. Returns the list of names loaded."""
        import h5py
        sd = self.state_dict(keep_vars=True)
        kinds = state_dict_kinds(self)
        loaded = []
        with h5py.File(path, "r") as f:
            for name, t in sd.items():
                if name not in f:
                    if strict and kinds[name] != "A":
                        raise KeyError("%s: dataset %s missing" % (path, name))
                    continue
                arr = np.asarray(f[name])
                if tuple(arr.shape) != tuple(t.shape):
                    raise ValueError("%s: %s has shape %s, model %s"
                                     % (path, name, arr.shape, tuple(t.shape)))
                src = torch.from_numpy(np.array(arr)).to(t.dtype)
                if kinds[name] == "A":
                    if not torch.equal(src, t.detach()):
                        raise ValueError("%s: alias %s differs from its parameter" % (path, name))
                    continue
                with torch.no_grad():
                    t.copy_(src)
                loaded.append(name)
            if "sr" in f:
                vecs = {}
                for name, _ in self.conv_layers:
                    if name in f["sr"]:
                        vecs[name] = (torch.from_numpy(np.asarray(f["sr"][name]["u"])),
                                      torch.from_numpy(np.asarray(f["sr"][name]["v"])))
                if vecs:
                    self.set_sr_vectors(vecs, first_call=bool(f["sr"].attrs.get("first_call",
                                                                                 0)))
        return loaded

    def save_h5(self, path, extra=None):
        """Writes the state_dict (P and B entries, float32; num_batches_tracked as int64) and the
        SR vectors in the load_from_h5 layout; `extra` {path: tensor} adds datasets."""
        import h5py
        kinds = state_dict_kinds(self)
        with h5py.File(path, "w") as f:
            for name, t in self.state_dict().items():
                if kinds[name] == "A":
                    continue
                a = t.detach().cpu().numpy()
                f.create_dataset(name, data=a if a.dtype == np.int64 else a.astype(np.float32))
            vecs = self.get_sr_vectors()
            if vecs:
                g = f.create_group("sr")
                g.attrs["first_call"] = int(self.sr_first_call)
                for name, (u, v) in vecs.items():
                    g.create_dataset(name + "/u", data=u.cpu().numpy().astype(np.float32))
                    g.create_dataset(name + "/v", data=v.cpu().numpy().astype(np.float32))
            for k, v in (extra or {}).items():
                v = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
                f.create_dataset(k, data=v.astype(np.float32))


def state_dict_kinds(model):
    """{state_dict name: 'P' | 'B' | 'A'}: P a parameter, B a buffer, A a second name of a
    parameter (named_parameters lists each Parameter once, under its first name)."""
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    kinds = OrderedDict()
    for name in model.state_dict(keep_vars=True):
        if name in params:
            kinds[name] = "P"
        elif name in buffers:
            kinds[name] = "B"
        else:
            kinds[name] = "A"
    return kinds


def load_inputs_h5(path, dtype=torch.float32):
    """Reads /batch/x ([B,C,H,W] in [0,1]), optional /batch/u_binarize and /noise/group_<k>
    (decoder order). Returns (x, eps list or None, u_binarize or None)."""
    import h5py
    with h5py.File(path, "r") as f:
        x = torch.from_numpy(np.asarray(f["batch/x"], dtype=np.float64)).to(dtype)
        u = None
        if "batch/u_binarize" in f:
            u = torch.from_numpy(np.asarray(f["batch/u_binarize"], dtype=np.float64)).to(dtype)
        eps = None
        if "noise" in f:
            n = len([k for k in f["noise"].keys() if k.startswith("group_")])
            eps = [torch.from_numpy(np.asarray(f["noise/group_%d" % k], dtype=np.float64))
                   .to(dtype) for k in range(n)]
    return x, eps, u


# ---------------------------------------------------------------------------------------------
# Objective (NVAE.md §3)
# ---------------------------------------------------------------------------------------------

def kl_coeff(step, total_steps, anneal_portion=0.3, const_portion=1e-4, min_coeff=1e-4):
    """beta(step) = max(min((step - c T) / (a T), 1), beta_min)."""
    return max(min((step - const_portion * total_steps) / (anneal_portion * total_steps), 1.0),
               min_coeff)


def wdn_coeff(beta, lam, lam_init=10.0, anneal=False):
    """lambda: constant, or exp((1 - beta) ln lam_init + beta ln lam) when annealed."""
    if not anneal:
        return lam
    return float(np.exp((1.0 - beta) * np.log(lam_init) + beta * np.log(lam)))


def kl_balance_gamma(kl_all, alpha):
    """gamma per group from a batch (rows) of per-group KLs, as the official kl_balancer:
    a = mean_b |KL| + 0.01; a = a / alpha * sum(a); gamma = a / mean(a). Detached."""
    kl_all = kl_all.detach()
    a = torch.mean(torch.abs(kl_all), dim=0) + 0.01
    a = a / alpha.to(a.dtype).to(a.device) * torch.sum(a)
    return a / torch.mean(a)


def objective(model, out, beta, lam, kl_balance=True, ranks=1, sr_num_iter=None):
    """The loss of one training step (NVAE.md §3) from forward()'s output. Returns a dict:
      recon       mean over the batch of -log p(x|z)
      kl_groups   [N] batch mean of each group's KL (decoder order), unweighted
      kl          batch mean of sum_g KL (unweighted)
      kl_weighted batch mean of sum_g gamma_g KL_g (what beta multiplies)
      gamma       [N] balancing coefficients (ones when not balancing)
      nelbo       recon + kl (true NELBO, nats/image);  bpd = nelbo / (D ln 2)
      sr, bnreg   regularisers;  lam, beta
      loss        mean_b(recon_b + beta KL_b) + lam SR + lam BNreg  (what is differentiated)
    KL balancing applies only while beta < 1. ranks > 1 emulates kl_balance_scope 'local' with
    that many equal data-parallel slices of the batch (gamma per slice); ranks = 1 is the global
    scope (or one GPU).
    """
    recon, kl_all = out["recon"], out["kl"]
    n = kl_all.shape[1]
    if kl_balance and beta < 1.0:
        alpha = model.kl_alpha()
        B = kl_all.shape[0]
        if B % ranks:
            raise ValueError("batch not divisible by ranks")
        chunks = []
        gammas = []
        for r in range(ranks):
            sl = slice(r * B // ranks, (r + 1) * B // ranks)
            gmm = kl_balance_gamma(kl_all[sl], alpha)
            gammas.append(gmm)
            chunks.append(torch.sum(kl_all[sl] * gmm, dim=1))
        kl_w = torch.cat(chunks)
        gamma = torch.stack(gammas).mean(0)
    else:
        kl_w = torch.sum(kl_all, dim=1)
        gamma = torch.ones(n, dtype=kl_all.dtype)
    nelbo_b = recon + beta * kl_w
    main = torch.mean(nelbo_b)
    sr = model.spectral_reg(num_iter=sr_num_iter)
    bn = model.bn_reg()
    loss = main + (sr * lam + bn * lam)
    kl_tot = torch.mean(torch.sum(kl_all, dim=1))
    nelbo = torch.mean(recon) + kl_tot
    return {"loss": loss, "recon": torch.mean(recon), "kl_groups": torch.mean(kl_all, dim=0),
            "kl": kl_tot, "kl_weighted": torch.mean(kl_w), "gamma": gamma,
            "nelbo": nelbo, "bpd": nelbo / (model.num_output * math.log(2.0)),
            "sr": sr, "bnreg": bn, "lam": lam, "beta": beta, "main": main}


def train_loss(model, x, beta, lam, eps=None, kl_balance=True, ranks=1, generator=None):
    """forward + objective; returns (objective dict, forward dict)."""
    out = model(x, eps=eps, generator=generator)
    return objective(model, out, beta, lam, kl_balance=kl_balance, ranks=ranks), out


@torch.no_grad()
def evaluate_nll(model, x, num_samples=10, generator=None):
    """Importance-weighted log-likelihood and NELBO per image (NVAE.md §8.1), model in its
    current mode. Returns (neg_log_p [B], nelbo [B]) in nats."""
    lw, nelbo = [], []
    for _ in range(num_samples):
        out = model(x, generator=generator)
        lw.append(out["log_iw"])
        nelbo.append(out["recon"] + out["kl"].sum(1))
    lw = torch.stack(lw, dim=1)
    return -(torch.logsumexp(lw, dim=1) - math.log(num_samples)), torch.stack(nelbo, 1).mean(1)


# ---------------------------------------------------------------------------------------------
# Optimisers and schedules (NVAE.md §4)
# ---------------------------------------------------------------------------------------------

class Adamax:
    """Adamax as the official code runs it (NVAE.md §4.1), written out:
         t += 1;  g <- g + wd theta;  m <- b1 m + (1-b1) g;  u <- max(b2 u, |g| + eps)
         theta <- theta - lr / (1 - b1^t) * m / u
    eps sits INSIDE the max (not added to the denominator); weight decay is coupled (L2 on the
    gradient); one step count shared by all parameters. torch.optim.Adamax 1.13 places eps the
    same way (max(b2 u, |g| + eps)); this class exists so the arithmetic is explicit and
    inspectable. Parameters without a gradient are skipped (their state does not advance)."""

    def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-3, weight_decay=3e-4):
        self.params = [p for p in params]
        self.lr, self.betas, self.eps, self.weight_decay = lr, betas, eps, weight_decay
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.u = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self):
        self.t += 1
        b1, b2 = self.betas
        clr = self.lr / (1.0 - b1 ** self.t)
        for p, m, u in zip(self.params, self.m, self.u):
            if p.grad is None:
                continue
            g = p.grad
            if self.weight_decay != 0:
                g = g + self.weight_decay * p
            m.mul_(b1).add_(g, alpha=1.0 - b1)
            torch.maximum(u * b2, g.abs() + self.eps, out=u)
            p.addcdiv_(m, u, value=-clr)

    def state_dict(self):
        return {"t": self.t, "m": [m.clone() for m in self.m], "u": [u.clone() for u in self.u],
                "lr": self.lr}

    def load_state_dict(self, sd):
        self.t, self.lr = sd["t"], sd["lr"]
        for dst, src in zip(self.m, sd["m"]):
            dst.copy_(src)
        for dst, src in zip(self.u, sd["u"]):
            dst.copy_(src)


def make_optimizer(name, params, lr, betas=(0.9, 0.999), eps=None, weight_decay=3e-4):
    """'adamax' (by hand, eps default 1e-3) or 'adam' (torch.optim.Adam, eps default 1e-8;
    coupled weight decay). Both expose .lr through set_lr()."""
    if name == "adamax":
        return Adamax(params, lr, betas, 1e-3 if eps is None else eps, weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, eps=1e-8 if eps is None else eps,
                                weight_decay=weight_decay)
    raise ValueError(name)


def set_lr(opt, lr):
    if isinstance(opt, Adamax):
        opt.lr = lr
    else:
        for g in opt.param_groups:
            g["lr"] = lr


def lr_at(step, iters_per_epoch, epochs, lr_max, lr_min=1e-4, warmup_epochs=5,
          warmup_steps=None, schedule="cosine", step_epochs=30, step_gamma=0.1):
    """Learning rate used by the optimiser step `step` (0-based global step), NVAE.md §4.2.

    Warm-up, per iteration: lr_max * step / W while step < W (W = warmup_epochs * iters/epoch, or
    warmup_steps); the first step uses 0.
    cosine (official, per epoch): epochs e <= warmup_epochs run at lr_w = lr_max (W-1)/W; from
    e = warmup_epochs + 1 on: lr_min + (lr_w - lr_min) (1 + cos(pi (e - we) / (epochs - we - 1)))/2.
    With warmup_steps, we = ceil(W / iters_per_epoch) (our choice; the official code only
    knows warm-up in epochs).
    step: lr_w * step_gamma ** floor(e / step_epochs) after the warm-up (our definition).
    """
    W = warmup_steps if warmup_steps is not None else warmup_epochs * iters_per_epoch
    if step < W:
        return lr_max * float(step) / W
    lr_w = lr_max * (W - 1) / W if W > 0 else lr_max
    e = step // iters_per_epoch
    if schedule == "step":
        return lr_w * step_gamma ** (e // step_epochs)
    we = warmup_epochs if warmup_steps is None else -(-W // iters_per_epoch)
    if e <= we:
        return lr_w
    T = epochs - we - 1
    return lr_min + (lr_w - lr_min) * 0.5 * (1.0 + math.cos(math.pi * (e - we) / T))


def clip_grad_norm(params, max_norm):
    """Global L2 norm clipping of the raw gradients (before weight decay), off when max_norm <= 0.
    Returns the norm before clipping."""
    params = [p for p in params if p.grad is not None]
    norm = torch.sqrt(sum(torch.sum(p.grad.double() ** 2) for p in params))
    if max_norm > 0 and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for p in params:
            p.grad.mul_(scale.to(p.grad.dtype))
    return float(norm)


def train_step(model, opt, x, step, total_steps, cfg, eps=None, kl_beta=None, grad_clip=0.0,
               kl_balance=True, generator=None):
    """One complete official-style step: beta(step), lambda, forward, loss, backward, optimiser
    (the learning rate is left to the caller: set_lr(opt, lr_at(...))). Returns the objective
    dict with floats."""
    beta = kl_beta if kl_beta is not None else kl_coeff(
        step, total_steps, cfg["kl_anneal_portion"], cfg["kl_const_portion"],
        cfg["kl_const_coeff"])
    lam = wdn_coeff(beta, cfg["weight_decay_norm"], cfg["weight_decay_norm_init"],
                    cfg["weight_decay_norm_anneal"])
    opt.zero_grad()
    obj, _ = train_loss(model, x, beta, lam, eps=eps, kl_balance=kl_balance, generator=generator)
    obj["loss"].backward()
    obj["grad_norm"] = clip_grad_norm(model.parameters(), grad_clip)
    opt.step()
    return {k: (v.detach() if isinstance(v, torch.Tensor) and v.dim() > 0 else float(v))
            for k, v in obj.items()}
