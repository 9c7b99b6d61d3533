//! Entropy decoding of sequential (baseline and extended) Huffman-coded JPEGs into their
//! quantised DCT coefficients, in the order libjpeg's decoder gives them but faster: one lookup
//! of the next 11 bits yields a whole coefficient (code, run and value together), and the bits
//! come from a 64-bit buffer filled eight bytes at a time. It serves twice:
//!
//! - as libjpeg's own entropy decoder (`libjpeg::Decompressor::decode_entropy_here`), which
//!   hands it each MCU's blocks: libjpeg does all the rest (scaled inverse DCTs, upsampling,
//!   colour conversion, rows and columns skipped), and the AC symbols libjpeg would not use
//!   (of MCUs whose pixels are not wanted, of blocks reduced to their DC coefficient) are only
//!   parsed, as many at a time as the lookup's bits hold;
//! - row by row for a lossless transform that keeps rows in order (`McuRows`), which then
//!   streams from the file to the encoder without an array for the whole image.
//!
//! Only what libjpeg would read the same way is accepted: `SequentialScan::new` answers `None`
//! unless the file is an 8-bit sequential Huffman-coded frame whose first scan holds every
//! component, with valid tables. Wherever libjpeg would warn of damaged data (a code no table
//! has, a scan that runs out or into a marker, a restart marker out of place, data left over),
//! decoding stops with `Damaged` and the caller leaves the file to libjpeg. A run past a block's
//! end, which libjpeg passes over silently, is read as libjpeg reads it.

use mozjpeg_sys::JBLOCK;

use super::probe::{START_OF_SCAN, jpeg_segments};

/// Where the coefficient of zigzag index `k` lies in a block, in natural (row-major) order.
pub(super) const NATURAL_ORDER: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// `NATURAL_ORDER`, where, as in libjpeg, indices past 63 (a run beyond the block's end in a
/// damaged file) land on 63.
const NATURAL: [u8; 128] = {
    let mut natural = [63; 128];
    let mut k = 0;
    while k < 64 {
        natural[k] = NATURAL_ORDER[k];
        k += 1;
    }
    natural
};

/// The data is damaged where libjpeg would warn: the file is for libjpeg to read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Damaged;

/// Codes of up to this many bits (with their value bits, where those fit too) are looked up at
/// once: 8 KiB a table, in the L1 cache with the others.
const LOOKUP_BITS: u32 = 11;
const LOOKUP_SIZE: usize = 1 << LOOKUP_BITS;

// A lookup entry: bits 0–7 the bits to consume, bits 8–11 the zeros an AC coefficient skips,
// bits 16–31 its value; or, flagged, an end of block, or a code whose value bits do not fit
// (their number in bits 16–19, read after the code), or none at all, for a code longer than
// `LOOKUP_BITS` (nothing to consume, and the value follows).
const RUN_SHIFT: u32 = 8;
const VALUE_FOLLOWS: u32 = 1 << 14;
const END_OF_BLOCK: u32 = 1 << 15;
const VALUE_SHIFT: u32 = 16;

// A skip entry: bits 0–7 the bits of as many whole AC symbols (codes and values) as the
// lookup's bits hold, 0 if none; bits 8–15 how far they take the zigzag index; `END_OF_BLOCK`
// if the last of them ends the block.
const ADVANCE_SHIFT: u32 = 8;

/// A Huffman table as libjpeg derives it from a DHT segment.
struct Huffman {
    /// By the next `LOOKUP_BITS` bits (see the entry layout above).
    lookup: Box<[u32; LOOKUP_SIZE]>,
    /// For AC tables, by the next `LOOKUP_BITS` bits: the symbols a block that is only passed
    /// over can skip at once (see the skip entry layout above).
    skips: Box<[u32; LOOKUP_SIZE]>,
    /// The largest code of each length (1..=16), or −1.
    max_code: [i32; 17],
    /// The index in `symbols` of a length's first code, less that code.
    offset: [i32; 17],
    symbols: Vec<u8>,
}

impl Huffman {
    /// The table of a DHT entry's 16 counts and its symbols, if `jpeg_make_d_derived_tbl`
    /// accepts it.
    fn new(counts: &[u8], symbols: &[u8], ac: bool) -> Option<Self> {
        // Codes longer than the lookup: nothing consumed, the value follows the code.
        let mut lookup = Box::new([VALUE_FOLLOWS; LOOKUP_SIZE]);
        let mut max_code = [-1; 17];
        let mut offset = [0; 17];
        let (mut code, mut index) = (0i32, 0usize);
        for (length, &count) in (1..=16).zip(counts) {
            offset[length] = index as i32 - code;
            for _ in 0..count {
                let symbol = *symbols.get(index)?;
                if !ac && symbol > 15 {
                    return None;
                }
                if length <= LOOKUP_BITS as usize {
                    let shift = LOOKUP_BITS as usize - length;
                    let first = (code as usize) << shift;
                    for (bits, entry) in (first..).zip(&mut lookup[first..first + (1 << shift)]) {
                        *entry = Self::entry(bits as u32, length as u32, symbol, ac);
                    }
                }
                code += 1;
                index += 1;
            }
            if count > 0 {
                max_code[length] = code - 1;
            }
            // All-ones codes are reserved: a table reaching them is invalid.
            if code >= 1 << length {
                return None;
            }
            code <<= 1;
        }
        let skips = Box::new(std::array::from_fn(|bits| {
            if ac {
                Self::skip_entry(&lookup, bits as u32)
            } else {
                0
            }
        }));
        Some(Self {
            lookup,
            skips,
            max_code,
            offset,
            symbols: symbols[..index].to_vec(),
        })
    }

