//! Writes a photo-like JPEG for the benchmark: `bench_photo WIDTH HEIGHT SEED OUT.jpg`.
//! Smooth gradients plus sensor-like noise, so encoders and decoders work as hard as on a
//! real photograph (a flat colour would compress to nothing and flatter every figure).

use image::{ImageEncoder, codecs::jpeg::JpegEncoder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [width, height, seed, out] = args.as_slice() else {
        return Err("usage: bench_photo WIDTH HEIGHT SEED OUT.jpg".into());
    };
    let (width, height, seed): (u32, u32, u64) = (width.parse()?, height.parse()?, seed.parse()?);
    // xorshift needs a state that is not zero; `seed | 1` gave seeds 2k and 2k+1 the same
    // picture (which Galley's sha256 dedup then stored once). splitmix64 spreads each seed over
    // all 64 bits first.
    let mut state = {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)).max(1)
    };
    let mut pixels = Vec::with_capacity(width as usize * height as usize * 3);
    for y in 0..height {
        for x in 0..width {
            // xorshift64: cheap, deterministic noise.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state % 24) as u32;
            let r = (x * 200 / width + noise) as u8;
            let g = (y * 180 / height + noise) as u8;
            let b = (((x + y) * 90 / (width + height)) + 60 + noise) as u8;
            pixels.extend_from_slice(&[r, g, b]);
        }
    }
    let file = std::io::BufWriter::new(std::fs::File::create(out)?);
    JpegEncoder::new_with_quality(file, 92).write_image(
        &pixels,
        width,
        height,
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(())
}
