//! Turning uploaded bytes into safe, servable files: sniffing the real type, refusing pixel
//! floods before decoding, decoding under memory limits, applying EXIF orientation, and making
//! sure no EXIF, GPS or XMP metadata survives in any served file.
//!
//! The original is kept bit-for-bit in its image data, with metadata segments removed (no
//! generation loss, and far cheaper than re-encoding); it is re-encoded only when its EXIF
//! orientation has to be applied to the pixels. Variants are always freshly encoded.
//!
//! Synchronous and CPU-bound: callers run it on the blocking pool behind a semaphore.

use std::{fs::File, io::BufReader, path::Path};

use fast_image_resize::{
    FilterType as ResizeFilter, PixelType, ResizeAlg, ResizeOptions, Resizer,
    images::{Image as ResizeImage, ImageRef},
};
use image::{
    DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits,
    codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder},
    metadata::Orientation,
};

/// Widths of the responsive variants. Never upscaled: only widths below the original's.
pub const VARIANT_WIDTHS: [u32; 5] = [320, 640, 1024, 1600, 2400];

const JPEG_QUALITY_ORIGINAL: u8 = 90;
/// The largest width or height each encoder can write (the formats' own limits).
const WEBP_MAX_DIMENSION: u32 = 16383;
const JPEG_MAX_DIMENSION: u32 = 65535;
const JPEG_QUALITY_VARIANT: u8 = 82;
const WEBP_QUALITY_ORIGINAL: f32 = 90.0;
const WEBP_QUALITY_VARIANT: f32 = 80.0;
/// libwebp's effort, 0 (fast) to 6: method 2 takes about a third of the default's (4) time for
/// files within 2% of each other.
const WEBP_METHOD: i32 = 2;

/// The formats Galley accepts, identified by their magic numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Gif,
}

impl Format {
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
            Self::Gif => "image/gif",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Gif => "gif",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::Webp => ImageFormat::WebP,
            Self::Gif => ImageFormat::Gif,
        }
    }
}

/// The type of a file from its first bytes; `None` for anything else (SVG and HTML included,
/// whatever they are named).
pub fn sniff(head: &[u8]) -> Option<Format> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        Some(Format::Gif)
    } else if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some(Format::Webp)
    } else {
        None
    }
}

/// Why an upload cannot become an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the file is not a JPEG, PNG, WebP or GIF image")]
    Unsupported,
    #[error("the image is {width}×{height} pixels; at most {limit} pixels are accepted")]
    TooManyPixels { width: u32, height: u32, limit: u64 },
    #[error("the image could not be decoded (damaged or truncated): {0}")]
    Undecodable(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("encoding failed: {0}")]
    Encoding(String),
}

/// One encoded file.
#[derive(Debug)]
pub struct Encoded {
    pub width: u32,
    pub height: u32,
    pub mime_type: &'static str,
    pub extension: &'static str,
    pub bytes: Vec<u8>,
}

/// The result of processing an upload.
#[derive(Debug)]
pub struct Processed {
    pub format: Format,
    pub original: Encoded,
    /// WebP and a JPEG (or PNG, when transparent) fallback per width, smallest first.
    pub variants: Vec<Encoded>,
    pub blurhash: Option<String>,
}