    /// The skip entry for the `LOOKUP_BITS` bits `bits`: the AC symbols whose codes and values
    /// lie wholly in them, up to the first end of block, read with the single-symbol `lookup`.
    fn skip_entry(lookup: &[u32; LOOKUP_SIZE], bits: u32) -> u32 {
        let (mut used, mut advance) = (0, 0);
        while used < LOOKUP_BITS {
            // The rest of the bits, as the start of a lookup.
            let entry = lookup[((bits << used) & (LOOKUP_SIZE as u32 - 1)) as usize];
            let length = entry & 0xFF;
            if entry & VALUE_FOLLOWS != 0 || length > LOOKUP_BITS - used {
                break;
            }
            used += length;
            if entry & END_OF_BLOCK != 0 {
                return used | (advance << ADVANCE_SHIFT) | END_OF_BLOCK;
            }
            advance += ((entry >> RUN_SHIFT) & 15) + 1;
        }
        used | (advance << ADVANCE_SHIFT)
    }

    /// The entry for the `LOOKUP_BITS` bits `bits`, which start with a code of `length` bits
    /// for `symbol`.
    fn entry(bits: u32, length: u32, symbol: u8, ac: bool) -> u32 {
        let (run, size) = if ac {
            (u32::from(symbol >> 4), u32::from(symbol & 15))
        } else {
            (0, u32::from(symbol))
        };
        if ac && size == 0 && run != 15 {
            // libjpeg ends a block on any zero-sized symbol but a run of 16 zeros.
            return END_OF_BLOCK | length;
        }
        let total = length + size;
        if total > LOOKUP_BITS {
            return VALUE_FOLLOWS | (size << VALUE_SHIFT) | (run << RUN_SHIFT) | length;
        }
        let value = (bits >> (LOOKUP_BITS - total)) & ((1 << size) - 1);
        ((extend(value, size) as u32) << VALUE_SHIFT) | (run << RUN_SHIFT) | total
    }
}

/// A value of `size` bits in JPEG's sign convention: a leading 0 makes it negative.
fn extend(value: u32, size: u32) -> i32 {
    if size == 0 {
        0
    } else if value < 1 << (size - 1) {
        value as i32 - (1 << size) + 1
    } else {
        value as i32
    }
}

