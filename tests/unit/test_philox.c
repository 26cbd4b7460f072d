/* Philox 4x32-10: known answers from the Random123 distribution (kat_vectors), and the properties
 * the trainer relies on (sample-keyed streams, uniform range, normal moments). */
#include <math.h>
#include <string.h>

#include "kernels/philox.h"
#include "kernels/random.h"
#include "tests/test_util.h"

static void check_kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0,
                      uint32_t k1, uint32_t e0, uint32_t e1, uint32_t e2, uint32_t e3) {
  philox4x32 ctr = {{c0, c1, c2, c3}};
  philox4x32 r = philox4x32_10(ctr, k0, k1);
  CHECK(r.v[0] == e0 && r.v[1] == e1 && r.v[2] == e2 && r.v[3] == e3,
        "KAT ctr %08x..: got %08x %08x %08x %08x, want %08x %08x %08x %08x", c0, r.v[0], r.v[1],
        r.v[2], r.v[3], e0, e1, e2, e3);
}

int main(void) {
  /* Random123 kat_vectors, "philox4x32 10" lines: counter[4] key[2] -> output[4]. */
  check_kat(0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
  check_kat(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d,
            0x41c83b0e, 0xa20bc7c6, 0x6d5451fd);
  check_kat(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09,
            0x94fdcceb, 0x5001e420, 0x24126ea1);

  /* The seed is the key: low word key0, high word key1. */
  philox4x32 a = philox_block(0x299f31d0a4093822ull, 0x03707344, 0x13198a2e, 0x85a308d3,
                              0x243f6a88);
  CHECK(a.v[0] == 0xd16cfe09 && a.v[3] == 0x24126ea1, "philox_block counter/key layout");

  /* A sample's numbers do not depend on the other samples in the buffer (world-size
   * independence): samples 10..13 filled together == sample 12 filled alone. */
  enum { PER = 37 };
  float together[4 * PER], alone[PER];
  philox_stream s = {42, PHILOX_LATENT_EPS, 7};
  philox_fill_normal_cpu(&s, 10, 4, PER, together);
  philox_fill_normal_cpu(&s, 12, 1, PER, alone);
  CHECK(memcmp(together + 2 * PER, alone, sizeof alone) == 0, "per-sample keying");

  /* Different step / purpose / seed -> different numbers. */
  float other[PER];
  philox_stream s2 = {42, PHILOX_LATENT_EPS, 8};
  philox_fill_normal_cpu(&s2, 12, 1, PER, other);
  CHECK(memcmp(other, alone, sizeof alone) != 0, "step changes the stream");

  /* Uniforms strictly inside (0,1); moments of 400k normals. */
  enum { N = 400000 };
  static float u[N], z[N];
  philox_stream su = {1, PHILOX_TEST, 0};
  philox_fill_uniform_cpu(&su, 0, 1, N, u);
  philox_fill_normal_cpu(&su, 0, 1, N, z);
  double mu = 0, m2 = 0, zm = 0, z2 = 0, z4 = 0;
  float umin = 1, umax = 0;
  for (int i = 0; i < N; i++) {
    umin = fminf(umin, u[i]);
    umax = fmaxf(umax, u[i]);
    mu += u[i];
    m2 += (double)u[i] * u[i];
    zm += z[i];
    z2 += (double)z[i] * z[i];
    z4 += (double)z[i] * z[i] * z[i] * z[i];
  }
  mu /= N, m2 /= N, zm /= N, z2 /= N, z4 /= N;
  CHECK(umin > 0.0f && umax < 1.0f, "uniform range (%g, %g)", umin, umax);
  CHECK(fabs(mu - 0.5) < 3e-3 && fabs(m2 - 1.0 / 3) < 3e-3, "uniform moments %g %g", mu, m2);
  CHECK(fabs(zm) < 1e-2 && fabs(z2 - 1) < 1e-2 && fabs(z4 - 3) < 5e-2,
        "normal moments mean %g var %g kurt %g", zm, z2, z4);
  return test_finish("test_philox");
}
