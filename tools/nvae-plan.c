/* nvae-plan: builds the tensor registry of a built-in architecture and prints the start-up table
 * (the one nvae-train prints), without allocating anything. With --list it also prints every
 * state_dict entry in the format of tests/data/state_dict/ *.txt.
 *
 *   nvae-plan celeba64|mnist|tiny|tiny-nf [--list]
 */
#include "trainer/model_arch.h"
#include "trainer/model_registry.h"
#include "trainer/registry.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f, "usage: nvae-plan ARCH [--list]\n"
             "  ARCH    one of:");
  for (int i = 0; model_arch_preset_names[i]; i++)
    fprintf(f, " %s", model_arch_preset_names[i]);
  fprintf(f, "\n  --list  also print every state_dict entry (kind, official name, shape)\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--list") != 0)) {
    usage(stderr);
    return NVAE_EXIT_USAGE;
  }
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
    usage(stdout);
    return NVAE_EXIT_OK;
  }
  model_arch a;
  nvae_err err = {0};
  registry r;
  if (model_arch_preset(argv[1], &a, &err) || model_registry_build(&a, &r, &err)) {
    fprintf(stderr, "nvae-plan: %s\n", err.msg);
    return err.code;
  }
  registry_print_summary(&r, &a, stdout);
  if (argc == 3)
    for (int i = 0; i < r.n_tensors; i++) {
      char shape[64];
      printf("%c %s %s\n", (char)r.tensors[i].kind, r.tensors[i].name,
             reg_shape_str(&r.tensors[i], shape, sizeof shape));
    }
  registry_free(&r);
  return NVAE_EXIT_OK;
}