/// Entropy-coded data, read most significant bit first from a 64-bit buffer holding `count`
/// bits at its top. Copied into a local while an MCU is decoded, so that it lives in
/// registers: its slow paths take and give it by value.
#[derive(Clone, Copy)]
struct Bits<'a> {
    data: &'a [u8],
    position: usize,
    buffer: u64,
    count: u32,
    /// Zero bytes supplied after a marker, as libjpeg supplies them; a scan that consumes them
    /// is damaged.
    padding: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], position: usize) -> Self {
        Self {
            data,
            position,
            buffer: 0,
            count: 0,
            padding: 0,
        }
    }

    /// Fills the buffer to at least 57 bits: eight bytes at once where none is 0xFF (a stuffed
    /// byte or a marker), else byte by byte.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(chunk) = self.data.get(self.position..self.position + 8) {
            let word = u64::from_be_bytes(chunk.try_into().expect("eight bytes"));
            let inverted = !word;
            let has_ff =
                inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080;
            if has_ff == 0 {
                let bytes = (63 - self.count) / 8;
                self.buffer |= (word >> (64 - 8 * bytes)) << (64 - self.count - 8 * bytes);
                self.count += 8 * bytes;
                self.position += bytes as usize;
                return;
            }
        }
        *self = self.refilled_bytewise();
    }

    #[cold]
    #[inline(never)]
    fn refilled_bytewise(mut self) -> Self {
        while self.count <= 56 {
            let byte = match self.data.get(self.position..) {
                _ if self.padding > 0 => None,
                Some([0xFF, 0x00, ..]) => {
                    self.position += 2;
                    Some(0xFF)
                }
                Some([byte, ..]) if *byte != 0xFF => {
                    self.position += 1;
                    Some(*byte)
                }
                // A marker, or the end of the file.
                _ => None,
            };
            if byte.is_none() {
                self.padding += 1;
            }
            self.buffer |= u64::from(byte.unwrap_or(0)) << (56 - self.count);
            self.count += 8;
        }
        self
    }

    /// Whether every bit taken was data.
    fn check_not_overrun(&self) -> Result<(), Damaged> {
        if self.padding * 8 > self.count {
            return Err(Damaged);
        }
        Ok(())
    }

    /// Past the end of a stretch of entropy-coded data: at most the last byte's padding bits
    /// are left, and a marker follows. Returns the marker's code and where it starts.
    fn finish(&mut self) -> Result<(u8, usize), Damaged> {
        self.check_not_overrun()?;
        if self.count - self.padding * 8 >= 8 {
            return Err(Damaged);
        }
        let at = self.position;
        let marker = match self.data.get(at..) {
            Some([0xFF, marker, ..]) if *marker != 0 => *marker,
            _ => return Err(Damaged),
        };
        *self = Self::new(self.data, at + 2);
        Ok((marker, at))
    }

    #[inline(always)]
    fn peek(&self) -> usize {
        (self.buffer >> (64 - LOOKUP_BITS)) as usize
    }

    #[inline(always)]
    fn consume(&mut self, bits: u32) {
        self.buffer <<= bits;
        self.count -= bits;
    }

    /// The next `size` bits (0..=15, in the buffer) as a signed value.
    #[inline(always)]
    fn value(&mut self, size: u32) -> i32 {
        if size == 0 {
            return 0;
        }
        let bits = (self.buffer >> (64 - size)) as u32;
        self.consume(size);
        extend(bits, size)
    }

    /// The symbol of a code longer than the lookup, decoded bit length by bit length.
    #[cold]
    #[inline(never)]
    fn long_symbol(mut self, table: &Huffman) -> Result<(Self, u8), Damaged> {
        for length in LOOKUP_BITS as usize + 1..=16 {
            let code = (self.buffer >> (64 - length)) as i32;
            if code <= table.max_code[length] {
                self.consume(length as u32);
                let index = (code + table.offset[length]) as usize;
                return Ok((self, *table.symbols.get(index).ok_or(Damaged)?));
            }
        }
        Err(Damaged)
    }

    /// For an entry whose value follows, once its bits are consumed: its (run, size), the code
    /// decoded now where it is longer than the lookup.
    #[inline(always)]
    fn run_and_size(
        &mut self,
        entry: u32,
        table: &Huffman,
        ac: bool,
    ) -> Result<(u32, u32), Damaged> {
        if entry & 0xFF != 0 {
            return Ok(((entry >> RUN_SHIFT) & 15, (entry >> VALUE_SHIFT) & 15));
        }
        let (bits, symbol) = self.long_symbol(table)?;
        *self = bits;
        Ok(if ac {
            (u32::from(symbol >> 4), u32::from(symbol & 15))
        } else {
            (0, u32::from(symbol))
        })
    }

    /// The DC coefficient of the next block: its difference added to `predictor`.
    #[inline(always)]
    fn dc(&mut self, dc: &Huffman, predictor: &mut i32) -> Result<i16, Damaged> {
        // A code and its value are at most 31 bits.
        if self.count < 32 {
            self.refill();
        }
        let entry = dc.lookup[self.peek()];
        self.consume(entry & 0xFF);
        let difference = if entry & VALUE_FOLLOWS == 0 {
            (entry as i32) >> VALUE_SHIFT
        } else {
            let (_, size) = self.run_and_size(entry, dc, false)?;
            self.value(size)
        };
        *predictor = predictor.wrapping_add(difference);
        Ok(*predictor as i16)
    }

    /// One block into `block` (zeroed, or whose contents do not matter), its DC difference
    /// added to `predictor`, as libjpeg's `decode_mcu` decodes it.
    #[inline(always)]
    fn block(
        &mut self,
        dc: &Huffman,
        ac: &Huffman,
        predictor: &mut i32,
        block: &mut JBLOCK,
    ) -> Result<(), Damaged> {
        block[0] = self.dc(dc, predictor)?;
        self.ac_from(1, ac, block)
    }

    /// The AC coefficients of a block from zigzag index `k` on, into `block`.
    #[inline(always)]
    fn ac_from(&mut self, mut k: usize, ac: &Huffman, block: &mut JBLOCK) -> Result<(), Damaged> {
        while k < 64 {
            if self.count < 32 {
                self.refill();
            }
            let entry = ac.lookup[self.peek()];
            // Every entry's bits to consume are known before what they mean is.
            self.consume(entry & 0xFF);
            if entry & (VALUE_FOLLOWS | END_OF_BLOCK) == 0 {
                k += ((entry >> RUN_SHIFT) & 15) as usize;
                block[usize::from(NATURAL[k & 127] & 63)] = (entry >> VALUE_SHIFT) as i16;
                k += 1;
            } else if entry & END_OF_BLOCK != 0 {
                break;
            } else {
                let (run, size) = self.run_and_size(entry, ac, true)?;
                if size == 0 {
                    if run != 15 {
                        break;
                    }
                    k += 16;
                } else {
                    k += run as usize;
                    block[usize::from(NATURAL[k & 127] & 63)] = self.value(size) as i16;
                    k += 1;
                }
            }
        }
        Ok(())
    }

    /// Passes over a block whose AC coefficients are not wanted, as `block` would decode it,
    /// and returns its DC coefficient (its difference added to `predictor`): the AC symbols are
    /// skipped several at once where they fit the lookup, symbol by symbol near the block's end
    /// (where one may run past it), into `scratch`.
    #[inline(always)]
    fn skip_block(
        &mut self,
        dc: &Huffman,
        ac: &Huffman,
        predictor: &mut i32,
        scratch: &mut JBLOCK,
    ) -> Result<i16, Damaged> {
        let value = self.dc(dc, predictor)?;
        let mut k = 1;
        loop {
            if self.count < 32 {
                self.refill();
            }
            let entry = ac.skips[self.peek()];
            let advance = ((entry >> ADVANCE_SHIFT) & 0x7F) as usize;
            let ends = entry & END_OF_BLOCK != 0;
            // Symbols that would take the block to its end before an end of block, or past it,
            // may not be its own: those are read one at a time.
            if entry & 0xFF == 0 || k + advance + usize::from(ends) > 64 {
                return self.ac_from(k, ac, scratch).map(|()| value);
            }
            self.consume(entry & 0xFF);
            k += advance;
            if ends || k == 64 {
                return Ok(value);
            }
        }
    }
}

