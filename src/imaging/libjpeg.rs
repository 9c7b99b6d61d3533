//! libjpeg (mozjpeg's) through its C API, for what the `mozjpeg` crate does not wrap: reading
//! and writing DCT coefficients, and decoding part of an image. Each structure is destroyed, with
//! everything libjpeg allocated for it, when dropped, unwinding included; errors and warnings
//! unwind out of libjpeg as `LibjpegFailed`, for the caller to catch and fall back on the
//! decode path, which reports them.

use std::marker::PhantomData;
use std::os::raw::{c_int, c_uint, c_ulong, c_void};
use std::panic::resume_unwind;
use std::{mem, ptr, slice};

use image::metadata::Orientation;

use super::profile::jpeg_icc_profile;
use mozjpeg_sys::{
    J_COLOR_SPACE, JBLOCK, JPOOL_IMAGE, JWRN_EXTRANEOUS_DATA, boolean, jpeg_common_struct,
    jpeg_compress_struct, jpeg_decompress_struct, jpeg_error_mgr, jvirt_barray_control,
};

/// A component's coefficient array, its size in blocks that hold image data, and its sampling
/// factors (horizontal, vertical), which are its iMCU's size in blocks.
pub(super) struct BlockGrid {
    pub(super) array: *mut jvirt_barray_control,
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) sampling: (usize, usize),
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

unsafe extern "C" {
    /// The C library's `free`, for the buffer `jpeg_mem_dest` allocates with `malloc`.
    fn free(pointer: *mut c_void);
}

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

/// An error manager that unwinds instead of exiting, and on warnings too.
fn unwinding_error_manager() -> Box<jpeg_error_mgr> {
    // SAFETY: an all-zero error manager is valid input to `jpeg_std_error`, which fills it.
    let mut errors: Box<jpeg_error_mgr> = Box::new(unsafe { mem::zeroed() });
    // SAFETY: `errors` is a valid, exclusively borrowed error manager.
    unsafe { mozjpeg_sys::jpeg_std_error(&mut errors) };
    errors.error_exit = Some(unwind_on_error);
    errors.emit_message = Some(give_up_on_warning);
    errors
}

/// Why `transform_jpeg` gives up: libjpeg failed, and the decode path will say how.
struct LibjpegFailed;

extern "C-unwind" fn unwind_on_error(_info: &mut jpeg_common_struct) {
    resume_unwind(Box::new(LibjpegFailed));
}

/// A warning (level −1) means damaged data, which libjpeg would pass on as grey or noise; the
/// decode path then decides what to make of the file. Trace messages are ignored.
extern "C-unwind" fn give_up_on_warning(_info: &mut jpeg_common_struct, level: c_int) {
    if level < 0 {
        resume_unwind(Box::new(LibjpegFailed));
    }
}

/// As `give_up_on_warning`, except for data skipped before a marker, which is what libjpeg
/// reports when a scan goes on past the rows it was told the image has.
extern "C-unwind" fn give_up_on_warning_but_skipped_data(
    info: &mut jpeg_common_struct,
    level: c_int,
) {
    // SAFETY: libjpeg calls its error manager with `err` set.
    let code = unsafe { (*info.err).msg_code };
    if code != JWRN_EXTRANEOUS_DATA as c_int {
        give_up_on_warning(info, level);
    }
}

/// A libjpeg decompressor, destroyed (with all it allocated) when dropped, unwinding included.
pub(super) struct Decompressor<'a> {
    info: Box<jpeg_decompress_struct>,
    /// The error manager `info` points to; its warning handler may be swapped.
    errors: Box<jpeg_error_mgr>,
    _input: PhantomData<&'a [u8]>,
}