/// Processes the file at `path` (already known to be at most the byte limit).
pub fn process(path: &Path, max_pixels: u64) -> Result<Processed, ImageError> {
    let mut head = [0u8; 16];
    let read = std::io::Read::read(&mut File::open(path)?, &mut head)?;
    let format = sniff(&head[..read]).ok_or(ImageError::Unsupported)?;

    // Header only: a 50 kB PNG can claim 65535×65535; refuse it before allocating anything.
    let (width, height) = reader(path, format)?
        .into_dimensions()
        .map_err(|e| ImageError::Undecodable(e.to_string()))?;
    if width == 0 || height == 0 {
        return Err(ImageError::Undecodable("the image has no pixels".into()));
    }
    if u64::from(width) * u64::from(height) > max_pixels {
        return Err(ImageError::TooManyPixels {
            width,
            height,
            limit: max_pixels,
        });
    }

    let mut reader = reader(path, format)?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // Room for the decoded frame at 4 bytes/pixel (16-bit sources are converted) plus the
    // decoder's own buffers.
    limits.max_alloc = Some(u64::from(width) * u64::from(height) * 8 + 64 * 1024 * 1024);
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| ImageError::Undecodable(e.to_string()))?;
    let orientation = decoder
        .orientation()
        .map_err(|e| ImageError::Undecodable(e.to_string()))?;
    // Colour profiles are kept (photos from phones are often Display P3); they hold no
    // personal data, unlike EXIF/GPS/XMP which are never copied.
    let icc = decoder.icc_profile().ok().flatten();
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|e| ImageError::Undecodable(e.to_string()))?;
    image.apply_orientation(orientation);
    let image = normalise(image);

    let stripped = if orientation == Orientation::NoTransforms || format == Format::Gif {
        // A GIF is never re-encoded: that would lose its animation.
        strip_metadata(format, &std::fs::read(path)?)
            .filter(|bytes| same_dimensions(bytes, format, image.width(), image.height()))
    } else {
        None
    };
    let original = match (stripped, format) {
        (Some(bytes), _) => Encoded {
            width: image.width(),
            height: image.height(),
            mime_type: format.mime_type(),
            extension: format.extension(),
            bytes,
        },
        (None, Format::Gif) => {
            return Err(ImageError::Undecodable(
                "malformed GIF block structure".into(),
            ));
        }
        (None, Format::Jpeg) => encode_jpeg(&image, JPEG_QUALITY_ORIGINAL, icc.as_deref())?,
        (None, Format::Png) => encode_png(&image, icc.as_deref())?,
        (None, Format::Webp) => encode_webp(&image, WEBP_QUALITY_ORIGINAL)?,
    };

    let variants = variants(&image, icc.as_deref())?;
    let blurhash = blurhash_of(&image);
    Ok(Processed {
        format,
        original,
        variants,
        blurhash,
    })
}

fn reader(path: &Path, format: Format) -> Result<ImageReader<BufReader<File>>, ImageError> {
    Ok(ImageReader::with_format(
        BufReader::new(File::open(path)?),
        format.image_format(),
    ))
}

/// 8-bit RGB, or RGBA when the source has an alpha channel.
fn normalise(image: DynamicImage) -> DynamicImage {
    if image.color().has_alpha() {
        DynamicImage::ImageRgba8(image.into_rgba8())
    } else {
        DynamicImage::ImageRgb8(image.into_rgb8())
    }
}

fn variants(image: &DynamicImage, icc: Option<&[u8]>) -> Result<Vec<Encoded>, ImageError> {
    let (width, height) = (image.width(), image.height());
    let alpha = image.color().has_alpha();
    let (pixel_type, raw) = match image {
        DynamicImage::ImageRgba8(rgba) => (PixelType::U8x4, rgba.as_raw()),
        DynamicImage::ImageRgb8(rgb) => (PixelType::U8x3, rgb.as_raw()),
        other => return variants(&normalise(other.clone()), icc),
    };
    let source = ImageRef::new(width, height, raw.as_slice(), pixel_type)
        .map_err(|e| ImageError::Encoding(e.to_string()))?;
    // SIMD Catmull-Rom from the full-size original for every width: sharper than a cascade
    // and, measured on a 12-megapixel photo, about 70 ms for all five sizes.
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(ResizeFilter::CatmullRom));
    let mut resizer = Resizer::new();
    let mut out = Vec::new();
    for &target in VARIANT_WIDTHS.iter().filter(|&&w| w < width) {
        let target_height = ((u64::from(height) * u64::from(target) + u64::from(width) / 2)
            / u64::from(width))
        .max(1) as u32;
        let mut resized = ResizeImage::new(target, target_height, pixel_type);
        resizer
            .resize(&source, &mut resized, &options)
            .map_err(|e| ImageError::Encoding(e.to_string()))?;
        let pixels = resized.into_vec();
        let resized = if alpha {
            image::RgbaImage::from_raw(target, target_height, pixels).map(DynamicImage::ImageRgba8)
        } else {
            image::RgbImage::from_raw(target, target_height, pixels).map(DynamicImage::ImageRgb8)
        }
        .ok_or_else(|| ImageError::Encoding("resized buffer has the wrong size".into()))?;
        // A very tall image (a long screenshot) makes variants taller than an encoder can
        // write: those are left out rather than failing the upload.
        if target_height <= WEBP_MAX_DIMENSION {
            out.push(encode_webp(&resized, WEBP_QUALITY_VARIANT)?);
        }
        if alpha {
            out.push(encode_png(&resized, icc)?);
        } else if target_height <= JPEG_MAX_DIMENSION {
            out.push(encode_jpeg(&resized, JPEG_QUALITY_VARIANT, icc)?);
        }
    }
    Ok(out)
}