/// What a frame header says: the image's size, and each component's id and horizontal and
/// vertical sampling.
struct Frame {
    width: usize,
    height: usize,
    components: Vec<(u8, usize, usize)>,
}

/// A component as the scan holds it.
struct ScanComponent {
    /// Blocks across and down in an MCU (1×1 in a scan of one component).
    across: usize,
    down: usize,
    /// Blocks that hold image data, across and down.
    width: usize,
    height: usize,
    dc_table: usize,
    ac_table: usize,
    /// Whether its blocks' AC coefficients are kept (else only their DC coefficient is).
    ac_wanted: bool,
}

/// The entropy-coded data of a sequential JPEG's single scan, decoded an MCU at a time, in order.
pub(super) struct SequentialScan<'a> {
    bytes: &'a [u8],
    /// Where the scan's data starts.
    start: usize,
    /// By frame order.
    components: Vec<ScanComponent>,
    /// Frame indices, in the scan's order (which is the MCU's).
    order: Vec<usize>,
    dc_tables: [Option<Huffman>; 4],
    ac_tables: [Option<Huffman>; 4],
    mcus_across: usize,
    mcus_down: usize,
    /// MCUs between restart markers, or 0.
    restart_interval: usize,
    bits: Bits<'a>,
    /// By scan order.
    predictors: [i32; 4],
    /// The next MCU to decode, counted from the scan's first.
    next: usize,
    /// Where the blocks of MCUs whose coefficients are not kept are decoded.
    scratch: JBLOCK,
}

impl<'a> SequentialScan<'a> {
    /// The first scan of the JPEG `bytes`, if this decoder reads it as libjpeg does (see the
    /// module's comment).
    pub(super) fn new(bytes: &'a [u8]) -> Option<Self> {
        let mut dc_tables: [Option<Huffman>; 4] = Default::default();
        let mut ac_tables: [Option<Huffman>; 4] = Default::default();
        let mut frame: Option<Frame> = None;
        let mut restart_interval = 0;
        for (marker, at) in jpeg_segments(bytes) {
            let length = usize::from(u16::from_be_bytes([bytes[at - 2], bytes[at - 1]]));
            let segment = bytes.get(at..at + length.checked_sub(2)?)?;
            match marker {
                // Baseline and extended sequential, Huffman-coded.
                0xC0 | 0xC1 if frame.is_none() => frame = Some(Self::frame(segment)?),
                0xC4 => Self::huffman_tables(segment, &mut dc_tables, &mut ac_tables)?,
                0xDD => {
                    let [high, low] = segment else { return None };
                    restart_interval = usize::from(u16::from_be_bytes([*high, *low]));
                }
                START_OF_SCAN => {
                    return Self::scan(
                        bytes,
                        at + segment.len(),
                        segment,
                        &frame?,
                        dc_tables,
                        ac_tables,
                        restart_interval,
                    );
                }
                // Any other frame type (arithmetic coding's conditioning included), or a
                // second frame.
                0xC0..=0xCF if marker != 0xC4 => return None,
                _ => {}
            }
        }
        None
    }

