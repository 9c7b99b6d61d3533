//! libjpeg (mozjpeg's) through its C API, for all of imgforge's JPEG work: reading headers;
//! decoding (whole, DCT-scaled, a region) with an entropy decoder of our own where it applies
//! (`sequential`), or to DCT coefficients; encoding pixels, with Huffman statistics of our own
//! (`statistics`), or coefficients. Each structure is destroyed, with everything libjpeg
//! allocated for it, when dropped, unwinding included; errors, and the warnings a decompressor's
//! `Warnings` say to stop at, unwind out of libjpeg as `LibjpegError`, which `guarded` turns
//! into an `Err`.

use std::ops::Range;
use std::os::raw::{c_int, c_long, c_uint, c_ulong, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::{mem, ptr, slice};

use image::metadata::Orientation;

use super::profile::jpeg_icc_profile;
use super::sequential::SequentialScan;
use super::statistics::{SymbolCounts, count_block};
use mozjpeg_sys::{
    J_COLOR_SPACE, J_INT_PARAM, JBLOCK, JCP_FASTEST, JHUFF_TBL, JWRN_EXTRANEOUS_DATA,
    JWRN_HIT_MARKER, JWRN_JPEG_EOF, boolean, jpeg_common_struct, jpeg_compress_struct,
    jpeg_decompress_struct, jpeg_error_mgr, jvirt_barray_control,
};

/// A component's coefficient array and its size in blocks that hold image data.
pub(super) struct BlockGrid {
    pub(super) array: *mut jvirt_barray_control,
    pub(super) width: usize,
    pub(super) height: usize,
}

const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;

/// What a JPEG's application markers say besides the pixels, read the same way by both decoders.
pub(super) struct JpegMarkers {
    /// EXIF's orientation; the last one wins.
    pub(super) orientation: Orientation,
    /// The ICC profile, reassembled from its APP2 chunks.
    pub(super) icc: Option<Vec<u8>>,
    /// An Adobe APP14 marker, which says CMYK is stored inverted.
    pub(super) adobe: bool,
}

impl JpegMarkers {
    /// From (marker code, data) pairs in file order.
    pub(super) fn read<'a>(markers: impl IntoIterator<Item = (u8, &'a [u8])>) -> Self {
        let mut orientation = Orientation::NoTransforms;
        let mut app2 = Vec::new();
        let mut adobe = false;
        for (code, data) in markers {
            match code {
                APP1 => {
                    if let Some(exif) = data.strip_prefix(b"Exif\0\0") {
                        orientation = Orientation::from_exif_chunk(exif).unwrap_or(orientation);
                    }
                }
                APP2 => app2.push(data),
                APP14 => adobe |= data.starts_with(b"Adobe"),
                _ => {}
            }
        }
        Self {
            orientation,
            icc: jpeg_icc_profile(app2.into_iter()),
            adobe,
        }
    }
}

/// libjpeg's function that decodes an MCU's coefficients into the blocks it is given.
type DecodeMcu =
    unsafe extern "C-unwind" fn(&mut jpeg_decompress_struct, *mut *mut JBLOCK) -> boolean;

unsafe extern "C" {
    /// The C library's `free`, for the buffer `jpeg_mem_dest` allocates with `malloc`.
    fn free(pointer: *mut c_void);

    /// Installs `decode` as the decompressor's MCU decoder, returning the one replaced
    /// (src/imaging/libjpeg_entropy.c).
    fn imgforge_replace_decode_mcu(
        info: &mut jpeg_decompress_struct,
        decode: DecodeMcu,
    ) -> Option<DecodeMcu>;

    /// Whether libjpeg reads the AC coefficients of a frame component's blocks, once decoding
    /// has started (src/imaging/libjpeg_entropy.c).
    fn imgforge_uses_ac_coefficients(info: &mut jpeg_decompress_struct, component: c_int) -> c_int;

    /// Installs `gather` and `finish` as the compressor's entropy encoder for the pass of
    /// Huffman statistics under way (src/imaging/libjpeg_entropy.c).
    fn imgforge_replace_gathering(
        info: &mut jpeg_compress_struct,
        gather: EncodeMcu,
        finish: unsafe extern "C-unwind" fn(&mut jpeg_compress_struct),
    );

    /// libjpeg's optimal Huffman table for symbol counts (jchuff.c), which it clobbers.
    fn jpeg_gen_optimal_table(
        info: &mut jpeg_compress_struct,
        table: *mut JHUFF_TBL,
        counts: *mut c_long,
    );
}

/// libjpeg's function that entropy-codes (or, gathering, counts) an MCU's blocks.
type EncodeMcu =
    unsafe extern "C-unwind" fn(&mut jpeg_compress_struct, *mut *mut JBLOCK) -> boolean;

