/* Batch transforms: num_x_bits reduction equals NVAE's formula, binarisation is Bernoulli(x) and
 * keyed per global sample (a sample's bits do not depend on which batch slice it is in). */
#include "dataset/transform.h"
#include "tests/test_util.h"

#include <math.h>
#include <string.h>

int main(void) {
  uint8_t u[256];
  float x[256];
  for (int i = 0; i < 256; i++)
    u[i] = (uint8_t)i;
  transform_to_float(u, 256, x);
  CHECK(x[0] == 0.0f && x[255] == 1.0f && fabsf(x[128] - 128.0f / 255.0f) < 1e-7f, "to_float");

  for (int bits = 1; bits <= 8; bits++) {
    float y[256];
    memcpy(y, x, sizeof y);
    transform_reduce_bits(y, 256, bits);
    int levels = (1 << bits) - 1;
    for (int i = 0; i < 256; i++) {
      /* NVAE: floor(x * 255 / 2^(8 - bits)) / (2^bits - 1), exact for 8-bit inputs */
      float want = bits == 8 ? x[i] : (float)(i >> (8 - bits)) / (float)levels;
      CHECK(fabsf(y[i] - want) < 1e-6f, "bits %d value %d: %g vs %g", bits, i, y[i], want);
    }
  }

  enum { S = 6, P = 301 };
  static float a[S * P], b[2 * P];
  for (int i = 0; i < S * P; i++)
    a[i] = (float)(i % 97) / 96.0f;
  memcpy(b, a + 3 * P, sizeof b); /* samples 3 and 4 of the batch */
  transform_binarize(a, S, P, 99, 12, 100);
  transform_binarize(b, 2, P, 99, 12, 103);
  CHECK(!memcmp(a + 3 * P, b, sizeof b),
        "binarisation must depend on the global sample index only");
  int ones = 0;
  for (int i = 0; i < S * P; i++) {
    CHECK(a[i] == 0.0f || a[i] == 1.0f, "binary output");
    ones += a[i] == 1.0f;
  }
  CHECK(a[0] == 0.0f, "x = 0 never becomes 1");
  /* the mean of x is 0.5: expect ~903 ones of 1806 */
  CHECK(ones > 800 && ones < 1006, "Bernoulli mean: %d ones of %d", ones, S * P);
  float c[P];
  for (int i = 0; i < P; i++)
    c[i] = 0.5f;
  float d[P];
  memcpy(d, c, sizeof c);
  transform_binarize(c, 1, P, 99, 12, 7);
  transform_binarize(d, 1, P, 99, 13, 7);
  CHECK(memcmp(c, d, sizeof c) != 0, "a new step draws a new binarisation");
  return test_finish("test_dataset_transform");
}