    fn frame(segment: &[u8]) -> Option<Frame> {
        let [
            8,
            height_high,
            height_low,
            width_high,
            width_low,
            count,
            rest @ ..,
        ] = segment
        else {
            return None;
        };
        let height = usize::from(u16::from_be_bytes([*height_high, *height_low]));
        let width = usize::from(u16::from_be_bytes([*width_high, *width_low]));
        let count = usize::from(*count);
        if width == 0 || height == 0 || !(1..=4).contains(&count) || rest.len() != 3 * count {
            return None;
        }
        let components = rest
            .chunks_exact(3)
            .map(|entry| {
                (
                    entry[0],
                    usize::from(entry[1] >> 4),
                    usize::from(entry[1] & 15),
                )
            })
            .collect::<Vec<_>>();
        components
            .iter()
            .all(|&(_, h, v)| (1..=4).contains(&h) && (1..=4).contains(&v))
            .then_some(Frame {
                width,
                height,
                components,
            })
    }

    fn huffman_tables(
        mut segment: &[u8],
        dc_tables: &mut [Option<Huffman>; 4],
        ac_tables: &mut [Option<Huffman>; 4],
    ) -> Option<()> {
        while let [class_and_id, rest @ ..] = segment {
            let counts = rest.get(..16)?;
            let total: usize = counts.iter().map(|&count| usize::from(count)).sum();
            let symbols = rest.get(16..16 + total)?;
            let id = usize::from(class_and_id & 15);
            let ac = match class_and_id >> 4 {
                0 => false,
                1 => true,
                _ => return None,
            };
            let tables = if ac { &mut *ac_tables } else { &mut *dc_tables };
            *tables.get_mut(id)? = Some(Huffman::new(counts, symbols, ac)?);
            segment = &rest[16 + total..];
        }
        Some(())
    }

    /// The scan whose header is `segment` and whose data starts at `start`.
    #[allow(clippy::too_many_arguments)]
    fn scan(
        bytes: &'a [u8],
        start: usize,
        segment: &[u8],
        &Frame {
            width,
            height,
            components: ref frame,
        }: &Frame,
        dc_tables: [Option<Huffman>; 4],
        ac_tables: [Option<Huffman>; 4],
        restart_interval: usize,
    ) -> Option<Self> {
        let [count, rest @ ..] = segment else {
            return None;
        };
        let count = usize::from(*count);
        // Every component, and the whole of each block's frequencies at full precision.
        if count != frame.len() || rest.len() != 2 * count + 3 || rest[2 * count..] != [0, 63, 0] {
            return None;
        }
        let max_h = frame.iter().map(|&(_, h, _)| h).max()?;
        let max_v = frame.iter().map(|&(_, _, v)| v).max()?;
        let single = count == 1;
        let mut components = Vec::with_capacity(count);
        for &(_, h, v) in frame {
            let width = (width * h).div_ceil(8 * max_h);
            let height = (height * v).div_ceil(8 * max_v);
            let (across, down) = if single { (1, 1) } else { (h, v) };
            components.push(ScanComponent {
                across,
                down,
                width,
                height,
                dc_table: 0,
                ac_table: 0,
                ac_wanted: true,
            });
        }
        let mut order = Vec::with_capacity(count);
        for pair in rest[..2 * count].chunks_exact(2) {
            let index = frame.iter().position(|&(id, ..)| id == pair[0])?;
            if order.contains(&index) {
                return None;
            }
            let (dc_table, ac_table) = (usize::from(pair[1] >> 4), usize::from(pair[1] & 15));
            dc_tables.get(dc_table)?.as_ref()?;
            ac_tables.get(ac_table)?.as_ref()?;
            components[index].dc_table = dc_table;
            components[index].ac_table = ac_table;
            order.push(index);
        }
        // libjpeg's limit on an MCU's blocks.
        if components.iter().map(|c| c.across * c.down).sum::<usize>() > 10 {
            return None;
        }
        let (mcus_across, mcus_down) = if single {
            (components[0].width, components[0].height)
        } else {
            (width.div_ceil(8 * max_h), height.div_ceil(8 * max_v))
        };
        Some(Self {
            bytes,
            start,
            components,
            order,
            dc_tables,
            ac_tables,
            mcus_across,
            mcus_down,
            restart_interval,
            bits: Bits::new(bytes, start),
            predictors: [0; 4],
            next: 0,
            scratch: [0; 64],
        })
    }

    /// Keeps only the DC coefficient of frame component `component`'s blocks: their AC symbols
    /// are skipped as for an MCU passed over.
    pub(super) fn pass_over_ac(&mut self, component: usize) {
        self.components[component].ac_wanted = false;
    }

    /// Where the scan's entropy-coded data starts in the file.
    pub(super) fn data_start(&self) -> usize {
        self.start
    }

    /// Each component's size in blocks that hold image data, in frame order.
    pub(super) fn blocks(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.components.iter().map(|c| (c.width, c.height))
    }

    /// Blocks in an MCU.
    pub(super) fn blocks_in_mcu(&self) -> usize {
        self.components.iter().map(|c| c.across * c.down).sum()
    }