/// `rows` rows of a virtual block array from `first`, each `width` blocks, through libjpeg's
/// memory manager; they stay valid until the next access to the same array.
///
/// # Safety
/// `array` belongs to `info`'s memory manager and has been realised; the rows are within its
/// height, no more of them than it was requested to allow at once, and `width` is at most its
/// width. The returned slices must be dropped before `array` is accessed again.
unsafe fn access_rows<'a>(
    info: &mut jpeg_common_struct,
    array: *mut jvirt_barray_control,
    first: usize,
    rows: usize,
    width: usize,
) -> Vec<&'a mut [JBLOCK]> {
    // SAFETY: the caller's contract; `mem` is set by the create call and its methods are
    // always present. libjpeg returns `rows` pointers to distinct rows of `width` or more
    // blocks.
    unsafe {
        let access = (*info.mem)
            .access_virt_barray
            .expect("libjpeg's memory manager");
        let pointers = access(
            info,
            array,
            first as c_uint,
            rows as c_uint,
            boolean::from(true),
        );
        slice::from_raw_parts(pointers, rows)
            .iter()
            .map(|&row| slice::from_raw_parts_mut(row, width))
            .collect()
    }
}

/// An error or warning libjpeg stopped at, with its message.
pub(super) struct LibjpegError(pub(super) String);

/// Runs `work`, which calls libjpeg: `Err` with libjpeg's message where it stopped. Any other
/// panic is a bug of ours, and goes on unwinding.
pub(super) fn guarded<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(work)).map_err(|panic| match panic.downcast::<LibjpegError>() {
        Ok(error) => error.0,
        Err(panic) => resume_unwind(panic),
    })
}

/// Which of libjpeg's warnings (damaged data it would pass on as grey or noise) a decompressor
/// stops at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Warnings {
    /// Every one: the caller then leaves the file to a decode that says what to make of it.
    StopAtAny,
    /// Only a file ending before its image data does: an interrupted upload must never become
    /// a stored image. Other damage is decoded as libjpeg decodes it.
    StopAtTruncation,
}

/// An error manager that unwinds instead of exiting, and on the warnings `warnings` says.
fn unwinding_error_manager(warnings: Warnings) -> Box<jpeg_error_mgr> {
    // SAFETY: an all-zero error manager is valid input to `jpeg_std_error`, which fills it.
    let mut errors: Box<jpeg_error_mgr> = Box::new(unsafe { mem::zeroed() });
    // SAFETY: `errors` is a valid, exclusively borrowed error manager.
    unsafe { mozjpeg_sys::jpeg_std_error(&mut errors) };
    errors.error_exit = Some(unwind_on_error);
    errors.emit_message = Some(match warnings {
        Warnings::StopAtAny => stop_at_any_warning,
        Warnings::StopAtTruncation => stop_at_truncation,
    });
    errors
}

/// libjpeg's text for the message it is reporting.
fn libjpeg_message(info: &mut jpeg_common_struct) -> String {
    type FormatInto = unsafe extern "C-unwind" fn(&mut jpeg_common_struct, &mut [u8; 80]);
    let mut buffer = [0u8; 80];
    // SAFETY: libjpeg calls the error manager with `err` set. `format_message` writes at most
    // 80 bytes, NUL included, into its buffer, which the binding declares shared by mistake.
    unsafe {
        if let Some(format) = (*info.err).format_message {
            let format: FormatInto = mem::transmute(format);
            format(info, &mut buffer);
        }
    }
    let text = buffer.split(|&byte| byte == 0).next().unwrap_or_default();
    String::from_utf8_lossy(text).into_owned()
}

extern "C-unwind" fn unwind_on_error(info: &mut jpeg_common_struct) {
    resume_unwind(Box::new(LibjpegError(libjpeg_message(info))));
}

/// A warning is level −1; higher levels are trace messages, ignored.
extern "C-unwind" fn stop_at_any_warning(info: &mut jpeg_common_struct, level: c_int) {
    if level < 0 {
        unwind_on_error(info);
    }
}

extern "C-unwind" fn stop_at_truncation(info: &mut jpeg_common_struct, level: c_int) {
    // SAFETY: libjpeg calls its error manager with `err` set.
    let code = unsafe { (*info.err).msg_code };
    if level < 0 && (code == JWRN_JPEG_EOF as c_int || code == JWRN_HIT_MARKER as c_int) {
        resume_unwind(Box::new(LibjpegError(
            "the file ends before its image data does (truncated)".to_owned(),
        )));
    }
}

