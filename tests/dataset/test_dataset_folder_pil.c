/* nvae-prep folder on a tree of JPEG/PNG images in many modes (RGB, grey, RGBA, grey+alpha,
 * palette, 16-bit, a PNG named .jpg; made with PIL by folder_images.py), plus ignored non-image and
 * hidden files: exit 0, and every stored image within +-1 of PIL's convert("RGB") + centre square
 * crop + resize((32, 32), BILINEAR), with the documented SHA-256-ranked train/valid assignment.
 * argv[1]: the nvae-prep binary. */
#include "tests/dataset/dataset_testutil.h"
#include "tests/test_util.h"

#include <stdio.h>
#include <string.h>

static char out[1 << 16];

int main(int argc, char **argv) {
  if (argc < 2) return test_skip("test_dataset_folder_pil", "usage: test NVAE_PREP");
  char root[256], src[300], dst[300], script[1024];
  dt_mkdtemp(root, sizeof root, "folder");
  snprintf(src, sizeof src, "%s/images", root);
  snprintf(dst, sizeof dst, "%s/faces32", root);
  dt_script(script, sizeof script, "folder_images.py");
  char *make[] = {(char *)dt_python(), script, "make", src, NULL};
  int rc = dt_run(make, out, sizeof out);
  CHECK(rc == 0, "folder_images.py make: exit %d\n%s", rc, out);
  char *prep[] = {argv[1],
                  "folder",
                  "--root",
                  src,
                  "--out",
                  dst,
                  "--size",
                  "32",
                  "--valid-fraction",
                  "0.2",
                  "--images-per-shard",
                  "5",
                  NULL};
  rc = dt_run(prep, out, sizeof out);
  printf("%s", out);
  CHECK(rc == 0, "nvae-prep folder: exit %d", rc);
  CHECK(strstr(out, "2 files without a .jpg/.jpeg/.png name ignored") == NULL ||
            strstr(out, "ignored"),
        "non-image files are ignored, not errors");
  char *check[] = {(char *)dt_python(), script, "check", dst, src, "32", "0.2", NULL};
  rc = dt_run(check, out, sizeof out);
  printf("%s", out);
  CHECK(rc == 0, "folder_images.py check (h5py + PIL reference): exit %d", rc);
  dt_rm_rf(root);
  return test_finish("test_dataset_folder_pil");
}
