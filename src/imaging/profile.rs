//! Colour management: whatever the file's colour space, pixels leave the decoder as sRGB.

use moxcms::{ColorProfile, Layout, TransformOptions};

/// Converts interleaved 8-bit pixels from the embedded `icc` profile to sRGB in place. A profile
/// that cannot be parsed or applied leaves the pixels as they are: they are then taken as sRGB,
/// as every viewer would.
pub fn to_srgb(pixels: &mut [u8], channels: usize, icc: &[u8]) {
    let Ok(source) = ColorProfile::new_from_slice(icc) else {
        return;
    };
    if is_srgb(&source) {
        return;
    }
    let layout = if channels == 4 {
        Layout::Rgba
    } else {
        Layout::Rgb
    };
    let Ok(transform) = source.create_transform_8bit(
        layout,
        &ColorProfile::new_srgb(),
        layout,
        TransformOptions::default(),
    ) else {
        return;
    };
    let input = pixels.to_vec();
    if transform.transform(&input, pixels).is_err() {
        pixels.copy_from_slice(&input);
    }
}

/// Whether `to_srgb` may change pixels tagged with `icc`: a profile that parses and is not sRGB.
pub fn needs_conversion(icc: &[u8]) -> bool {
    ColorProfile::new_from_slice(icc).is_ok_and(|profile| !is_srgb(&profile))
}

/// CMYK samples (4 per pixel, as JPEG stores them) to RGB: through the embedded profile when
/// there is one, else by the usual naive formula. `inverted` is Adobe's convention, which nearly
/// every CMYK JPEG follows: 0 means full ink.
pub fn cmyk_to_srgb(cmyk: &[u8], inverted: bool, icc: Option<&[u8]>) -> Vec<u8> {
    let ink: Vec<u8> = if inverted {
        cmyk.iter().map(|value| 255 - value).collect()
    } else {
        cmyk.to_vec()
    };
    if let Some(source) = icc.and_then(|icc| ColorProfile::new_from_slice(icc).ok()) {
        let transform = source.create_transform_8bit(
            Layout::Rgba,
            &ColorProfile::new_srgb(),
            Layout::Rgb,
            TransformOptions::default(),
        );
        if let Ok(transform) = transform {
            let mut rgb = vec![0; ink.len() / 4 * 3];
            if transform.transform(&ink, &mut rgb).is_ok() {
                return rgb;
            }
        }
    }
    ink.chunks_exact(4)
        .flat_map(|pixel| {
            let white = 255 - u32::from(pixel[3]);
            [0, 1, 2].map(|channel| ((255 - u32::from(pixel[channel])) * white / 255) as u8)
        })
        .collect()
}

/// sRGB needs no conversion; comparing the description avoids a needless pass over the pixels.
fn is_srgb(profile: &ColorProfile) -> bool {
    profile
        .description
        .as_ref()
        .is_some_and(|description| format!("{description:?}").contains("sRGB"))
}

/// The ICC profile spread over a JPEG's APP2 `ICC_PROFILE` segments, reassembled in order.
pub fn jpeg_icc_profile<'a>(app2_segments: impl Iterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
    let mut chunks: Vec<(u8, &[u8])> = app2_segments
        .filter_map(|segment| {
            let rest = segment.strip_prefix(b"ICC_PROFILE\0")?;
            let (&sequence, rest) = rest.split_first()?;
            let (_count, data) = rest.split_first()?;
            Some((sequence, data))
        })
        .collect();
    chunks.sort_by_key(|(sequence, _)| *sequence);
    let profile: Vec<u8> = chunks
        .into_iter()
        .flat_map(|(_, data)| data.iter().copied())
        .collect();
    (!profile.is_empty()).then_some(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_cmyk_inverts_ink() {
        // Adobe-inverted: 255 is no ink. No ink is white; full black ink is black.
        assert_eq!(
            cmyk_to_srgb(&[255, 255, 255, 255], true, None),
            [255, 255, 255]
        );
        assert_eq!(cmyk_to_srgb(&[255, 255, 255, 0], true, None), [0, 0, 0]);
        // Full cyan and no black: red gone, green and blue full.
        assert_eq!(cmyk_to_srgb(&[0, 255, 255, 255], true, None), [0, 255, 255]);
        assert_eq!(cmyk_to_srgb(&[255, 0, 0, 0], false, None), [0, 255, 255]);
    }

    #[test]
    fn icc_segments_are_reassembled_in_sequence() {
        let second = b"ICC_PROFILE\0\x02\x02world".to_vec();
        let first = b"ICC_PROFILE\0\x01\x02hello ".to_vec();
        let other = b"XMP\0ignored".to_vec();
        let segments = [second.as_slice(), other.as_slice(), first.as_slice()];
        assert_eq!(
            jpeg_icc_profile(segments.into_iter()).as_deref(),
            Some(&b"hello world"[..])
        );
        assert_eq!(jpeg_icc_profile([other.as_slice()].into_iter()), None);
    }
}