/// As `stop_at_any_warning`, except for data skipped before a marker, which is what libjpeg
/// reports when a scan goes on past the rows it was told the image has.
extern "C-unwind" fn stop_at_any_warning_but_skipped_data(
    info: &mut jpeg_common_struct,
    level: c_int,
) {
    // SAFETY: libjpeg calls its error manager with `err` set.
    let code = unsafe { (*info.err).msg_code };
    if code != JWRN_EXTRANEOUS_DATA as c_int {
        stop_at_any_warning(info, level);
    }
}

/// What `decode_own_mcu` works from, through the decompressor's `client_data`.
struct OwnEntropy<'a> {
    scan: SequentialScan<'a>,
    input: &'a [u8],
    /// The MCU columns whose coefficients libjpeg uses; the others are only decoded past.
    kept: Range<usize>,
}

/// The decompressor's `decode_mcu` once `decode_entropy_here` has installed it: the next MCU,
/// from `SequentialScan`, into `blocks` (zeroed by libjpeg), or into scratch memory where libjpeg
/// passes over it (`blocks` null) or will not use it (a column outside `kept`). After the last
/// MCU, libjpeg's reading goes on at the marker that follows. Damaged data unwinds as a warning
/// would.
unsafe extern "C-unwind" fn decode_own_mcu(
    info: &mut jpeg_decompress_struct,
    blocks: *mut *mut JBLOCK,
) -> boolean {
    // SAFETY: set by `decode_entropy_here`, to an `OwnEntropy` the decompressor owns, for as
    // long as this function is installed.
    let entropy = unsafe { &mut *info.common.client_data.cast::<OwnEntropy>() };
    let kept = !blocks.is_null() && entropy.kept.contains(&entropy.scan.next_column());
    let count = entropy.scan.blocks_in_mcu();
    // SAFETY: libjpeg passes a pointer to each of the MCU's blocks, in MCU order (the scan's
    // layout, which `decode_entropy_here` checked is libjpeg's).
    let blocks = kept.then(|| unsafe { slice::from_raw_parts(blocks.cast_const(), count) });
    // SAFETY: libjpeg's MCU buffer or coefficient rows: distinct blocks, untouched meanwhile.
    match unsafe { entropy.scan.decode_mcu(blocks) } {
        Ok(None) => {}
        Ok(Some(marker)) => {
            // SAFETY: `src` is the memory source reading `input`, the file the scan was read
            // from; `marker` is an offset within it.
            let source = unsafe { &mut *info.src };
            source.next_input_byte = entropy.input[marker..].as_ptr();
            source.bytes_in_buffer = entropy.input.len() - marker;
        }
        Err(_) => resume_unwind(Box::new(LibjpegError(
            "the image data is damaged".to_owned(),
        ))),
    }
    boolean::from(true)
}

/// A libjpeg decompressor, destroyed (with all it allocated) when dropped, unwinding included.
pub(super) struct Decompressor<'a> {
    info: Box<jpeg_decompress_struct>,
    /// The error manager `info` points to; its warning handler may be swapped.
    errors: Box<jpeg_error_mgr>,
    input: &'a [u8],
    /// The entropy decoder `info` uses instead of its own, once `decode_entropy_here` has
    /// installed it.
    own_entropy: Option<Box<OwnEntropy<'a>>>,
}

impl<'a> Decompressor<'a> {
    /// Reads the header of the JPEG `input`, keeping its EXIF, ICC and Adobe markers.
    pub(super) fn read_header(input: &'a [u8], warnings: Warnings) -> Self {
        let mut errors = unwinding_error_manager(warnings);
        // SAFETY: zeroed memory is what `jpeg_create_decompress` expects before it fills the
        // structure; the error manager is boxed, so the pointer to it stays valid.
        let mut info: Box<jpeg_decompress_struct> = Box::new(unsafe { mem::zeroed() });
        info.common.err = &mut *errors;
        // SAFETY: `info` is zeroed with a valid error manager, as required.
        unsafe { mozjpeg_sys::jpeg_create_decompress(&mut *info) };
        // Made before anything can fail, so that its drop destroys the structure.
        let mut decompressor = Self {
            info,
            errors,
            input,
            own_entropy: None,
        };
        let info = &mut decompressor.info;
        // SAFETY: the structure is created; `input` outlives it, as it is borrowed for `'a`.
        unsafe {
            mozjpeg_sys::jpeg_mem_src(info, input.as_ptr(), input.len() as c_ulong);
            for marker in [APP1, APP2, APP14] {
                mozjpeg_sys::jpeg_save_markers(info, marker.into(), 0xFFFF);
            }
            mozjpeg_sys::jpeg_read_header(info, 1);
        }
        decompressor
    }

    /// Accepts data skipped at the end of each scan: for a file whose frame header was made to
    /// say the image ends before its scans do.
    pub(super) fn allow_skipped_scan_data(&mut self) {
        self.errors.emit_message = Some(stop_at_any_warning_but_skipped_data);
    }

