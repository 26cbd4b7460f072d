/* Builds the tensor registry of an NVAE architecture: every tensor under its official state_dict
 * name, in the official order (NVAE.md §1.3, §1.5), with the conv/BN layer lists and the latent
 * groups. The naming rules are documented at the top of model_registry.c. */
#ifndef NVAE_TRAINER_MODEL_REGISTRY_H
#define NVAE_TRAINER_MODEL_REGISTRY_H

#include "kernels/base/error.h"
#include "trainer/model_arch.h"
#include "trainer/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Validates the architecture, then initialises r and fills it. Returns 0, or NVAE_EXIT_USAGE with
 * the validation message (r is then empty). Free r with registry_free in both cases. */
int model_registry_build(const model_arch *a, registry *r, nvae_err *err);

#ifdef __cplusplus
}
#endif

#endif
