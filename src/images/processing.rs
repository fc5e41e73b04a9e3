//! Turning uploaded bytes into safe, servable files: sniffing the real type, refusing pixel
//! floods before decoding, decoding under memory limits, applying EXIF orientation, and
//! re-encoding everything so that no EXIF, GPS or XMP metadata survives in any served file.
//!
//! Synchronous and CPU-bound: callers run it on the blocking pool behind a semaphore.

use std::{fs::File, io::BufReader, path::Path};

use image::{
    DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageFormat, ImageReader, Limits,
    codecs::{
        jpeg::JpegEncoder,
        png::{CompressionType, FilterType as PngFilter, PngEncoder},
    },
    imageops::FilterType,
};

/// Widths of the responsive variants. Never upscaled: only widths below the original's.
pub const VARIANT_WIDTHS: [u32; 5] = [320, 640, 1024, 1600, 2400];

const JPEG_QUALITY_ORIGINAL: u8 = 90;
const JPEG_QUALITY_VARIANT: u8 = 82;
const WEBP_QUALITY_ORIGINAL: f32 = 90.0;
const WEBP_QUALITY_VARIANT: f32 = 80.0;

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

    let original = match format {
        // Re-encoding a GIF would lose its animation; its metadata blocks are dropped instead.
        Format::Gif => Encoded {
            width: image.width(),
            height: image.height(),
            mime_type: format.mime_type(),
            extension: format.extension(),
            bytes: strip_gif_metadata(&std::fs::read(path)?)
                .ok_or_else(|| ImageError::Undecodable("malformed GIF block structure".into()))?,
        },
        Format::Jpeg => encode_jpeg(&image, JPEG_QUALITY_ORIGINAL, icc.as_deref())?,
        Format::Png => encode_png(&image, icc.as_deref())?,
        Format::Webp => encode_webp(&image, WEBP_QUALITY_ORIGINAL)?,
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
    let mut by_width: Vec<[Encoded; 2]> = Vec::new();
    // Downscale in a cascade, largest first: each step resamples the previous, much smaller
    // than the original, which keeps a 12-megapixel upload well under a second.
    let mut source: Option<DynamicImage> = None;
    for &target in VARIANT_WIDTHS.iter().rev().filter(|&&w| w < width) {
        let target_height = ((u64::from(height) * u64::from(target) + u64::from(width) / 2)
            / u64::from(width))
        .max(1) as u32;
        let from = source.as_ref().unwrap_or(image);
        let resized = from.resize_exact(target, target_height, FilterType::Triangle);
        let fallback = if resized.color().has_alpha() {
            encode_png(&resized, icc)?
        } else {
            encode_jpeg(&resized, JPEG_QUALITY_VARIANT, icc)?
        };
        by_width.push([encode_webp(&resized, WEBP_QUALITY_VARIANT)?, fallback]);
        source = Some(resized);
    }
    by_width.reverse();
    Ok(by_width.into_iter().flatten().collect())
}

fn encode_jpeg(
    image: &DynamicImage,
    quality: u8,
    icc: Option<&[u8]>,
) -> Result<Encoded, ImageError> {
    let rgb = image.to_rgb8();
    let mut bytes = Vec::new();
    let mut encoder = JpegEncoder::new_with_quality(&mut bytes, quality);
    if let Some(icc) = icc {
        let _ = encoder.set_icc_profile(icc.to_vec());
    }
    encoder
        .write_image(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            ExtendedColorType::Rgb8,
        )
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
    let memory = match image {
        DynamicImage::ImageRgba8(rgba) => {
            webp::Encoder::from_rgba(rgba.as_raw(), width, height).encode(quality)
        }
        other => {
            let rgb = other.to_rgb8();
            webp::Encoder::from_rgb(rgb.as_raw(), width, height).encode(quality)
        }
    };
    if memory.is_empty() {
        return Err(ImageError::Encoding("libwebp produced no output".into()));
    }
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