    /// What the markers `jpeg_save_markers` kept say.
    pub(super) fn markers(&self) -> JpegMarkers {
        let mut marker = self.info.marker_list;
        JpegMarkers::read(std::iter::from_fn(|| {
            // SAFETY: `marker_list` is a list libjpeg allocated in `info`'s memory, each node's
            // `data` holding `data_length` bytes; it lives as long as `self`.
            let node = unsafe { marker.as_ref()? };
            marker = node.next;
            // SAFETY: as above.
            let data = unsafe { slice::from_raw_parts(node.data, node.data_length as usize) };
            Some((node.marker, data))
        }))
    }

    /// The stored size, in pixels.
    pub(super) fn size(&self) -> (u32, u32) {
        (self.info.image_width, self.info.image_height)
    }

    /// Whether the pixels are YCbCr or grey, which libjpeg gives as RGB.
    pub(super) fn is_rgb_or_grey(&self) -> bool {
        matches!(
            self.info.jpeg_color_space,
            J_COLOR_SPACE::JCS_YCbCr | J_COLOR_SPACE::JCS_GRAYSCALE
        )
    }

    /// Whether the pixels are CMYK (or YCCK, which libjpeg gives as CMYK).
    pub(super) fn is_cmyk(&self) -> bool {
        matches!(
            self.info.jpeg_color_space,
            J_COLOR_SPACE::JCS_CMYK | J_COLOR_SPACE::JCS_YCCK
        )
    }

    /// Starts decoding to `color_space` (RGB or CMYK) at `eighths`/8 of the stored size (1, 2,
    /// 4 or 8: libjpeg scales in the DCT domain).
    pub(super) fn start(&mut self, color_space: J_COLOR_SPACE, eighths: u8) {
        self.info.out_color_space = color_space;
        self.info.scale_num = eighths.into();
        self.info.scale_denom = 8;
        // SAFETY: the header has been read.
        unsafe { mozjpeg_sys::jpeg_start_decompress(&mut self.info) };
    }

    /// Decodes columns `x..x + width` only (libjpeg's `jpeg_crop_scanline`), which libjpeg
    /// widens to whole iMCUs: the columns it will decode, as (x, width). Right after `start`,
    /// at full scale.
    pub(super) fn crop_columns(&mut self, x: u32, width: u32) -> (u32, u32) {
        let (mut x, mut width) = (x, width);
        // SAFETY: decoding has started and no row has been read, as `jpeg_crop_scanline`
        // requires.
        unsafe { mozjpeg_sys::jpeg_crop_scanline(&mut self.info, &mut x, &mut width) };
        (x, width)
    }

    /// Has libjpeg take each MCU's coefficients from `SequentialScan` instead of decoding them
    /// itself, where that reads the file (see `sequential`) and starts where libjpeg is;
    /// whether it does. Right after `start` (and `crop_columns`, whose result it is given, for
    /// the MCUs outside those columns to be passed over, at full scale only).
    pub(super) fn decode_entropy_here(&mut self, columns: Option<(u32, u32)>) -> bool {
        let Some(scan) = SequentialScan::new(self.input) else {
            return false;
        };
        // libjpeg has read the same scan header, and is at the start of its data.
        // SAFETY: `src` is the memory source set up in `read_header`; `comp_info` holds
        // `num_components` entries once the header is read.
        let (position, components) = unsafe {
            let count = self.info.num_components as usize;
            let components = slice::from_raw_parts(self.info.comp_info, count);
            ((*self.info.src).next_input_byte, components)
        };
        let libjpeg_blocks = components
            .iter()
            .map(|c| (c.width_in_blocks as usize, c.height_in_blocks as usize));
        if position != self.input[scan.data_start()..].as_ptr() || !scan.blocks().eq(libjpeg_blocks)
        {
            return false;
        }
        let (mcus_across, mcu_width) = scan.mcu_columns();
        let kept = match columns {
            Some((x, width)) => {
                let (x, width) = (x as usize, width as usize);
                x / mcu_width..(x + width).div_ceil(mcu_width)
            }
            None => 0..mcus_across,
        };
        let mut scan = scan;
        for component in 0..components.len() {
            // SAFETY: decoding has started; the component is one of the frame's.
            if unsafe { imgforge_uses_ac_coefficients(&mut self.info, component as c_int) } == 0 {
                scan.pass_over_ac(component);
            }
        }
        let mut entropy = Box::new(OwnEntropy {
            scan,
            input: self.input,
            kept,
        });
        self.info.common.client_data = ptr::from_mut(&mut *entropy).cast();
        self.own_entropy = Some(entropy);
        // SAFETY: decoding has started, so the entropy decoder exists; `decode_own_mcu` finds
        // its state through `client_data`, set above to the box `self` keeps until it is
        // dropped, with the structure.
        unsafe { imgforge_replace_decode_mcu(&mut self.info, decode_own_mcu) };
        true
    }

