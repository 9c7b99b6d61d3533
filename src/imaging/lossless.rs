//! Lossless JPEG mirror and quarter-turn rotation: the DCT coefficients are moved and their signs
//! changed, as jpegtran does (libjpeg-turbo's `transupp.c`), so nothing is decoded, nothing is
//! quantised again and no quality is lost. The file's EXIF orientation is composed into the
//! transform, since outputs are the image as displayed and carry no metadata.
//!
//! `transform_jpeg` answers `None` whenever the exact transform is impossible or would not give
//! what the decode/re-encode path gives, and the caller falls back to that path:
//! - a flipped axis (in the stored image) whose length is not a multiple of the iMCU (8 pixels
//!   times the largest sampling factor): its partial edge blocks would move to the opposite edge,
//!   where a decoder cannot place them (jpegtran's `-perfect` condition);
//! - colour spaces other than YCbCr and greyscale (CMYK, YCCK, RGB), and ICC profiles other than
//!   sRGB: the decode path converts these to sRGB, and outputs are sRGB;
//! - anything libjpeg fails on (a damaged file, arithmetic coding this build cannot read): the
//!   decode path then reports or tolerates it as it always has.
//!
//! The source is read whole by `jpeg_read_coefficients`; the output is written as baseline, each
//! of its rows of blocks moved from the source as the encoder reaches it, so no second array of
//! coefficients is made.

use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::{mem, ptr, slice};

use image::metadata::Orientation;
use mozjpeg_sys::{J_COLOR_SPACE, J_INT_PARAM, JBLOCK, JCP_FASTEST, boolean, jpeg_compress_struct};

use super::encode::OPTIMIZED_CODING_MAX_PIXELS;
use super::geometry::Mirror;
use super::libjpeg::{Compressor, Decompressor, JpegMarkers, Warnings};
use super::profile::needs_conversion;
use super::sequential::McuRows;
use super::transform::{Operation, Output};
use crate::domain::Format;

/// Coefficients per block, and per block row and column.
const BLOCK: usize = 64;
const BLOCK_SIDE: usize = 8;

/// The JPEG `input` mirrored or turned by `operation` (shown through its EXIF orientation), with
/// its DCT coefficients moved rather than decoded; `None` where the decode path must do it.
pub(super) fn transform_jpeg(input: &[u8], operation: &Operation) -> Option<Output> {
    let operation = Symmetry::of_operation(operation)?;
    // libjpeg reports fatal errors by unwinding out of its error handler; the guards free its
    // memory on the way out.
    catch_unwind(AssertUnwindSafe(|| transform_unguarded(input, operation)))
        .ok()
        .flatten()
}

fn transform_unguarded(input: &[u8], operation: Symmetry) -> Option<Output> {
    let mut source = Decompressor::read_header(input, Warnings::StopAtAny);
    let JpegMarkers {
        orientation, icc, ..
    } = source.markers();
    let src = source.info_mut();
    if icc.as_deref().is_some_and(needs_conversion) {
        return None;
    }
    let components = match (src.jpeg_color_space, src.num_components) {
        (J_COLOR_SPACE::JCS_YCbCr, 3) | (J_COLOR_SPACE::JCS_GRAYSCALE, 1) => {
            src.num_components as usize
        }
        _ => return None,
    };
    let symmetry = Symmetry::of_orientation(orientation).then(operation);
    let (width, height) = (src.image_width, src.image_height);
    let imcu_width = src.max_h_samp_factor as u32 * BLOCK_SIDE as u32;
    let imcu_height = src.max_v_samp_factor as u32 * BLOCK_SIDE as u32;
    if (symmetry.flips_source_x() && width % imcu_width != 0)
        || (symmetry.flips_source_y() && height % imcu_height != 0)
    {
        return None;
    }

    let moves = CoefficientMoves::of(symmetry);
    // Rows that stay in order stream from the file to the encoder, where this crate's decoder
    // reads the file as libjpeg would; otherwise, or if it finds the data damaged, libjpeg reads
    // the whole source first.
    if !symmetry.transposes()
        && !symmetry.flips_source_y()
        && let Some(mut scan) = McuRows::new(input)
    {
        let target = target_for(&mut source, symmetry, components);
        let streamed = catch_unwind(AssertUnwindSafe(|| {
            target.encode_coefficient_rows(&mut |component, row, blocks| {
                let from = scan
                    .row(component, row)
                    .unwrap_or_else(|damaged| resume_unwind(Box::new(damaged)));
                moves.move_row(from, symmetry.flips_source_x(), blocks);
            })
        }));
        if let Ok(output) = streamed {
            return Some(output);
        }
    }

    let source_grids = source.read_coefficients();
    let target = target_for(&mut source, symmetry, components);
    // SAFETY: the arrays were returned by `jpeg_read_coefficients`, which has filled them.
    let source_rows = unsafe { source.all_block_rows(&source_grids) };
    Some(
        target.encode_coefficient_rows(&mut |component, row, blocks| {
            let rows = &source_rows[component];
            let grid = &source_grids[component];
            moves.fill_row(rows, (grid.width, grid.height), symmetry, row, blocks);
        }),
    )
}