impl<'a> Decompressor<'a> {
    /// Reads the header of the JPEG `input`, keeping its EXIF and ICC markers.
    pub(super) fn read_header(input: &'a [u8]) -> Self {
        let mut errors = unwinding_error_manager();
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
            _input: PhantomData,
        };
        let info = &mut decompressor.info;
        // SAFETY: the structure is created; `input` outlives it, as it is borrowed for `'a`.
        unsafe {
            mozjpeg_sys::jpeg_mem_src(info, input.as_ptr(), input.len() as c_ulong);
            mozjpeg_sys::jpeg_save_markers(info, APP1.into(), 0xFFFF);
            mozjpeg_sys::jpeg_save_markers(info, APP2.into(), 0xFFFF);
            mozjpeg_sys::jpeg_read_header(info, 1);
        }
        decompressor
    }

    /// Accepts data skipped at the end of each scan: for a file whose frame header was made to
    /// say the image ends before its scans do.
    pub(super) fn allow_skipped_scan_data(&mut self) {
        self.errors.emit_message = Some(give_up_on_warning_but_skipped_data);
    }

    /// What the markers `jpeg_save_markers` kept say, read as the decode path reads its own.
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

    /// Starts decoding to RGB, columns `x..x + width` only (libjpeg's `jpeg_crop_scanline`),
    /// which libjpeg widens to whole iMCUs: the columns it will decode, as (x, width).
    pub(super) fn start_rgb_columns(&mut self, x: u32, width: u32) -> (u32, u32) {
        self.info.out_color_space = J_COLOR_SPACE::JCS_RGB;
        let (mut x, mut width) = (x, width);
        // SAFETY: the header has been read; `jpeg_crop_scanline` is called after
        // `jpeg_start_decompress` and before any row is read, as it requires.
        unsafe {
            mozjpeg_sys::jpeg_start_decompress(&mut self.info);
            mozjpeg_sys::jpeg_crop_scanline(&mut self.info, &mut x, &mut width);
        }
        (x, width)
    }

    /// Passes over `rows` rows without making their pixels (libjpeg's `jpeg_skip_scanlines`).
    pub(super) fn skip_rows(&mut self, rows: u32) {
        // SAFETY: decoding has started; libjpeg stops at the image's last row.
        unsafe { mozjpeg_sys::jpeg_skip_scanlines(&mut self.info, rows) };
    }

    /// The next row's pixels, 3 bytes each, into `row`.
    pub(super) fn read_row(&mut self, row: &mut [u8]) {
        let width = self.info.output_width as usize * self.info.output_components as usize;
        assert!(row.len() >= width, "a row of {width} bytes");
        let mut rows = [row.as_mut_ptr()];
        // SAFETY: decoding has started; libjpeg writes one row of `output_width` pixels of
        // `output_components` bytes, which `row` holds.
        unsafe { mozjpeg_sys::jpeg_read_scanlines(&mut self.info, rows.as_mut_ptr(), 1) };
    }

    pub(super) fn info_mut(&mut self) -> &mut jpeg_decompress_struct {
        &mut self.info
    }

    /// # Safety
    /// As `access_rows`, for one row.
    pub(super) unsafe fn writable_block_row(
        &mut self,
        array: *mut jvirt_barray_control,
        row: usize,
        width: usize,
    ) -> &mut [JBLOCK] {
        // SAFETY: the caller's contract; one row is within every array's access limit.
        unsafe { access_rows(&mut self.info.common, array, row, 1, width) }
            .pop()
            .expect("one row")
    }

    /// # Safety
    /// As `access_rows`, for one row.
    pub(super) unsafe fn block_row(
        &mut self,
        array: *mut jvirt_barray_control,
        row: usize,
        width: usize,
    ) -> &[JBLOCK] {
        // SAFETY: the caller's contract.
        unsafe { self.writable_block_row(array, row, width) }
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
        let mut errors = unwinding_error_manager();
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

    pub(super) fn info_mut(&mut self) -> &mut jpeg_compress_struct {
        &mut self.info
    }

    /// An array for the transpose of `grid`, in this compressor's memory, allowing all its rows
    /// to be accessed at once; realised by `write_coefficients_to_memory`. As `transupp.c`
    /// allocates them: whole iMCUs, not zeroed, as the encoder reads no block beyond the
    /// image's own, and every one of those is filled.
    pub(super) fn transposed_grid(&mut self, grid: &BlockGrid) -> BlockGrid {
        let (h_samp, v_samp) = (grid.sampling.1, grid.sampling.0);
        let (width, height) = (grid.height, grid.width);
        let rows = height.next_multiple_of(v_samp);
        // SAFETY: `mem` is set by the create call; requests are allowed before compression
        // starts, and the array lives until the compressor is destroyed.
        let array = unsafe {
            let request = (*self.info.common.mem)
                .request_virt_barray
                .expect("libjpeg's memory manager");
            request(
                &mut self.info.common,
                JPOOL_IMAGE,
                boolean::from(false),
                width.next_multiple_of(h_samp) as c_uint,
                rows as c_uint,
                rows as c_uint,
            )
        };
        BlockGrid {
            array,
            width,
            height,
            sampling: (h_samp, v_samp),
        }
    }

    /// Starts writing `arrays` (one per component) to memory. They are read when `finish` is
    /// called, so they may be filled in between, as jpegtran does.
    pub(super) fn write_coefficients_to_memory(
        &mut self,
        arrays: &mut [*mut jvirt_barray_control],
    ) {
        let (buffer, size) = &mut *self.output;
        // SAFETY: the parameters have been set from the source; `buffer` and `size` are boxed,
        // so libjpeg's pointers to them stay valid; `jpeg_write_coefficients` keeps `arrays`'
        // entries, not the slice, and realises the requested arrays.
        unsafe {
            mozjpeg_sys::jpeg_mem_dest(&mut self.info, buffer, size);
            mozjpeg_sys::jpeg_write_coefficients(&mut self.info, arrays.as_mut_ptr());
        }
    }

    /// Every row of `grid`'s array.
    ///
    /// # Safety
    /// `grid` was made by `transposed_grid` and realised; as `access_rows`.
    pub(super) unsafe fn all_rows(&mut self, grid: &BlockGrid) -> Vec<&mut [JBLOCK]> {
        // SAFETY: the caller's contract: `transposed_grid` allows all rows at once.
        unsafe {
            access_rows(
                &mut self.info.common,
                grid.array,
                0,
                grid.height,
                grid.width,
            )
        }
    }

    /// Encodes the coefficients and returns the file.
    pub(super) fn finish(mut self) -> Vec<u8> {
        // SAFETY: compression was started by `write_coefficients_to_memory`; afterwards the
        // buffer holds `size` bytes.
        unsafe {
            mozjpeg_sys::jpeg_finish_compress(&mut self.info);
            let (buffer, size) = *self.output;
            slice::from_raw_parts(buffer, size as usize).to_vec()
        }
    }
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
