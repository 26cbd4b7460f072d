/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) and the TFRecord mask.
 *
 * TensorBoard event files frame every record with two masked CRC-32Cs (ECOSYSTEM.md §3.2). The
 * mask exists because a CRC of data that itself contains CRCs is weak; TensorFlow's readers
 * reject a record whose masked CRC does not match, so both must be exactly right.
 * Check value: crc32c("123456789") = 0xE3069283.
 */
#ifndef NVAE_TRAINER_CRC32C_H
#define NVAE_TRAINER_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Continues a CRC: crc32c_update(crc32c(a), b) == crc32c(a ‖ b); start from 0. */
uint32_t crc32c_update(uint32_t crc, const void *data, size_t n);
/* CRC-32C of n bytes. */
uint32_t crc32c(const void *data, size_t n);
/* TFRecord's mask: ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32). */
uint32_t crc32c_mask(uint32_t crc);

#ifdef __cplusplus
}
#endif

#endif