/// A compressor for `source` moved by `symmetry`: its quantisation and sampling, axes swapped
/// where the symmetry transposes, written as baseline with optimised Huffman tables where the
/// re-encoding path would use them.
fn target_for(source: &mut Decompressor, symmetry: Symmetry, components: usize) -> Target {
    let mut compressor = Compressor::new();
    let dst = compressor.info_mut();
    // SAFETY: both structures are live; `dst` is freshly created, in the state this requires.
    // The fastest profile is libjpeg-turbo's defaults: no mozjpeg progressive scan script.
    unsafe {
        mozjpeg_sys::jpeg_c_set_int_param(
            dst,
            J_INT_PARAM::JINT_COMPRESS_PROFILE,
            JCP_FASTEST as c_int,
        );
        mozjpeg_sys::jpeg_copy_critical_parameters(source.info_mut(), dst);
    }
    if symmetry.transposes() {
        transpose_parameters(dst, components);
    }
    dst.num_scans = 0;
    dst.scan_info = ptr::null();
    let pixels = u64::from(dst.image_width) * u64::from(dst.image_height);
    dst.optimize_coding = boolean::from(pixels <= OPTIMIZED_CODING_MAX_PIXELS);
    Target {
        width: dst.image_width,
        height: dst.image_height,
        compressor,
    }
}

/// The output's compressor, set up, and its size.
struct Target {
    compressor: Compressor,
    width: u32,
    height: u32,
}

impl Target {
    /// The output, its rows of blocks filled by `fill` (as `encode_coefficient_rows` asks).
    fn encode_coefficient_rows(self, fill: &mut dyn FnMut(usize, usize, &mut [JBLOCK])) -> Output {
        Output {
            bytes: self.compressor.encode_coefficient_rows(fill),
            format: Format::Jpeg,
            width: self.width,
            height: self.height,
        }
    }
}

/// Swaps the axes of what `jpeg_copy_critical_parameters` copied: dimensions, sampling factors
/// and quantisation tables (a coefficient moves from row v, column u to row u, column v, and its
/// divisor with it).
fn transpose_parameters(dst: &mut jpeg_compress_struct, components: usize) {
    mem::swap(&mut dst.image_width, &mut dst.image_height);
    mem::swap(&mut dst.X_density, &mut dst.Y_density);
    // SAFETY: `comp_info` holds `num_components` entries after `jpeg_copy_critical_parameters`.
    let infos = unsafe { slice::from_raw_parts_mut(dst.comp_info, components) };
    for info in infos {
        mem::swap(&mut info.h_samp_factor, &mut info.v_samp_factor);
    }
    for &table in &dst.quant_tbl_ptrs {
        // SAFETY: non-null entries are tables `jpeg_copy_critical_parameters` allocated in
        // `dst`'s memory.
        if let Some(table) = unsafe { table.as_mut() } {
            table.quantval = transposed(&table.quantval);
        }
    }
}

fn transposed<T: Copy>(block: &[T; BLOCK]) -> [T; BLOCK] {
    std::array::from_fn(|index| block[(index % BLOCK_SIDE) * BLOCK_SIDE + index / BLOCK_SIDE])
}

