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
    J_COLOR_SPACE, JBLOCK, JWRN_EXTRANEOUS_DATA, boolean, jpeg_common_struct, jpeg_compress_struct,
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