fn encode_jpeg(
    image: &DynamicImage,
    quality: u8,
    icc: Option<&[u8]>,
) -> Result<Encoded, ImageError> {
    let rgb = image.to_rgb8();
    let (Ok(width), Ok(height)) = (u16::try_from(rgb.width()), u16::try_from(rgb.height())) else {
        return Err(ImageError::Encoding(
            "JPEG is limited to 65535 pixels a side".into(),
        ));
    };
    let mut bytes = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut bytes, quality);
    if let Some(icc) = icc {
        let _ = encoder.add_icc_profile(icc);
    }
    encoder
        .encode(rgb.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| ImageError::Encoding(e.to_string()))?;
    Ok(Encoded {
        width: rgb.width(),
        height: rgb.height(),
        mime_type: "image/jpeg",
        extension: "jpg",
        bytes,
    })
}

fn encode_png(image: &DynamicImage, icc: Option<&[u8]>) -> Result<Encoded, ImageError> {
    let mut bytes = Vec::new();
    let mut encoder =
        PngEncoder::new_with_quality(&mut bytes, CompressionType::Default, PngFilter::Adaptive);
    if let Some(icc) = icc {
        let _ = encoder.set_icc_profile(icc.to_vec());
    }
    let (color, raw) = match image {
        DynamicImage::ImageRgba8(rgba) => (ExtendedColorType::Rgba8, rgba.as_raw().as_slice()),
        DynamicImage::ImageRgb8(rgb) => (ExtendedColorType::Rgb8, rgb.as_raw().as_slice()),
        other => return encode_png(&normalise(other.clone()), icc),
    };
    encoder
        .write_image(raw, image.width(), image.height(), color)
        .map_err(|e| ImageError::Encoding(e.to_string()))?;
    Ok(Encoded {
        width: image.width(),
        height: image.height(),
        mime_type: "image/png",
        extension: "png",
        bytes,
    })
}

fn encode_webp(image: &DynamicImage, quality: f32) -> Result<Encoded, ImageError> {
    let (width, height) = (image.width(), image.height());
    let mut config = webp::WebPConfig::new()
        .map_err(|()| ImageError::Encoding("libwebp configuration failed".into()))?;
    config.quality = quality;
    config.method = WEBP_METHOD;
    let memory = match image {
        DynamicImage::ImageRgba8(rgba) => {
            webp::Encoder::from_rgba(rgba.as_raw(), width, height).encode_advanced(&config)
        }
        other => {
            let rgb = other.to_rgb8();
            webp::Encoder::from_rgb(rgb.as_raw(), width, height).encode_advanced(&config)
        }
    }
    .map_err(|e| ImageError::Encoding(format!("libwebp: {e:?}")))?;
    Ok(Encoded {
        width,
        height,
        mime_type: "image/webp",
        extension: "webp",
        bytes: memory.to_vec(),
    })
}

/// A BlurHash placeholder computed from a small thumbnail (the hash has 4×3 components, so
/// more pixels would add cost, not detail).
fn blurhash_of(image: &DynamicImage) -> Option<String> {
    let thumb = image.thumbnail(32, 32).to_rgba8();
    blurhash::encode(4, 3, thumb.width(), thumb.height(), thumb.as_raw()).ok()
}

/// The file without its metadata, or `None` when its structure cannot be followed (the caller
/// then re-encodes from the decoded pixels).
fn strip_metadata(format: Format, bytes: &[u8]) -> Option<Vec<u8>> {
    match format {
        Format::Jpeg => strip_jpeg_metadata(bytes),
        Format::Png => strip_png_metadata(bytes),
        Format::Webp => strip_webp_metadata(bytes),
        Format::Gif => strip_gif_metadata(bytes),
    }
}

