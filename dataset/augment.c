/* Flip and pad: see augment.h. */
#include "dataset/augment.h"

#include "kernels/philox.h"

#include <string.h>

int augment_flip_draw(uint64_t seed, uint64_t epoch, int64_t index) {
  philox4x32 r = philox_block(seed, PHILOX_FLIP, (uint32_t)epoch, (uint32_t)index, 0);
  return (int)(r.v[0] >> 31);
}

void augment_place(const uint8_t *src, int h, int w, int c, int flip, uint8_t *dst, int dst_h,
                   int dst_w, int top, int left) {
  const size_t row = (size_t)w * c, dst_row = (size_t)dst_w * c;
  if (dst_h != h || dst_w != w) memset(dst, 0, (size_t)dst_h * dst_row);
  for (int y = 0; y < h; y++) {
    const uint8_t *s = src + (size_t)y * row;
    uint8_t *d = dst + (size_t)(y + top) * dst_row + (size_t)left * c;
    if (!flip) {
      memcpy(d, s, row);
    } else if (c == 3) {
      for (int x = 0; x < w; x++) {
        const uint8_t *p = s + (size_t)(w - 1 - x) * 3;
        d[3 * x] = p[0];
        d[3 * x + 1] = p[1];
        d[3 * x + 2] = p[2];
      }
    } else {
      for (int x = 0; x < w; x++)
        memcpy(d + (size_t)x * c, s + (size_t)(w - 1 - x) * c, (size_t)c);
    }
  }
}