/// One of the eight symmetries of a rectangle (EXIF's eight orientations), as the matrix taking
/// an output pixel's position, measured from the centre as (x, y), to the source position it
/// shows. Each row has one non-zero entry, ±1: row 0 gives the source x, row 1 the source y.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Symmetry([[i8; 2]; 2]);

impl Symmetry {
    const IDENTITY: Self = Self([[1, 0], [0, 1]]);
    const FLIP_X: Self = Self([[-1, 0], [0, 1]]);
    const FLIP_Y: Self = Self([[1, 0], [0, -1]]);
    const HALF_TURN: Self = Self([[-1, 0], [0, -1]]);
    /// A quarter turn clockwise: output (x, y) shows source (y, -x).
    const QUARTER_TURN: Self = Self([[0, 1], [-1, 0]]);
    const THREE_QUARTER_TURN: Self = Self([[0, -1], [1, 0]]);
    /// Across the main diagonal.
    const TRANSPOSE: Self = Self([[0, 1], [1, 0]]);
    /// Across the other diagonal.
    const TRANSVERSE: Self = Self([[0, -1], [-1, 0]]);

    /// The operation's symmetry, if it is a mirror or a rotation by a multiple of 90°.
    fn of_operation(operation: &Operation) -> Option<Self> {
        match operation {
            Operation::Mirror(Mirror::Horizontal) => Some(Self::FLIP_X),
            Operation::Mirror(Mirror::Vertical) => Some(Self::FLIP_Y),
            Operation::Mirror(Mirror::Both) => Some(Self::HALF_TURN),
            Operation::Rotate { degrees } => {
                // The same tolerance as `geometry::rotate`'s exact quarter turns.
                let turns = degrees.rem_euclid(360.0) / 90.0;
                let nearest = turns.round();
                if (turns - nearest).abs() * 90.0 >= 1e-9 {
                    return None;
                }
                Some(match nearest as u32 % 4 {
                    0 => Self::IDENTITY,
                    1 => Self::QUARTER_TURN,
                    2 => Self::HALF_TURN,
                    _ => Self::THREE_QUARTER_TURN,
                })
            }
            _ => None,
        }
    }

    /// What displaying a stored image with `orientation` does to it.
    fn of_orientation(orientation: Orientation) -> Self {
        match orientation {
            Orientation::NoTransforms => Self::IDENTITY,
            Orientation::FlipHorizontal => Self::FLIP_X,
            Orientation::Rotate180 => Self::HALF_TURN,
            Orientation::FlipVertical => Self::FLIP_Y,
            Orientation::Rotate90FlipH => Self::TRANSPOSE,
            Orientation::Rotate90 => Self::QUARTER_TURN,
            Orientation::Rotate270FlipH => Self::TRANSVERSE,
            Orientation::Rotate270 => Self::THREE_QUARTER_TURN,
        }
    }

    /// `self`, then `next` on its result: an output position goes through `next`'s matrix to
    /// `self`'s output, then through `self`'s to the source.
    fn then(self, next: Self) -> Self {
        let (a, b) = (self.0, next.0);
        Self(std::array::from_fn(|row| {
            std::array::from_fn(|column| a[row][0] * b[0][column] + a[row][1] * b[1][column])
        }))
    }

    /// Whether output rows come from source columns.
    fn transposes(self) -> bool {
        self.0[0][0] == 0
    }

    /// Whether the source's x axis runs backwards in the output.
    fn flips_source_x(self) -> bool {
        self.0[0][0] + self.0[0][1] < 0
    }

    fn flips_source_y(self) -> bool {
        self.0[1][0] + self.0[1][1] < 0
    }

    /// The source position, in a `width`×`height` grid, shown at `position` of the output.
    fn source_of(self, (x, y): (usize, usize), (width, height): (usize, usize)) -> (usize, usize) {
        let (along_x, along_y) = if self.transposes() { (y, x) } else { (x, y) };
        (
            if self.flips_source_x() {
                width - 1 - along_x
            } else {
                along_x
            },
            if self.flips_source_y() {
                height - 1 - along_y
            } else {
                along_y
            },
        )
    }
}