/// A stripped file must still describe the same picture.
fn same_dimensions(bytes: &[u8], format: Format, width: u32, height: u32) -> bool {
    ImageReader::with_format(std::io::Cursor::new(bytes), format.image_format())
        .into_dimensions()
        .is_ok_and(|dims| dims == (width, height))
}

/// Copies a JPEG without APP1 (EXIF, XMP), APP13 (IPTC), the other application segments and
/// comments. Kept: JFIF (APP0, its thumbnail dropped), ICC profiles (APP2 `ICC_PROFILE`),
/// Adobe colour info (APP14 `Adobe`),
/// and everything that codes the picture. Stops at the end-of-image marker, so data appended
/// after it (multi-picture thumbnails with their own EXIF) is dropped too.
pub fn strip_jpeg_metadata(jpeg: &[u8]) -> Option<Vec<u8>> {
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut out = Vec::with_capacity(jpeg.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    let mut pos = 2;
    loop {
        if *jpeg.get(pos)? != 0xFF {
            return None;
        }
        while *jpeg.get(pos + 1)? == 0xFF {
            pos += 1; // fill bytes
        }
        let marker = jpeg[pos + 1];
        pos += 2;
        match marker {
            0xD9 => {
                out.extend_from_slice(&[0xFF, 0xD9]);
                return Some(out);
            }
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&[0xFF, marker]);
                continue;
            }
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([*jpeg.get(pos)?, *jpeg.get(pos + 1)?]));
        let segment = jpeg.get(pos..pos.checked_add(length)?)?;
        if length < 2 {
            return None;
        }
        let keep = match marker {
            0xE0 => {
                // JFIF without its thumbnail (a second picture, possibly of something else):
                // the 14 bytes of header with a 0×0 thumbnail. JFXX and others are dropped.
                if let Some(header) = segment.get(2..14).filter(|h| h.starts_with(b"JFIF\0")) {
                    out.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x10]);
                    out.extend_from_slice(header);
                    out.extend_from_slice(&[0, 0]);
                }
                false
            }
            0xE2 => segment[2..].starts_with(b"ICC_PROFILE\0"),
            0xEE => segment[2..].starts_with(b"Adobe"),
            0xE1 | 0xE3..=0xED | 0xEF | 0xFE => false,
            _ => true,
        };
        if keep {
            out.extend_from_slice(&[0xFF, marker]);
            out.extend_from_slice(segment);
        }
        pos += length;
        if marker == 0xDA {
            // Entropy-coded data runs to the next marker that is neither a stuffed 0xFF00
            // nor a restart marker.
            let start = pos;
            loop {
                if *jpeg.get(pos)? == 0xFF {
                    let next = *jpeg.get(pos + 1)?;
                    if next != 0x00 && !(0xD0..=0xD7).contains(&next) {
                        break;
                    }
                    pos += 2;
                } else {
                    pos += 1;
                }
            }
            out.extend_from_slice(&jpeg[start..pos]);
        }
    }
}

