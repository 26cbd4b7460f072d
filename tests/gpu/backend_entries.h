/* The op table (kernels/backend.h) as a list of named entries, for the tests that check that a
 * backend sets every entry. */
#ifndef NVAE_TESTS_GPU_BACKEND_ENTRIES_H
#define NVAE_TESTS_GPU_BACKEND_ENTRIES_H

#include "kernels/backend.h"

#include <stddef.h>

/* Number of function-pointer entries (every field from `alloc` to the end). */
size_t backend_entry_count(void);
/* Name of entry i, as spelt in kernels/backend.h. */
const char *backend_entry_name(size_t i);
/* Whether entry i of table b is set. */
int backend_entry_set(const op_backend *b, size_t i);
/* Prints every NULL entry of b ("  missing: name"); returns how many. */
int backend_missing_entries(const op_backend *b);

#endif
