//! The statistics of optimised Huffman tables: how often each symbol of a baseline scan occurs,
//! counted block by block as libjpeg's `encode_mcu_gather` counts them, but from a mask of the
//! block's non-zero coefficients instead of a test of each of its 64 (libjpeg's pass took a
//! fifth of a crop's time).

use std::os::raw::c_long;

use mozjpeg_sys::JBLOCK;

use super::sequential::NATURAL_ORDER;

/// The counts of one Huffman table's symbols (and libjpeg's reserved 257th), as
/// `jpeg_gen_optimal_table` takes them.
pub(super) type SymbolCounts = [c_long; 257];

/// A coefficient past what 8-bit JPEG can hold: libjpeg's `JERR_BAD_DCT_COEF`.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct OutOfRange;

/// Counts the symbols of `block`, whose component's previous DC coefficient was `previous_dc`,
/// into its DC and AC tables' counts.
pub(super) fn count_block(
    block: &JBLOCK,
    previous_dc: i16,
    dc: &mut SymbolCounts,
    ac: &mut SymbolCounts,
) -> Result<(), OutOfRange> {
    // A difference may take one bit more than a coefficient.
    let dc_bits = magnitude_bits(i32::from(block[0]) - i32::from(previous_dc));
    if dc_bits > 11 {
        return Err(OutOfRange);
    }
    dc[dc_bits] += 1;

    let zigzag: [i16; 64] = std::array::from_fn(|k| block[usize::from(NATURAL_ORDER[k])]);
    let mut nonzero = zigzag.iter().enumerate().fold(0u64, |mask, (k, &value)| {
        mask | (u64::from(value != 0) << k)
    });
    nonzero &= !1;
    // The zigzag index of the last coefficient counted (0 for the DC).
    let mut last = 0;
    while nonzero != 0 {
        let k = nonzero.trailing_zeros() as usize;
        nonzero &= nonzero - 1;
        let mut run = k - last - 1;
        while run > 15 {
            ac[0xF0] += 1;
            run -= 16;
        }
        let bits = magnitude_bits(i32::from(zigzag[k]));
        if bits > 10 {
            return Err(OutOfRange);
        }
        ac[(run << 4) + bits] += 1;
        last = k;
    }
    if last < 63 {
        ac[0] += 1;
    }
    Ok(())
}

/// The bits of `value`'s magnitude: its symbol's size.
fn magnitude_bits(value: i32) -> usize {
    (u32::BITS - value.unsigned_abs().leading_zeros()) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libjpeg's `htest_one_block`, transcribed: the reference the mask must agree with.
    fn counted_as_libjpeg_does(block: &JBLOCK, previous: i16) -> (SymbolCounts, SymbolCounts) {
        let (mut dc, mut ac) = ([0; 257], [0; 257]);
        dc[magnitude_bits(i32::from(block[0]) - i32::from(previous))] += 1;
        let mut run = 0;
        for &natural in &NATURAL_ORDER[1..] {
            let value = block[usize::from(natural)];
            if value == 0 {
                run += 1;
                continue;
            }
            while run > 15 {
                ac[0xF0] += 1;
                run -= 16;
            }
            ac[(run << 4) + magnitude_bits(i32::from(value))] += 1;
            run = 0;
        }
        if run > 0 {
            ac[0] += 1;
        }
        (dc, ac)
    }

    #[test]
    fn symbols_are_counted_as_libjpeg_counts_them() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut blocks: Vec<JBLOCK> = vec![[0; 64], [1; 64], [-1023; 64]];
        let mut last_only = [0; 64];
        last_only[63] = 5;
        blocks.push(last_only);
        // Sparse blocks with long runs (several of 16 zeros), dense ones, and values of every size.
        for density in [1, 4, 16, 48, 64] {
            for _ in 0..200 {
                let mut block = [0i16; 64];
                for coefficient in &mut block {
                    if next() % 64 < density {
                        let bits = next() % 11;
                        let magnitude = (next() % (1 << bits)) as i16;
                        *coefficient = if next() % 2 == 0 {
                            magnitude
                        } else {
                            -magnitude
                        };
                    }
                }
                blocks.push(block);
            }
        }
        let mut previous = 0;
        for block in &blocks {
            let (mut dc, mut ac) = ([0; 257], [0; 257]);
            count_block(block, previous, &mut dc, &mut ac).unwrap();
            assert_eq!(
                (dc, ac),
                counted_as_libjpeg_does(block, previous),
                "{block:?}"
            );
            previous = block[0];
        }
    }

    #[test]
    fn coefficients_8_bit_jpeg_cannot_hold_are_refused() {
        let (mut dc, mut ac) = ([0; 257], [0; 257]);
        let mut block = [0; 64];
        block[5] = 1024;
        assert_eq!(count_block(&block, 0, &mut dc, &mut ac), Err(OutOfRange));
        let mut block = [0; 64];
        block[0] = 2047;
        assert_eq!(
            count_block(&block, -2047, &mut dc, &mut ac),
            Err(OutOfRange)
        );
        assert_eq!(count_block(&block, 0, &mut dc, &mut ac), Ok(()));
    }
}