/// Copies a PNG keeping the critical chunks and the ancillary ones that affect rendering
/// (transparency, colour, animation); text chunks, `eXIf`, `tIME` and unknown chunks are dropped.
pub fn strip_png_metadata(png: &[u8]) -> Option<Vec<u8>> {
    const RENDERING: [&[u8; 4]; 11] = [
        b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"pHYs", b"bKGD", b"cICP", b"acTL",
        b"fcTL",
    ];
    let mut out = png.get(..8)?.to_vec();
    let mut pos = 8;
    loop {
        let length = u32::from_be_bytes(png.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let kind: &[u8; 4] = png.get(pos + 4..pos + 8)?.try_into().ok()?;
        let end = pos.checked_add(12)?.checked_add(length)?;
        let chunk = png.get(pos..end)?;
        let critical = kind[0].is_ascii_uppercase();
        if critical || kind == b"fdAT" || RENDERING.contains(&kind) {
            out.extend_from_slice(chunk);
        }
        if kind == b"IEND" {
            return Some(out);
        }
        pos = end;
    }
}

/// Copies a WebP without its `EXIF` and `XMP ` chunks, clearing their flags in `VP8X`.
pub fn strip_webp_metadata(webp: &[u8]) -> Option<Vec<u8>> {
    if webp.get(..4)? != b"RIFF" || webp.get(8..12)? != b"WEBP" {
        return None;
    }
    let mut out = webp[..12].to_vec();
    let mut pos = 12;
    while pos < webp.len() {
        let kind = webp.get(pos..pos + 4)?;
        let size = u32::from_le_bytes(webp.get(pos + 4..pos + 8)?.try_into().ok()?) as usize;
        let end = pos
            .checked_add(8)?
            .checked_add(size + size % 2)?
            .min(webp.len());
        let chunk = webp.get(pos..end)?;
        match kind {
            b"EXIF" | b"XMP " => {}
            b"VP8X" => {
                let mut chunk = chunk.to_vec();
                *chunk.get_mut(8)? &= !(0x08 | 0x04);
                out.extend_from_slice(&chunk);
            }
            _ => out.extend_from_slice(chunk),
        }
        pos = end;
    }
    let riff_size = u32::try_from(out.len() - 8).ok()?;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Some(out)
}

/// Copies a GIF keeping only what renders: header, palettes, graphic control extensions,
/// image data and the NETSCAPE looping extension. Comment extensions and every other
/// application extension (XMP lives in one) are dropped. `None` if the block structure is broken.
pub fn strip_gif_metadata(gif: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(gif.len());
    let header = gif.get(..13)?;
    out.extend_from_slice(header);
    let mut pos = 13;
    let packed = header[10];
    if packed & 0x80 != 0 {
        let size = 3 * (1usize << ((packed & 0x07) + 1));
        out.extend_from_slice(gif.get(pos..pos + size)?);
        pos += size;
    }
    // Returns the end of a run of data sub-blocks starting at `at`.
    let sub_blocks_end = |mut at: usize| -> Option<usize> {
        loop {
            let len = *gif.get(at)? as usize;
            at += 1 + len;
            if len == 0 {
                return Some(at);
            }
            if at > gif.len() {
                return None;
            }
        }
    };
    loop {
        match *gif.get(pos)? {
            0x3B => {
                out.push(0x3B);
                return Some(out);
            }
            0x2C => {
                let descriptor = gif.get(pos..pos + 10)?;
                let mut end = pos + 10;
                if descriptor[9] & 0x80 != 0 {
                    end += 3 * (1usize << ((descriptor[9] & 0x07) + 1));
                }
                end += 1; // LZW minimum code size
                let end = sub_blocks_end(end)?;
                out.extend_from_slice(gif.get(pos..end)?);
                pos = end;
            }
            0x21 => {
                let label = *gif.get(pos + 1)?;
                let end = sub_blocks_end(pos + 2)?;
                let keep = match label {
                    0xF9 | 0x01 => true,
                    0xFF => gif.get(pos + 3..pos + 14) == Some(b"NETSCAPE2.0".as_slice()),
                    _ => false,
                };
                if keep {
                    out.extend_from_slice(gif.get(pos..end)?);
                }
                pos = end;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing_reads_magic_numbers_not_names() {
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0rest"), Some(Format::Jpeg));
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(Format::Png));
        assert_eq!(sniff(b"GIF89a..."), Some(Format::Gif));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(Format::Webp));
        assert_eq!(sniff(b"<svg xmlns="), None);
        assert_eq!(sniff(b"<!doctype html>"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn webp_exif_and_xmp_chunks_are_dropped_and_flags_cleared() {
        let chunk = |kind: &[u8; 4], data: &[u8]| {
            let mut c = kind.to_vec();
            c.extend_from_slice(&(data.len() as u32).to_le_bytes());
            c.extend_from_slice(data);
            if data.len() % 2 == 1 {
                c.push(0);
            }
            c
        };
        let mut body = b"WEBP".to_vec();
        body.extend(chunk(b"VP8X", &[0x0C, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        body.extend(chunk(b"VP8 ", b"imagedata"));
        body.extend(chunk(b"EXIF", b"GPS SECRET"));
        body.extend(chunk(b"XMP ", b"<x:xmpmeta>SECRET"));
        let mut webp = b"RIFF".to_vec();
        webp.extend_from_slice(&(body.len() as u32).to_le_bytes());
        webp.extend(body);
        let stripped = strip_webp_metadata(&webp).expect("valid RIFF");
        assert!(!String::from_utf8_lossy(&stripped).contains("SECRET"));
        assert_eq!(stripped[20], 0, "EXIF and XMP flags cleared in VP8X");
        let riff_size = u32::from_le_bytes(stripped[4..8].try_into().expect("4 bytes"));
        assert_eq!(riff_size as usize, stripped.len() - 8);
        assert!(String::from_utf8_lossy(&stripped).contains("imagedata"));
    }

    #[test]
    fn jpeg_exif_comments_and_trailing_data_are_dropped() {
        let mut jpeg = vec![0xFF, 0xD8];
        jpeg.extend_from_slice(&[0xFF, 0xE1, 0x00, 0x0A]);
        jpeg.extend_from_slice(b"Exif\0\0GP");
        jpeg.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x08]);
        jpeg.extend_from_slice(b"SECRET");
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02]);
        jpeg.extend_from_slice(&[0x11, 0xFF, 0x00, 0x22, 0xFF, 0xD0, 0x33]);
        jpeg.extend_from_slice(&[0xFF, 0xD9]);
        jpeg.extend_from_slice(b"appended SECRET thumbnail");
        let stripped = strip_jpeg_metadata(&jpeg).expect("valid JPEG");
        assert_eq!(
            stripped,
            vec![
                0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x04, 0x01, 0x02, 0x11, 0xFF, 0x00, 0x22, 0xFF, 0xD0,
                0x33, 0xFF, 0xD9
            ]
        );
        assert!(strip_jpeg_metadata(&jpeg[..12]).is_none(), "truncated");
    }

    #[test]
    fn jpeg_keeps_only_jfif_without_thumbnail_and_adobe_app_segments() {
        let mut jpeg = vec![0xFF, 0xD8];
        // JFIF with a 1×1 thumbnail (3 bytes of RGB).
        jpeg.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x13]);
        jpeg.extend_from_slice(b"JFIF\0\x01\x02\x01\x00\x48\x00\x48\x01\x01SEC");
        // A JFXX extension (another thumbnail), a non-JFIF APP0, Adobe and non-Adobe APP14.
        jpeg.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x0B]);
        jpeg.extend_from_slice(b"JFXX\0\x10RET");
        jpeg.extend_from_slice(&[0xFF, 0xE0, 0x00, 0x08]);
        jpeg.extend_from_slice(b"OTHER\0");
        jpeg.extend_from_slice(&[0xFF, 0xEE, 0x00, 0x0E]);
        jpeg.extend_from_slice(b"Adobe\0\x64\0\0\0\0\x01");
        jpeg.extend_from_slice(&[0xFF, 0xEE, 0x00, 0x08]);
        jpeg.extend_from_slice(b"Ducky\0");
        jpeg.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0x11, 0xFF, 0xD9]);
        let stripped = strip_jpeg_metadata(&jpeg).expect("valid JPEG");
        let mut expected = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        expected.extend_from_slice(b"JFIF\0\x01\x02\x01\x00\x48\x00\x48\x00\x00");
        expected.extend_from_slice(&[0xFF, 0xEE, 0x00, 0x0E]);
        expected.extend_from_slice(b"Adobe\0\x64\0\0\0\0\x01");
        expected.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x02, 0x11, 0xFF, 0xD9]);
        assert_eq!(stripped, expected);
    }

    #[test]
    fn gif_comments_and_foreign_application_blocks_are_dropped() {
        let mut gif = Vec::new();
        gif.extend_from_slice(b"GIF89a\x01\x00\x01\x00\x80\x00\x00"); // 1×1, 2-colour palette
        gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
        gif.extend_from_slice(b"\x21\xFE\x06SECRET\x00"); // comment
        gif.extend_from_slice(b"\x21\xFF\x0BXMP DataXMP\x04GPS!\x00"); // XMP application block
        gif.extend_from_slice(b"\x21\xFF\x0BNETSCAPE2.0\x03\x01\x00\x00\x00"); // looping
        gif.extend_from_slice(b"\x2C\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00");
        gif.push(0x3B);
        let stripped = strip_gif_metadata(&gif).expect("valid GIF");
        let text = String::from_utf8_lossy(&stripped);
        assert!(!text.contains("SECRET") && !text.contains("XMP") && !text.contains("GPS"));
        assert!(text.contains("NETSCAPE2.0"));
        assert!(
            strip_gif_metadata(&gif[..gif.len() - 5]).is_none(),
            "truncated"
        );
    }
}