    /// MCUs across the image, and the width of one in pixels.
    pub(super) fn mcu_columns(&self) -> (usize, usize) {
        let max_h = self.components.iter().map(|c| c.across).max().unwrap_or(1);
        (self.mcus_across, 8 * max_h)
    }

    /// The column (in MCUs) of the next MCU to decode.
    pub(super) fn next_column(&self) -> usize {
        self.next % self.mcus_across
    }

    /// Decodes the next MCU. Its blocks, in MCU order (for each component in the scan's order,
    /// its rows of blocks), go where `blocks` points; without `blocks`, into scratch memory, for
    /// an MCU that is only passed over. After the last MCU, checks that the scan ends there and
    /// returns where the marker after it starts.
    ///
    /// # Safety
    /// `blocks` holds a pointer for each of the MCU's blocks, each valid for writes and none
    /// the same, into memory that nothing else reads or writes meanwhile.
    #[inline(always)]
    pub(super) unsafe fn decode_mcu(
        &mut self,
        blocks: Option<&[*mut JBLOCK]>,
    ) -> Result<Option<usize>, Damaged> {
        let total = self.mcus_across * self.mcus_down;
        if self.next >= total {
            return Err(Damaged);
        }
        if self.restart_interval > 0
            && self.next > 0
            && self.next.is_multiple_of(self.restart_interval)
        {
            let expected = 0xD0 + ((self.next / self.restart_interval - 1) % 8) as u8;
            if self.bits.finish()?.0 != expected {
                return Err(Damaged);
            }
            self.predictors = [0; 4];
        }
        let mut bits = self.bits;
        let mut index = 0;
        for (slot, &component) in self.order.iter().enumerate() {
            let c = &self.components[component];
            let dc = self.dc_tables[c.dc_table]
                .as_ref()
                .expect("checked by scan");
            let ac = self.ac_tables[c.ac_table]
                .as_ref()
                .expect("checked by scan");
            for _ in 0..c.across * c.down {
                let predictor = &mut self.predictors[slot];
                // SAFETY: the caller's contract.
                let block = blocks.map(|blocks| unsafe { &mut *blocks[index] });
                match block {
                    Some(block) if c.ac_wanted => bits.block(dc, ac, predictor, block)?,
                    Some(block) => {
                        block[0] = bits.skip_block(dc, ac, predictor, &mut self.scratch)?
                    }
                    None => _ = bits.skip_block(dc, ac, predictor, &mut self.scratch)?,
                }
                index += 1;
            }
        }
        bits.check_not_overrun()?;
        self.bits = bits;
        self.next += 1;
        if self.next < total {
            return Ok(None);
        }
        let (_, marker) = self.bits.finish()?;
        Ok(Some(marker))
    }

    /// Back to the scan's first MCU.
    fn restart(&mut self) {
        self.bits = Bits::new(self.bytes, self.start);
        self.predictors = [0; 4];
        self.next = 0;
    }
}

/// A sequential scan's coefficients a row of blocks at a time, for a transform that reads them
/// in order: each row of MCUs is decoded when one of its rows of blocks is first asked for.
pub(super) struct McuRows<'a> {
    scan: SequentialScan<'a>,
    /// By frame order, the blocks of the row of MCUs decoded last: `down` rows of
    /// `mcus_across × across` blocks.
    rows: Vec<Vec<Vec<JBLOCK>>>,
    /// The row of MCUs `rows` holds.
    decoded: Option<usize>,
}

impl<'a> McuRows<'a> {
    /// The coefficients of the JPEG `bytes`, where `SequentialScan` reads it.
    pub(super) fn new(bytes: &'a [u8]) -> Option<Self> {
        let scan = SequentialScan::new(bytes)?;
        let rows = scan
            .components
            .iter()
            .map(|c| vec![vec![[0; 64]; scan.mcus_across * c.across]; c.down])
            .collect();
        Some(Self {
            scan,
            rows,
            decoded: None,
        })
    }

    /// Row `row` of component `component`'s blocks (frame order), as many as hold image data.
    /// Rows of MCUs are decoded in order; asking for an earlier one starts over.
    pub(super) fn row(&mut self, component: usize, row: usize) -> Result<&[JBLOCK], Damaged> {
        let down = self.scan.components[component].down;
        let (mcu_row, within) = (row / down, row % down);
        if mcu_row >= self.scan.mcus_down {
            return Err(Damaged);
        }
        if self.decoded != Some(mcu_row) {
            self.decoded = None;
            if mcu_row * self.scan.mcus_across < self.scan.next {
                self.scan.restart();
            }
            while self.scan.next < (mcu_row + 1) * self.scan.mcus_across {
                self.decode_next_mcu_row()?;
            }
            self.decoded = Some(mcu_row);
        }
        let width = self.scan.components[component].width;
        Ok(&self.rows[component][within][..width])
    }