/// Where each coefficient of an output block comes from in its source block, and its sign.
/// Coefficients are in natural order (row v of vertical frequency, column u of horizontal
/// frequency); running an axis backwards negates the odd frequencies along it, and a transpose
/// swaps rows and columns.
struct CoefficientMoves {
    transposes: bool,
    /// Source index of each output coefficient (the identity when not transposing).
    from: [u8; BLOCK],
    /// +1 or −1: multiplying rather than branching lets the compiler vectorise the loop.
    signs: [i16; BLOCK],
}

impl CoefficientMoves {
    fn of(symmetry: Symmetry) -> Self {
        let transposes = symmetry.transposes();
        let source = |index: usize| {
            let (v, u) = (index / BLOCK_SIDE, index % BLOCK_SIDE);
            if transposes { (u, v) } else { (v, u) }
        };
        Self {
            transposes,
            from: std::array::from_fn(|index| {
                let (v, u) = source(index);
                (v * BLOCK_SIDE + u) as u8
            }),
            signs: std::array::from_fn(|index| {
                let (v, u) = source(index);
                let negate = (symmetry.flips_source_x() && u % 2 == 1)
                    ^ (symmetry.flips_source_y() && v % 2 == 1);
                if negate { -1 } else { 1 }
            }),
        }
    }

    /// Output row `row` of a component, into `blocks`: the source blocks `symmetry` shows there,
    /// from the source's `rows` (`size` blocks across and down), each moved.
    fn fill_row(
        &self,
        rows: &[&[JBLOCK]],
        size: (usize, usize),
        symmetry: Symmetry,
        row: usize,
        blocks: &mut [JBLOCK],
    ) {
        if symmetry.transposes() {
            // The output row is a source column.
            let (x, _) = symmetry.source_of((0, row), size);
            for (column, block) in blocks.iter_mut().enumerate() {
                let (_, y) = symmetry.source_of((column, row), size);
                self.apply(&rows[y][x], block);
            }
        } else {
            let (_, y) = symmetry.source_of((0, row), size);
            self.move_row(rows[y], symmetry.flips_source_x(), blocks);
        }
    }

    /// The source row `from` into the output row `blocks`, each block moved, in reverse order
    /// where the symmetry `flips` the x axis.
    fn move_row(&self, from: &[JBLOCK], flips: bool, blocks: &mut [JBLOCK]) {
        if flips {
            for (block, from) in blocks.iter_mut().zip(from.iter().rev()) {
                self.apply(from, block);
            }
        } else {
            for (block, from) in blocks.iter_mut().zip(from) {
                self.apply(from, block);
            }
        }
    }