    /// Passes over `rows` rows without making their pixels (libjpeg's `jpeg_skip_scanlines`).
    pub(super) fn skip_rows(&mut self, rows: u32) {
        // SAFETY: decoding has started; libjpeg stops at the image's last row.
        unsafe { mozjpeg_sys::jpeg_skip_scanlines(&mut self.info, rows) };
    }

    /// The size of the rows decoding makes: width and height in pixels, and bytes a pixel.
    pub(super) fn output_size(&self) -> (u32, u32, usize) {
        let info = &self.info;
        let components = info.output_components as usize;
        (info.output_width, info.output_height, components)
    }

    /// The next row's pixels into `row`.
    pub(super) fn read_row(&mut self, row: &mut [u8]) {
        let (width, _, components) = self.output_size();
        assert!(
            row.len() >= width as usize * components,
            "a row of {width} pixels"
        );
        let mut rows = [row.as_mut_ptr()];
        // SAFETY: decoding has started; libjpeg writes one row of `output_width` pixels of
        // `output_components` bytes, which `row` holds.
        unsafe { mozjpeg_sys::jpeg_read_scanlines(&mut self.info, rows.as_mut_ptr(), 1) };
    }

    /// Every row left, one after the other.
    pub(super) fn read_rows(&mut self) -> Vec<u8> {
        let (width, height, components) = self.output_size();
        let stride = width as usize * components;
        let mut pixels = vec![0u8; stride * height as usize];
        // As many rows at once as libjpeg makes at once.
        let batch = self.info.rec_outbuf_height.max(1) as usize;
        let mut pointers = Vec::with_capacity(batch);
        while self.info.output_scanline < height {
            let first = self.info.output_scanline as usize;
            let count = batch.min(height as usize - first);
            pointers.clear();
            pointers.extend((first..first + count).map(|row| pixels[row * stride..].as_mut_ptr()));
            // SAFETY: decoding has started; each pointer is to a row of `stride` bytes, and
            // libjpeg writes at most as many rows as it is given.
            unsafe {
                mozjpeg_sys::jpeg_read_scanlines(
                    &mut self.info,
                    pointers.as_mut_ptr(),
                    count as u32,
                )
            };
        }
        pixels
    }

    pub(super) fn info_mut(&mut self) -> &mut jpeg_decompress_struct {
        &mut self.info
    }

    /// Reads the whole file into coefficient arrays (libjpeg's `jpeg_read_coefficients`), one
    /// per component, which live as long as `self`. Right after `read_header`.
    pub(super) fn read_coefficients(&mut self) -> Vec<BlockGrid> {
        let info = &mut *self.info;
        // SAFETY: the header has been read, as `jpeg_read_coefficients` requires; it returns
        // one array per component, in `info`'s memory; `comp_info` holds `num_components`
        // entries once the header is read.
        unsafe {
            let arrays = mozjpeg_sys::jpeg_read_coefficients(info);
            let components = slice::from_raw_parts(info.comp_info, info.num_components as usize);
            components
                .iter()
                .enumerate()
                .map(|(index, component)| BlockGrid {
                    array: *arrays.add(index),
                    width: component.width_in_blocks as usize,
                    height: component.height_in_blocks as usize,
                })
                .collect()
        }
    }

    /// Every row of each of `grids`' arrays, as wide as its grid.
    ///
    /// # Safety
    /// The arrays belong to this decompressor and are realised and filled
    /// (`jpeg_read_coefficients` has returned them). Their rows stay valid together: this
    /// build's libjpeg has no backing store (`jmemnobs.c`), so a realised array is wholly in
    /// memory, where its rows never move, and access only returns pointers into it.
    pub(super) unsafe fn all_block_rows(&mut self, grids: &[BlockGrid]) -> Vec<Vec<&[JBLOCK]>> {
        let info = &mut self.info.common;
        grids
            .iter()
            .map(|grid| {
                (0..grid.height)
                    .map(|row| {
                        // SAFETY: the caller's contract; one row at a time is within every
                        // array's access limit.
                        let mut rows = unsafe { access_rows(info, grid.array, row, 1, grid.width) };
                        &*rows.pop().expect("one row")
                    })
                    .collect()
            })
            .collect()
    }
}

impl Drop for Decompressor<'_> {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once.
        unsafe { mozjpeg_sys::jpeg_destroy_decompress(&mut self.info) };
    }
}

/// A libjpeg compressor writing to memory, destroyed (with its output buffer) when dropped.
pub(super) struct Compressor {
    info: Box<jpeg_compress_struct>,
    _errors: Box<jpeg_error_mgr>,
    /// Where `jpeg_mem_dest` keeps its `malloc`ed output buffer and the bytes written.
    output: Box<(*mut u8, c_ulong)>,
}

