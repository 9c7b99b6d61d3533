/* libjpeg keeps its entropy coders behind its internal header, jpegint.h: this is the one place
 * that reaches into them, to swap in imgforge's decoding of an MCU (src/imaging/sequential.rs)
 * and gathering of Huffman statistics (src/imaging/statistics.rs). Built by build.rs against the
 * headers of the very libjpeg that mozjpeg-sys builds, so the structures are laid out as that
 * library lays them out. */
#define JPEG_INTERNALS
#include <stddef.h>
#include <stdio.h>
#include "jpeglib.h"
#include "jpegcomp.h"

typedef boolean (*imgforge_decode_mcu)(j_decompress_ptr cinfo, JBLOCKROW *MCU_data);

/* Installs `decode` as the decompressor's MCU decoder and returns the one it replaces. The
 * entropy decoder exists once jpeg_start_decompress has returned. */
imgforge_decode_mcu imgforge_replace_decode_mcu(j_decompress_ptr cinfo,
                                                imgforge_decode_mcu decode)
{
  imgforge_decode_mcu replaced = cinfo->entropy->decode_mcu;
  cinfo->entropy->decode_mcu = decode;
  return replaced;
}

/* Whether libjpeg reads the AC coefficients of frame component `component`'s blocks once
 * decoding has started: not where its inverse DCT makes one pixel of each (scaling to an
 * eighth), the test of jdhuff.c's own ac_needed. */
int imgforge_uses_ac_coefficients(j_decompress_ptr cinfo, int component)
{
  jpeg_component_info *info = &cinfo->comp_info[component];
  return info->component_needed && info->_DCT_scaled_size > 1;
}

typedef boolean (*imgforge_encode_mcu)(j_compress_ptr cinfo, JBLOCKROW *MCU_data);
typedef void (*imgforge_finish_pass)(j_compress_ptr cinfo);

/* Installs `gather` and `finish` as the compressor's entropy encoder for the pass under way,
 * which must be the one gathering the statistics of optimised Huffman tables: the first pass
 * once jpeg_start_compress has returned with optimize_coding set. The next pass's start sets
 * libjpeg's own encoder again. */
void imgforge_replace_gathering(j_compress_ptr cinfo, imgforge_encode_mcu gather,
                                imgforge_finish_pass finish)
{
  cinfo->entropy->encode_mcu = gather;
  cinfo->entropy->finish_pass = finish;
}
