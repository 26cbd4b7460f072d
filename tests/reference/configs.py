"""Named configurations for the PyTorch reference NVAE (tests/reference/nvae_ref.py).

Each configuration is a flat dict. Model keys use the official NVAE flag names (NVAE.md §5.1) plus
the few that the official code derives from `--dataset`:

  image_channels, image_size   input shape (after padding: 32 for MNIST-like data)
  decoder                      'dmol' | 'bernoulli' | 'normal'
  crop                         border (pixels per side) left out of the reconstruction loss:
                               2 for 28x28 images padded to 32x32 (official MNIST), else 0

Training keys (used by the objective / schedules, ignored by the model constructor) also use the
official flag names: weight_decay_norm (lambda), weight_decay_norm_init, weight_decay_norm_anneal,
kl_anneal_portion, kl_const_portion, kl_const_coeff, learning_rate, learning_rate_min,
weight_decay, warmup_epochs, epochs, batch_size.

The first four names are the configurations of tests/data/state_dict/*.txt (their header lines);
'fmnist-small' is configs/fmnist-small.yaml.
"""
import copy

# Defaults of the official train.py that no README command overrides (NVAE.md §5.1).
DEFAULTS = {
    "num_channels_enc": 32,
    "num_channels_dec": 32,
    "num_preprocess_blocks": 2,
    "num_preprocess_cells": 3,
    "num_postprocess_blocks": 2,
    "num_postprocess_cells": 3,
    "num_latent_scales": 1,
    "num_groups_per_scale": 10,
    "ada_groups": False,
    "min_groups_per_scale": 1,
    "num_latent_per_group": 20,
    "num_cell_per_cond_enc": 1,
    "num_cell_per_cond_dec": 1,
    "num_nf": 0,
    "use_se": True,
    "res_dist": True,
    "decoder": "dmol",
    "num_mixture_dec": 10,
    "num_x_bits": 8,
    "image_channels": 3,
    "image_size": 32,
    "crop": 0,
    # objective / optimiser (official defaults)
    "weight_decay_norm": 0.0,
    "weight_decay_norm_init": 10.0,
    "weight_decay_norm_anneal": False,
    "kl_anneal_portion": 0.3,
    "kl_const_portion": 1e-4,
    "kl_const_coeff": 1e-4,
    "learning_rate": 1e-2,
    "learning_rate_min": 1e-4,
    "weight_decay": 3e-4,
    "warmup_epochs": 5,
    "epochs": 200,
    "batch_size": 200,
}

_CONFIGS = {
    # tests/data/state_dict/tiny.txt: dataset=cifar10 C=8, 1x2 pre, 1x2 post, 2 scales,
    # 2 groups ada -> [2,1], 4 latent channels, 1 cell per group, no flows. 98,724 parameters.
    "tiny": {
        "num_channels_enc": 8, "num_channels_dec": 8,
        "num_preprocess_blocks": 1, "num_preprocess_cells": 2,
        "num_postprocess_blocks": 1, "num_postprocess_cells": 2,
        "num_latent_scales": 2, "num_groups_per_scale": 2, "ada_groups": True,
        "num_latent_per_group": 4,
        "num_cell_per_cond_enc": 1, "num_cell_per_cond_dec": 1,
        "num_nf": 0,
        "decoder": "dmol", "num_mixture_dec": 10,
        "image_channels": 3, "image_size": 32, "crop": 0,
        "weight_decay_norm": 0.01, "batch_size": 8, "epochs": 10, "warmup_epochs": 1,
    },
    # tiny-nf.txt: the same with num_nf=1. 108,420 parameters.
    "tiny-nf": {
        "num_channels_enc": 8, "num_channels_dec": 8,
        "num_preprocess_blocks": 1, "num_preprocess_cells": 2,
        "num_postprocess_blocks": 1, "num_postprocess_cells": 2,
        "num_latent_scales": 2, "num_groups_per_scale": 2, "ada_groups": True,
        "num_latent_per_group": 4,
        "num_cell_per_cond_enc": 1, "num_cell_per_cond_dec": 1,
        "num_nf": 1,
        "decoder": "dmol", "num_mixture_dec": 10,
        "image_channels": 3, "image_size": 32, "crop": 0,
        "weight_decay_norm": 0.01, "batch_size": 8, "epochs": 10, "warmup_epochs": 1,
    },
    # The official MNIST command (NVAE.md §5.1). 33,363,134 parameters.
    "mnist": {
        "num_channels_enc": 32, "num_channels_dec": 32,
        "num_preprocess_blocks": 2, "num_preprocess_cells": 3,
        "num_postprocess_blocks": 2, "num_postprocess_cells": 3,
        "num_latent_scales": 2, "num_groups_per_scale": 10, "ada_groups": True,
        "num_latent_per_group": 20,
        "num_cell_per_cond_enc": 2, "num_cell_per_cond_dec": 2,
        "num_nf": 0,
        "decoder": "bernoulli",
        "image_channels": 1, "image_size": 32, "crop": 2,
        "weight_decay_norm": 1e-2, "batch_size": 200, "epochs": 400,
    },
    # The official CelebA-64 command (NVAE.md §5.1). 153,281,364 parameters.
    "celeba64": {
        "num_channels_enc": 64, "num_channels_dec": 64,
        "num_preprocess_blocks": 1, "num_preprocess_cells": 2,
        "num_postprocess_blocks": 1, "num_postprocess_cells": 2,
        "num_latent_scales": 3, "num_groups_per_scale": 20, "ada_groups": True,
        "num_latent_per_group": 20,
        "num_cell_per_cond_enc": 2, "num_cell_per_cond_dec": 2,
        "num_nf": 1,
        "decoder": "dmol", "num_mixture_dec": 10,
        "image_channels": 3, "image_size": 64, "crop": 0,
        "weight_decay_norm": 1e-1, "batch_size": 16, "epochs": 90,
    },
    # configs/fmnist-small.yaml: C=16, 1x2 pre, 1x2 post, 2 scales, 4 groups ada -> [4,2],
    # 8 latent channels, 1 cell per group, no flows, Bernoulli, 28x28 padded to 32x32.
    "fmnist-small": {
        "num_channels_enc": 16, "num_channels_dec": 16,
        "num_preprocess_blocks": 1, "num_preprocess_cells": 2,
        "num_postprocess_blocks": 1, "num_postprocess_cells": 2,
        "num_latent_scales": 2, "num_groups_per_scale": 4, "ada_groups": True,
        "num_latent_per_group": 8,
        "num_cell_per_cond_enc": 1, "num_cell_per_cond_dec": 1,
        "num_nf": 0,
        "decoder": "bernoulli",
        "image_channels": 1, "image_size": 32, "crop": 2,
        "weight_decay_norm": 0.01, "batch_size": 32,
    },
}

NAMES = tuple(_CONFIGS)


def get_config(name, **overrides):
    """Returns a fresh, complete config dict (defaults + the named configuration + overrides)."""
    if name not in _CONFIGS:
        raise KeyError("unknown configuration %r (known: %s)" % (name, ", ".join(NAMES)))
    cfg = copy.deepcopy(DEFAULTS)
    cfg.update(_CONFIGS[name])
    for k, v in overrides.items():
        if k not in cfg:
            raise KeyError("unknown config key %r" % k)
        cfg[k] = v
    cfg["name"] = name
    return cfg