impl Compressor {
    pub(super) fn new() -> Self {
        let mut errors = unwinding_error_manager(Warnings::StopAtAny);
        // SAFETY: as in `Decompressor::new`.
        let mut info: Box<jpeg_compress_struct> = Box::new(unsafe { mem::zeroed() });
        info.common.err = &mut *errors;
        // SAFETY: `info` is zeroed with a valid error manager, as required.
        unsafe { mozjpeg_sys::jpeg_create_compress(&mut *info) };
        Self {
            info,
            _errors: errors,
            output: Box::new((ptr::null_mut(), 0)),
        }
    }

    /// A compressor of `width`×`height` RGB pixels at `quality` (1–100), baseline 4:2:0 with
    /// libjpeg-turbo's settings (mozjpeg's fastest profile: no trellis quantisation, no scan
    /// script).
    pub(super) fn for_rgb(width: u32, height: u32, quality: u8) -> Self {
        let mut compressor = Self::new();
        let info = &mut *compressor.info;
        info.in_color_space = J_COLOR_SPACE::JCS_RGB;
        info.input_components = 3;
        // SAFETY: the structure is created and its input described, as `jpeg_set_defaults`
        // requires; the profile takes effect at the next `jpeg_set_defaults`.
        unsafe {
            mozjpeg_sys::jpeg_set_defaults(info);
            mozjpeg_sys::jpeg_c_set_int_param(
                info,
                J_INT_PARAM::JINT_COMPRESS_PROFILE,
                JCP_FASTEST as c_int,
            );
            mozjpeg_sys::jpeg_set_defaults(info);
            mozjpeg_sys::jpeg_set_quality(info, quality.into(), boolean::from(false));
        }
        info.image_width = width;
        info.image_height = height;
        compressor
    }

    pub(super) fn info_mut(&mut self) -> &mut jpeg_compress_struct {
        &mut self.info
    }

    /// Samples luma `(h, v)` times as densely as chroma, across and down.
    #[cfg(any(test, feature = "test-support"))]
    pub(super) fn set_luma_sampling(&mut self, (across, down): (u8, u8)) {
        // SAFETY: `comp_info` holds `num_components` entries once defaults are set.
        let luma = unsafe { &mut *self.info.comp_info };
        luma.h_samp_factor = across.into();
        luma.v_samp_factor = down.into();
    }

    /// Encodes `pixels`, rows of `image_width` pixels of `input_components` bytes each, and
    /// returns the file; its Huffman tables are optimised for it where `optimize` is set, their
    /// statistics gathered by `statistics::count_block` for a single scan without restarts (by
    /// libjpeg otherwise).
    pub(super) fn encode_rows(mut self, pixels: &[u8], optimize: bool) -> Vec<u8> {
        let stride = self.info.image_width as usize * self.info.input_components as usize;
        assert_eq!(
            pixels.len(),
            stride * self.info.image_height as usize,
            "whole rows of the image"
        );
        self.info.optimize_coding = boolean::from(optimize);
        let gathers_here = optimize && self.info.num_scans == 0 && self.info.restart_interval == 0;
        let mut gathering = None;
        let (buffer, size) = &mut *self.output;
        // SAFETY: `buffer` and `size` are boxed, so libjpeg's pointers to them stay valid.
        unsafe {
            mozjpeg_sys::jpeg_mem_dest(&mut self.info, buffer, size);
            mozjpeg_sys::jpeg_start_compress(&mut self.info, boolean::from(true));
        }
        if gathers_here {
            let state = gathering.insert(Box::new(Gathering::of(&self.info)));
            self.info.common.client_data = ptr::from_mut(&mut **state).cast();
            // SAFETY: compression has started with optimised coding in one scan, so the pass
            // under way gathers statistics; `gather_mcu` and `finish_gathering` find their state
            // through `client_data`, boxed above and kept until the compression ends.
            unsafe {
                imgforge_replace_gathering(&mut self.info, gather_mcu, finish_gathering);
            }
        }
        let mut rows: Vec<*const u8> = pixels.chunks_exact(stride).map(<[u8]>::as_ptr).collect();
        let mut written = 0;
        while written < rows.len() {
            // SAFETY: each pointer is to a row of `stride` bytes; libjpeg reads at most as many
            // rows as it is given, and only reads them.
            written += unsafe {
                mozjpeg_sys::jpeg_write_scanlines(
                    &mut self.info,
                    rows[written..].as_mut_ptr().cast(),
                    (rows.len() - written) as u32,
                )
            } as usize;
        }
        // SAFETY: every row is written; the output buffer holds `size` bytes once finished.
        unsafe {
            mozjpeg_sys::jpeg_finish_compress(&mut self.info);
            self.info.common.client_data = ptr::null_mut();
            let (buffer, size) = *self.output;
            slice::from_raw_parts(buffer, size as usize).to_vec()
        }
    }

