/* JPEG decoding with the TurboJPEG 2.x API (Debian 12 ships libjpeg-turbo 2.1.5; the tj3* API
 * starts at 3.0). ACCURATEDCT and the default (fancy) chroma upsampling are what PIL's libjpeg
 * decoder uses, so pixels agree with PIL. Any warning (e.g. a truncated file, which libjpeg pads
 * with grey) counts as an error: PIL refuses such files too. */
#include "dataset/image.h"

#include <stdio.h>
#include <turbojpeg.h>

int image_decode_jpeg(image_decoder *d, const char *path, const uint8_t *data, size_t len,
                      image_rgb *out, nvae_err *e) {
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  if (len > (size_t)0xffffffffu)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: JPEG file too large", path);
  if (tjDecompressHeader3(d->tj, data, (unsigned long)len, &w, &h, &subsamp, &colorspace) != 0)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: corrupt JPEG header: %s", path,
                     tjGetErrorStr2(d->tj));
  if (w < 1 || h < 1 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: JPEG of %dx%d pixels is out of range (1..%d)", path,
                     w, h, IMAGE_MAX_SIDE);
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: CMYK JPEGs are not supported (convert to RGB)", path);
  image_rgb_reserve(out, w, h);
  if (tjDecompress2(d->tj, data, (unsigned long)len, out->data, w, w * 3, h, TJPF_RGB,
                    TJFLAG_ACCURATEDCT | TJFLAG_STOPONWARNING) != 0)
    return nvae_errf(e, NVAE_EXIT_USAGE, "%s: corrupt JPEG data: %s", path, tjGetErrorStr2(d->tj));
  return 0;
}
