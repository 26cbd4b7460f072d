/* Shared by the config_*.c files only: the scalar rules (one place, used by the file parser,
 * the override parser and the defaults) and text helpers for one-line messages. */
#ifndef NVAE_TRAINER_CONFIG_INTERNAL_H
#define NVAE_TRAINER_CONFIG_INTERNAL_H

#include "trainer/config.h"

#include <stdbool.h>
#include <stddef.h>

/* Parses one YAML scalar text[0..len) for key k and stores it in cfg. For a CONFIG_FLOAT_LIST key
 * index picks the element (and null is refused); otherwise index is ignored. plain = the scalar
 * was written without quotes (only plain scalars can be numbers, booleans or null).
 * Returns 0, or 2 with the "expected ..., found ..." part of a message in why. */
int config_set_scalar(nvae_config *cfg, const config_key *k, int index, const char *text,
                      size_t len, bool plain, char *why, size_t why_len);

/* Copies text[0..len) into dst as a single-quoted, printable, one-line excerpt ('abc', 'a\nb',
 * long text cut with "..."), so a message stays one line whatever the input holds. */
void config_quote(char *dst, size_t n, const char *text, size_t len);

/* Pointers to a key's storage inside cfg. */
static inline void *config_field(nvae_config *cfg, const config_key *k) {
  return (char *)cfg + k->offset;
}
static inline const void *config_cfield(const nvae_config *cfg, const config_key *k) {
  return (const char *)cfg + k->offset;
}
/* Whether an optional key holds a value (always true for keys that cannot be unset). */
static inline bool config_is_set(const nvae_config *cfg, const config_key *k) {
  return !k->unset || *(const bool *)((const char *)cfg + k->set_offset);
}

/* " in [0, 1)", " >= 1" or "" (with a leading space): the range of a number key. */
size_t config_describe_range(const config_key *k, char *buf, size_t n);

/* Whether name is "section.leaf" (as opposed to a section or a top-level key). */
bool config_is_dotted(const char *name);

#endif