    /// Encodes coefficients that `fill` supplies row by row, as the encoder reaches them, and
    /// returns the file. `fill` gets a component's index, a row's index within the component,
    /// and the row to fill, as many blocks long as the component is wide; it is asked for each
    /// row once per encoding pass (twice where Huffman tables are optimised). The parameters
    /// must have been set for the output, as for `jpeg_write_coefficients`.
    ///
    /// No array holds the output's coefficients: libjpeg's transcoder reads its arrays only
    /// through the memory manager's `access_virt_barray`, which is swapped here for one that
    /// returns rows `fill` has just filled. A transform thus reads each source block where it
    /// is and writes nothing but the file.
    pub(super) fn encode_coefficient_rows(
        mut self,
        fill: &mut dyn FnMut(usize, usize, &mut [JBLOCK]),
    ) -> Vec<u8> {
        let components = self.info.num_components as usize;
        let mut supply = RowSupply {
            components: (0..components).map(|_| SuppliedRows::default()).collect(),
            fill,
        };
        // What the encoder is given as arrays: the address of each component's rows, which
        // only `supply_rows` ever looks at.
        let mut handles: Vec<*mut jvirt_barray_control> = supply
            .components
            .iter_mut()
            .map(|rows| ptr::from_mut(rows).cast())
            .collect();
        let (buffer, size) = &mut *self.output;
        // SAFETY: `buffer` and `size` are boxed, so libjpeg's pointers to them stay valid;
        // `jpeg_write_coefficients` keeps `handles`' entries, not the slice, and touches them
        // only through `access_virt_barray`, swapped for `supply_rows` below, before any
        // access. `supply` outlives the compression, which ends in `jpeg_finish_compress`.
        unsafe {
            mozjpeg_sys::jpeg_mem_dest(&mut self.info, buffer, size);
            mozjpeg_sys::jpeg_write_coefficients(&mut self.info, handles.as_mut_ptr());
            let infos = slice::from_raw_parts(self.info.comp_info, components);
            for (rows, info) in supply.components.iter_mut().zip(infos) {
                rows.width = info.width_in_blocks as usize;
                rows.height = info.height_in_blocks as usize;
            }
            self.info.common.client_data = ptr::from_mut(&mut supply).cast();
            (*self.info.common.mem).access_virt_barray = Some(supply_rows);
            mozjpeg_sys::jpeg_finish_compress(&mut self.info);
            self.info.common.client_data = ptr::null_mut();
            let (buffer, size) = *self.output;
            slice::from_raw_parts(buffer, size as usize).to_vec()
        }
    }
}

/// What `gather_mcu` counts into, through the compressor's `client_data`.
struct Gathering {
    /// For each block of an MCU, in order: its component, and its DC and AC tables.
    blocks: Vec<(usize, usize, usize)>,
    dc: [SymbolCounts; 4],
    ac: [SymbolCounts; 4],
    /// By component, the DC coefficient of its last block.
    previous_dc: [i16; 4],
}

impl Gathering {
    /// For the single scan of every component that `info` has started to compress.
    fn of(info: &jpeg_compress_struct) -> Self {
        // SAFETY: `comp_info` holds `num_components` entries once parameters are set.
        let components =
            unsafe { slice::from_raw_parts(info.comp_info, info.num_components as usize) };
        let blocks = components
            .iter()
            .enumerate()
            .flat_map(|(index, c)| {
                // A scan of one component has an MCU of one block, whatever its sampling.
                let count = if components.len() == 1 {
                    1
                } else {
                    (c.h_samp_factor * c.v_samp_factor) as usize
                };
                std::iter::repeat_n((index, c.dc_tbl_no as usize, c.ac_tbl_no as usize), count)
            })
            .collect();
        Self {
            blocks,
            dc: [[0; 257]; 4],
            ac: [[0; 257]; 4],
            previous_dc: [0; 4],
        }
    }
}

/// The compressor's `encode_mcu` while statistics are gathered: counts the MCU's symbols.
unsafe extern "C-unwind" fn gather_mcu(
    info: &mut jpeg_compress_struct,
    blocks: *mut *mut JBLOCK,
) -> boolean {
    // SAFETY: set by `encode_rows` for as long as this function is installed.
    let gathering = unsafe { &mut *info.common.client_data.cast::<Gathering>() };
    for (index, &(component, dc, ac)) in gathering.blocks.iter().enumerate() {
        // SAFETY: libjpeg passes a pointer to each of the MCU's blocks, in the order of
        // `Gathering::blocks`.
        let block = unsafe { &**blocks.add(index) };
        let previous = &mut gathering.previous_dc[component];
        if count_block(
            block,
            *previous,
            &mut gathering.dc[dc],
            &mut gathering.ac[ac],
        )
        .is_err()
        {
            resume_unwind(Box::new(LibjpegError(
                "DCT coefficient out of range".to_owned(),
            )));
        }
        *previous = block[0];
    }
    boolean::from(true)
}