    // Quantised coefficients are within ±2047 (8-bit JPEG) or a damaged file's noise: wrapping
    // keeps either from panicking.
    fn apply(&self, source: &JBLOCK, target: &mut JBLOCK) {
        if self.transposes {
            for ((out, &from), &sign) in target.iter_mut().zip(&self.from).zip(&self.signs) {
                *out = source[usize::from(from)].wrapping_mul(sign);
            }
        } else {
            for ((out, &coefficient), &sign) in target.iter_mut().zip(source).zip(&self.signs) {
                *out = coefficient.wrapping_mul(sign);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use image::RgbImage;

    use super::*;
    use crate::imaging::fixtures;
    use crate::imaging::geometry::{mirror, rotate};
    use crate::imaging::libjpeg::coefficients;
    use crate::imaging::{DecodeHint, decode, transform};

    const PLENTY: u64 = 1 << 26;
    const SUBSAMPLED: (u8, u8) = (2, 2);
    const FULL_CHROMA: (u8, u8) = (1, 1);

    const OPERATIONS: [Operation; 6] = [
        Operation::Mirror(Mirror::Horizontal),
        Operation::Mirror(Mirror::Vertical),
        Operation::Mirror(Mirror::Both),
        Operation::Rotate { degrees: 90.0 },
        Operation::Rotate { degrees: 180.0 },
        Operation::Rotate { degrees: -90.0 },
    ];

    fn lossless(jpeg: &[u8], operation: &Operation) -> Output {
        transform_jpeg(jpeg, operation).expect("an exact transform")
    }

    fn pixels(jpeg: &[u8]) -> RgbImage {
        decode(jpeg, PLENTY, DecodeHint::default())
            .unwrap()
            .image
            .into_rgb8()
    }

    /// The decode path's pixels for `operation`, before they are encoded again.
    fn decoded_and_operated(jpeg: &[u8], operation: &Operation) -> RgbImage {
        let mut image = decode(jpeg, PLENTY, DecodeHint::default()).unwrap().image;
        match operation {
            Operation::Mirror(mode) => mirror(&mut image, *mode),
            Operation::Rotate { degrees } => image = rotate(image, *degrees, false),
            _ => unreachable!("only mirrors and rotations"),
        }
        image.into_rgb8()
    }

    /// The exact transform's pixels, as displayed, against the decode path's: the same size,
    /// and the same pixels up to the rounding of decoding in another order.
    fn assert_exact_as_decode_path_shows(jpeg: &[u8], operation: &Operation, case: &str) {
        let output = lossless(jpeg, operation);
        let got = pixels(&output.bytes);
        assert_eq!(got.dimensions(), (output.width, output.height), "{case}");
        let expected = decoded_and_operated(jpeg, operation);
        assert_eq!(got.dimensions(), expected.dimensions(), "{case}");
        let difference = largest_difference(&got, &expected);
        assert!(difference <= 3, "{case}: differs by {difference}");
    }

    fn largest_difference(a: &RgbImage, b: &RgbImage) -> u8 {
        assert_eq!(a.dimensions(), b.dimensions());
        a.as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap_or(0)
    }

    /// The markers before the first scan.
    fn header_markers(jpeg: &[u8]) -> Vec<u8> {
        let mut markers = Vec::new();
        let mut at = 2;
        while jpeg[at] == 0xFF && jpeg[at + 1] != 0xDA {
            markers.push(jpeg[at + 1]);
            at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        }
        markers
    }

    #[test]
    fn mirroring_twice_returns_the_original_coefficients() {
        for chroma in [SUBSAMPLED, FULL_CHROMA] {
            let jpeg = fixtures::textured_jpeg(64, 48, chroma, false);
            let original = coefficients(&jpeg);
            for mode in [Mirror::Horizontal, Mirror::Vertical, Mirror::Both] {
                let operation = Operation::Mirror(mode);
                let once = lossless(&jpeg, &operation).bytes;
                assert_ne!(coefficients(&once), original, "{mode:?} moves something");
                let twice = lossless(&once, &operation).bytes;
                assert_eq!(coefficients(&twice), original, "{mode:?}, {chroma:?}");
            }
        }
    }

    #[test]
    fn four_quarter_turns_return_the_original_coefficients() {
        for chroma in [SUBSAMPLED, FULL_CHROMA, (2, 1)] {
            let jpeg = fixtures::textured_jpeg(64, 48, chroma, false);
            let original = coefficients(&jpeg);
            let mut turned = jpeg.clone();
            for turn in 1..=4 {
                let output = lossless(&turned, &Operation::Rotate { degrees: 90.0 });
                let expected = if turn % 2 == 1 { (48, 64) } else { (64, 48) };
                assert_eq!((output.width, output.height), expected);
                turned = output.bytes;
                if turn < 4 {
                    assert_ne!(coefficients(&turned), original, "turn {turn}");
                }
            }
            assert_eq!(coefficients(&turned), original, "{chroma:?}");
        }
    }

    #[test]
    fn lossless_pixels_match_the_decode_path_within_rounding() {
        // 80×48 at 4:2:0 and 72×40 at 4:4:4 have an odd number of blocks across and down, so a
        // flipped row or column has a middle block that stays where it is.
        for (chroma, progressive, (width, height)) in [
            (SUBSAMPLED, false, (64, 48)),
            (FULL_CHROMA, false, (64, 48)),
            (SUBSAMPLED, true, (64, 48)),
            (SUBSAMPLED, false, (80, 48)),
            (FULL_CHROMA, false, (72, 40)),
        ] {
            let jpeg = fixtures::textured_jpeg(width, height, chroma, progressive);
            for operation in &OPERATIONS {
                let case = format!(
                    "{operation:?}, {width}×{height}, {chroma:?}, progressive {progressive}"
                );
                assert_exact_as_decode_path_shows(&jpeg, operation, &case);
            }
        }
    }

    #[test]
    fn every_exif_orientation_is_displayed_as_the_decode_path_shows_it() {
        for orientation in 1..=8 {
            let jpeg = fixtures::jpeg_with_orientation(48, 32, orientation);
            for operation in &OPERATIONS {
                let case = format!("orientation {orientation}, {operation:?}");
                assert_exact_as_decode_path_shows(&jpeg, operation, &case);
            }
        }
    }

    #[test]
    fn odd_sizes_in_every_exif_orientation_come_out_as_the_decode_path_shows_them() {
        // 45×31: neither axis is whole blocks, so only what composes to no flip at all (say, a
        // quarter turn shown by EXIF undone by the operation) stays exact; the rest falls back.
        for orientation in 1..=8 {
            let jpeg = fixtures::jpeg_with_orientation(45, 31, orientation);
            let shown =
                Symmetry::of_orientation(Orientation::from_exif(orientation as u8).unwrap());
            for operation in &OPERATIONS {
                let case = format!("orientation {orientation}, {operation:?}");
                let symmetry = shown.then(Symmetry::of_operation(operation).unwrap());
                let exact = !symmetry.flips_source_x() && !symmetry.flips_source_y();
                assert_eq!(transform_jpeg(&jpeg, operation).is_some(), exact, "{case}");
                let output = transform(&jpeg, operation, PLENTY).unwrap();
                let got = pixels(&output.bytes);
                let expected = decoded_and_operated(&jpeg, operation);
                assert_eq!(got.dimensions(), expected.dimensions(), "{case}");
                assert_eq!(
                    (output.width, output.height),
                    expected.dimensions(),
                    "{case}"
                );
                let total: u64 = got
                    .as_raw()
                    .iter()
                    .zip(expected.as_raw())
                    .map(|(a, b)| u64::from(a.abs_diff(*b)))
                    .sum();
                let mean = total as f64 / got.as_raw().len() as f64;
                // Re-encoding at quality 80 moves a smooth gradient by a level or two; a wrong
                // orientation moves it by tens.
                assert!(mean < 4.0, "{case}: differs by {mean:.1} on average");
            }
        }
    }

    #[test]
    fn edges_that_would_move_partial_blocks_fall_back_with_the_right_dimensions() {
        let odd = fixtures::textured_jpeg(65, 47, SUBSAMPLED, false);
        for operation in &OPERATIONS {
            assert!(transform_jpeg(&odd, operation).is_none(), "{operation:?}");
            let output = transform(&odd, operation, PLENTY).unwrap();
            let expected = decoded_and_operated(&odd, operation).dimensions();
            assert_eq!((output.width, output.height), expected);
            assert_eq!(pixels(&output.bytes).dimensions(), expected);
        }
        // A partial edge that stays where it is does not stop the exact transform.
        let short = fixtures::textured_jpeg(64, 47, SUBSAMPLED, false);
        let operation = Operation::Mirror(Mirror::Horizontal);
        assert_exact_as_decode_path_shows(&short, &operation, "64x47 mirrored");
    }

    #[test]
    fn greyscale_sources_take_the_lossless_path() {
        let samples: Vec<u8> = (0..64u32 * 48).map(|i| (i * 37 % 251) as u8).collect();
        let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_GRAYSCALE);
        compress.set_size(64, 48);
        let mut started = compress.start_compress(Vec::new()).expect("compressing");
        started.write_scanlines(&samples).expect("writing");
        let grey = started.finish().expect("finishing");
        for operation in &OPERATIONS {
            assert_exact_as_decode_path_shows(&grey, operation, &format!("grey, {operation:?}"));
        }
    }

    #[test]
    fn colour_managed_and_odd_angle_sources_fall_back() {
        let cmyk = fixtures::cmyk_jpeg(16, 16, [0, 255, 0, 0]);
        assert!(transform_jpeg(&cmyk, &OPERATIONS[0]).is_none());
        let jpeg = fixtures::textured_jpeg(64, 48, SUBSAMPLED, false);
        let with_profile = |profile: moxcms::ColorProfile| {
            let mut segment = b"ICC_PROFILE\0\x01\x01".to_vec();
            segment.extend(profile.encode().expect("a profile"));
            let length = u16::try_from(segment.len() + 2).expect("one segment");
            let mut tagged = jpeg[..2].to_vec();
            tagged.extend_from_slice(&[0xFF, 0xE2]);
            tagged.extend_from_slice(&length.to_be_bytes());
            tagged.extend(segment);
            tagged.extend_from_slice(&jpeg[2..]);
            tagged
        };
        let display_p3 = with_profile(moxcms::ColorProfile::new_display_p3());
        assert!(transform_jpeg(&display_p3, &OPERATIONS[0]).is_none());
        let srgb = with_profile(moxcms::ColorProfile::new_srgb());
        assert!(transform_jpeg(&srgb, &OPERATIONS[0]).is_some());
        assert!(transform_jpeg(&jpeg, &Operation::Rotate { degrees: 45.0 }).is_none());
        assert!(transform_jpeg(&jpeg, &Operation::Blur { sigma: 1.0 }).is_none());
    }

    #[test]
    fn outputs_are_baseline_without_metadata() {
        let jpeg = fixtures::jpeg_with_orientation(48, 32, 6);
        assert!(header_markers(&jpeg).contains(&0xE1));
        let output = lossless(&jpeg, &Operation::Rotate { degrees: 90.0 });
        let markers = header_markers(&output.bytes);
        assert!(markers.contains(&0xC0), "baseline: {markers:x?}");
        // APP0 is the JFIF header every encoder writes; no other APPn segment is kept.
        assert!(
            markers.iter().all(|&m| !(0xE1..=0xEF).contains(&m)),
            "{markers:x?}"
        );
        assert!(!output.bytes.windows(6).any(|w| w == b"Exif\0\0"));
    }

    #[test]
    fn damaged_files_fall_back_and_fail() {
        let jpeg = fixtures::textured_jpeg(64, 48, SUBSAMPLED, false);
        for cut in [20, 200, jpeg.len() / 2, jpeg.len() - 2] {
            for operation in &OPERATIONS {
                assert!(
                    transform_jpeg(&jpeg[..cut], operation).is_none(),
                    "cut at {cut}"
                );
                assert!(
                    transform(&jpeg[..cut], operation, PLENTY).is_err(),
                    "cut at {cut}"
                );
            }
        }
        let mut garbage = jpeg[..4].to_vec();
        garbage.extend(std::iter::repeat_n(0xAB, 400));
        assert!(transform_jpeg(&garbage, &OPERATIONS[0]).is_none());
        assert!(transform(&garbage, &OPERATIONS[0], PLENTY).is_err());
    }

    #[test]
    fn symmetries_compose_like_the_operations() {
        let quarter = Symmetry::QUARTER_TURN;
        assert_eq!(quarter.then(quarter), Symmetry::HALF_TURN);
        assert_eq!(
            quarter.then(quarter).then(quarter).then(quarter),
            Symmetry::IDENTITY
        );
        assert_eq!(Symmetry::FLIP_X.then(Symmetry::FLIP_Y), Symmetry::HALF_TURN);
        // EXIF 5 is a quarter turn then a horizontal flip.
        assert_eq!(quarter.then(Symmetry::FLIP_X), Symmetry::TRANSPOSE);
        // Every symmetry of a rectangle undoes itself in at most four steps.
        for orientation in 1..=8 {
            let symmetry = Symmetry::of_orientation(Orientation::from_exif(orientation).unwrap());
            let four = symmetry.then(symmetry).then(symmetry).then(symmetry);
            assert_eq!(four, Symmetry::IDENTITY);
        }
    }
}