    fn decode_next_mcu_row(&mut self) -> Result<(), Damaged> {
        let mut blocks = Vec::with_capacity(10);
        for mcu in 0..self.scan.mcus_across {
            blocks.clear();
            for &component in &self.scan.order {
                let across = self.scan.components[component].across;
                for row in &mut self.rows[component] {
                    for block in &mut row[mcu * across..(mcu + 1) * across] {
                        *block = [0; 64];
                        blocks.push(std::ptr::from_mut(block));
                    }
                }
            }
            // SAFETY: one pointer to each of the MCU's blocks, in MCU order, into `rows`,
            // which nothing else touches until the MCU is decoded.
            if let Some(marker) = unsafe { self.scan.decode_mcu(Some(&blocks)) }? {
                self.check_end(marker)?;
            }
        }
        Ok(())
    }

    /// After the last MCU, from the marker at `at`: libjpeg's `jpeg_read_coefficients` reads
    /// on to the end of the image, and fails on another scan, or warns of anything but tables
    /// and application data before it.
    fn check_end(&self, mut at: usize) -> Result<(), Damaged> {
        let bytes = self.scan.bytes;
        loop {
            let marker = match bytes.get(at..) {
                Some([0xFF, marker, ..]) => *marker,
                _ => return Err(Damaged),
            };
            match marker {
                0xD9 => return Ok(()),
                0xC4 | 0xDB | 0xDD | 0xFE | 0xE0..=0xEF => {
                    let length = bytes.get(at + 2..at + 4).ok_or(Damaged)?;
                    at += 2 + usize::from(u16::from_be_bytes([length[0], length[1]]));
                }
                _ => return Err(Damaged),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imaging::fixtures;
    use crate::imaging::libjpeg::{coefficients, guarded};

    /// Every component's blocks, in order, as `McuRows` decodes them (component by component,
    /// so that each starts the scan over).
    fn decoded(jpeg: &[u8]) -> Result<Vec<Vec<JBLOCK>>, Damaged> {
        let mut rows = McuRows::new(jpeg).expect("a sequential file");
        let heights: Vec<usize> = rows.scan.blocks().map(|(_, height)| height).collect();
        heights
            .iter()
            .enumerate()
            .map(|(component, &height)| {
                let mut blocks = Vec::new();
                for row in 0..height {
                    blocks.extend_from_slice(rows.row(component, row)?);
                }
                Ok(blocks)
            })
            .collect()
    }

    /// Every MCU's blocks, decoded in turn by `SequentialScan`, but those `skipped` says,
    /// passed over (left as zeros here).
    fn mcus(jpeg: &[u8], skipped: impl Fn(usize) -> bool) -> Result<Vec<Vec<JBLOCK>>, Damaged> {
        let mut scan = SequentialScan::new(jpeg).expect("a sequential file");
        let total = scan.mcus_across * scan.mcus_down;
        let mut mcus = vec![vec![[0; 64]; scan.blocks_in_mcu()]; total];
        for (index, blocks) in mcus.iter_mut().enumerate() {
            let pointers: Vec<*mut JBLOCK> = blocks.iter_mut().map(std::ptr::from_mut).collect();
            let kept = (!skipped(index)).then_some(pointers.as_slice());
            // SAFETY: one pointer to each block of this MCU's own buffer.
            let end = unsafe { scan.decode_mcu(kept) }?;
            assert_eq!(
                end.is_some(),
                index + 1 == total,
                "the end is after the last MCU"
            );
        }
        Ok(mcus)
    }

    fn grey_jpeg(width: u32, height: u32) -> Vec<u8> {
        let pixels: Vec<u8> = (0..width * height).map(|i| (i * 37 % 251) as u8).collect();
        let mut compress = mozjpeg::Compress::new(mozjpeg::ColorSpace::JCS_GRAYSCALE);
        compress.set_fastest_defaults();
        compress.set_size(width as usize, height as usize);
        let mut started = compress.start_compress(Vec::new()).expect("compressing");
        started.write_scanlines(&pixels).expect("writing");
        started.finish().expect("finishing")
    }

    /// Sequential files of every sampling, odd sizes (partial MCUs at the edges), restart
    /// intervals, and one component.
    fn sequential_files() -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        for chroma in [(2, 2), (2, 1), (1, 2), (1, 1)] {
            for (width, height) in [(1, 1), (17, 9), (64, 48), (100, 300), (333, 77)] {
                for interval in [0, 1, 3, 7] {
                    let jpeg =
                        fixtures::textured_jpeg_with_restarts(width, height, chroma, interval);
                    let case = format!("{width}x{height} {chroma:?} restarts {interval}");
                    files.push((case, jpeg));
                }
            }
        }
        files.push(("grey 45x31".into(), grey_jpeg(45, 31)));
        files
    }

    #[test]
    fn every_block_is_decoded_as_libjpeg_decodes_it() {
        for (case, jpeg) in sequential_files() {
            assert_eq!(decoded(&jpeg), Ok(coefficients(&jpeg)), "{case}");
        }
    }

    #[test]
    fn blocks_passed_over_leave_the_others_as_they_are() {
        for (case, jpeg) in sequential_files() {
            let all = mcus(&jpeg, |_| false).unwrap();
            // Runs of MCUs passed over, single ones, and all but the last.
            for pattern in [
                |index: usize| !index.is_multiple_of(3),
                |index| index % 5 == 2,
            ] {
                let some = mcus(&jpeg, pattern).unwrap();
                for (index, (got, expected)) in some.iter().zip(&all).enumerate() {
                    if !pattern(index) {
                        assert_eq!(got, expected, "{case}, MCU {index}");
                    }
                }
            }
            let total = all.len();
            let last = mcus(&jpeg, |index| index + 1 < total).unwrap();
            assert_eq!(last.last(), all.last(), "{case}");
        }
    }

    #[test]
    fn files_read_otherwise_than_this_decoder_reads_them_are_left_to_libjpeg() {
        let progressive = fixtures::textured_jpeg(64, 48, (2, 2), true);
        assert!(SequentialScan::new(&progressive).is_none());
        assert!(SequentialScan::new(b"\xFF\xD8\xFF\xD9").is_none());
        let baseline = fixtures::textured_jpeg_with_restarts(64, 48, (2, 2), 0);
        let frame = (0..baseline.len())
            .find(|&at| baseline[at..].starts_with(&[0xFF, 0xC0]))
            .unwrap();
        for (offset, value, what) in [(1, 0xC9, "arithmetic coding"), (4, 12, "12-bit samples")] {
            let mut other = baseline.clone();
            other[frame + offset] = value;
            assert!(SequentialScan::new(&other).is_none(), "{what}");
        }
    }

    /// Where the entropy-coded data of `jpeg`'s scan lies.
    fn scan_data(jpeg: &[u8]) -> std::ops::Range<usize> {
        let start = SequentialScan::new(jpeg).unwrap().data_start();
        let end = jpeg.len() - 2;
        start..end
    }

    #[test]
    fn damage_libjpeg_would_warn_of_stops_decoding() {
        let jpeg = fixtures::textured_jpeg_with_restarts(100, 60, (2, 2), 0);
        let data = scan_data(&jpeg);
        let middle = (data.start + data.end) / 2;
        let cut_short = [&jpeg[..middle], &[0xFF, 0xD9][..]].concat();
        let marker_inside = [&jpeg[..middle], &[0xFF, 0xD3], &jpeg[middle..]].concat();
        // More than libjpeg's reader holds ahead, which it would drop without a word.
        let left_over = [&jpeg[..data.end], &[0x12; 16], &jpeg[data.end..]].concat();
        let without_end = jpeg[..data.end].to_vec();
        let restarts = fixtures::textured_jpeg_with_restarts(100, 60, (2, 2), 2);
        let first_restart = (scan_data(&restarts).start..)
            .find(|&at| restarts[at..].starts_with(&[0xFF, 0xD0]))
            .unwrap();
        let mut out_of_order = restarts.clone();
        out_of_order[first_restart + 1] = 0xD1;
        for (what, file) in [
            ("cut short", cut_short),
            ("a marker inside the data", marker_inside),
            ("data left over", left_over),
            ("no end of image", without_end),
            ("restart markers out of order", out_of_order),
        ] {
            assert!(
                guarded(|| coefficients(&file)).is_err(),
                "libjpeg warns: {what}"
            );
            assert_eq!(decoded(&file), Err(Damaged), "{what}");
        }
    }

    /// Bytes of the scan changed at random (never to 0xFF, which libjpeg takes as fill before a
    /// marker, nor after one): wherever libjpeg warns, this decoder stops, and wherever it does
    /// not, it gives libjpeg's coefficients.
    #[test]
    fn corrupted_data_is_refused_wherever_libjpeg_warns_and_read_as_libjpeg_reads_it_elsewhere() {
        let jpeg = fixtures::textured_jpeg_with_restarts(96, 64, (2, 1), 5);
        let data = scan_data(&jpeg);
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        let (mut refused, mut read) = (0, 0);
        for _ in 0..300 {
            let mut file = jpeg.clone();
            for _ in 0..1 + next() % 3 {
                let at = data.start + next() % data.len();
                if file[at - 1] != 0xFF && file[at] != 0xFF {
                    file[at] = (next() % 255) as u8;
                }
            }
            match guarded(|| coefficients(&file)) {
                Err(_) => {
                    assert_eq!(decoded(&file), Err(Damaged));
                    refused += 1;
                }
                Ok(expected) => {
                    if let Ok(got) = decoded(&file) {
                        assert_eq!(got, expected);
                        read += 1;
                    }
                }
            }
        }
        assert!(refused > 10 && read > 10, "{refused} refused, {read} read");
    }
}