/// The compressor's `finish_pass` after gathering: the optimal tables for the counts, in the
/// slots the scan's components use, as libjpeg's `finish_pass_gather` makes them.
unsafe extern "C-unwind" fn finish_gathering(info: &mut jpeg_compress_struct) {
    // SAFETY: as in `gather_mcu`.
    let gathering = unsafe { &mut *info.common.client_data.cast::<Gathering>() };
    let (mut done_dc, mut done_ac) = ([false; 4], [false; 4]);
    for &(_, dc, ac) in &gathering.blocks {
        for (table, slot, done, counts) in [
            (
                dc,
                &raw mut info.dc_huff_tbl_ptrs,
                &mut done_dc,
                &mut gathering.dc,
            ),
            (
                ac,
                &raw mut info.ac_huff_tbl_ptrs,
                &mut done_ac,
                &mut gathering.ac,
            ),
        ] {
            if done[table] {
                continue;
            }
            done[table] = true;
            // SAFETY: `slot` points into `info`, which lives; a missing table is allocated in
            // libjpeg's memory, as `finish_pass_gather` does; `counts` holds 257 entries.
            unsafe {
                let pointer = &mut (*slot)[table];
                if pointer.is_null() {
                    *pointer = mozjpeg_sys::jpeg_alloc_huff_table(&mut info.common);
                }
                jpeg_gen_optimal_table(info, *pointer, counts[table].as_mut_ptr());
            }
        }
    }
}

/// What `supply_rows` works from, through the compressor's `client_data`.
struct RowSupply<'f> {
    components: Vec<SuppliedRows>,
    fill: &'f mut dyn FnMut(usize, usize, &mut [JBLOCK]),
}

/// One component's rows as last supplied, and the pointers to them handed to libjpeg.
#[derive(Default)]
struct SuppliedRows {
    width: usize,
    height: usize,
    rows: Vec<Vec<JBLOCK>>,
    pointers: Vec<*mut JBLOCK>,
}

/// The compressor's `access_virt_barray` during `encode_coefficient_rows`: `count` rows from
/// `first` of the component whose handle is `array`, filled afresh. Rows below the image (the
/// rest of its last iMCU) are not read by the encoder and are left as they are.
unsafe extern "C-unwind" fn supply_rows(
    info: &mut jpeg_common_struct,
    array: *mut jvirt_barray_control,
    first: c_uint,
    count: c_uint,
    _writable: boolean,
) -> *mut *mut JBLOCK {
    // SAFETY: set by `encode_coefficient_rows` for as long as this function is installed.
    let supply = unsafe { &mut *info.client_data.cast::<RowSupply>() };
    let component = supply
        .components
        .iter()
        .position(|rows| ptr::eq(ptr::from_ref(rows).cast(), array))
        .expect("a handle of encode_coefficient_rows");
    let supplied = &mut supply.components[component];
    let count = count as usize;
    if supplied.rows.len() < count {
        supplied.rows.resize(count, vec![[0; 64]; supplied.width]);
        // Moving the outer vector leaves each row's blocks where they are.
        supplied.pointers = supplied
            .rows
            .iter_mut()
            .map(|row| row.as_mut_ptr())
            .collect();
    }
    for (offset, row) in supplied.rows[..count].iter_mut().enumerate() {
        let index = first as usize + offset;
        if index < supplied.height {
            (supply.fill)(component, index, row);
        }
    }
    supplied.pointers.as_mut_ptr()
}

impl Drop for Compressor {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once; the output buffer, if any, was allocated
        // by `jpeg_mem_dest` with `malloc` and is owned by us.
        unsafe {
            mozjpeg_sys::jpeg_destroy_compress(&mut self.info);
            free(self.output.0.cast());
        }
    }
}

/// Every component's quantised coefficients, as libjpeg's `jpeg_read_coefficients` reads them
/// (stopping at any warning, as `LibjpegError`).
#[cfg(test)]
pub(super) fn coefficients(jpeg: &[u8]) -> Vec<Vec<JBLOCK>> {
    let mut source = Decompressor::read_header(jpeg, Warnings::StopAtAny);
    let grids = source.read_coefficients();
    // SAFETY: the arrays were returned by `jpeg_read_coefficients`, which has filled them.
    let rows = unsafe { source.all_block_rows(&grids) };
    rows.into_iter().map(|rows| rows.concat()).collect()
}
