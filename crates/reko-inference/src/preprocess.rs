//! Turning images into model inputs: bilinear resizing (OpenCV `INTER_LINEAR` semantics, which the
//! models were trained with), letterboxing, channel order and per-channel normalisation into tensors.

use image::{Rgb, RgbImage};
use ndarray::Array4;

/// Where a letterboxed image sits in the model input: model = image * scale + pad.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Letterbox {
    pub scale: f32,
    pub pad_x: f32,
    pub pad_y: f32,
}

impl Letterbox {
    /// Maps a point of the model input back to the original image.
    pub fn to_image(&self, x: f32, y: f32) -> (f32, f32) {
        ((x - self.pad_x) / self.scale, (y - self.pad_y) / self.scale)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Nchw,
    Nhwc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    Rgb,
    Bgr,
    /// One channel of luma (ITU-R BT.601 weights).
    Gray,
}

/// value = (pixel - mean) / std, per channel in the model's channel order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalization {
    /// Pixels scaled to 0..1.
    pub const UNIT: Normalization = Normalization { mean: [0.0; 3], std: [255.0; 3] };
    /// Pixels scaled to -1..1.
    pub const SIGNED_UNIT: Normalization = Normalization { mean: [127.5; 3], std: [127.5; 3] };
}

/// Bilinear resize with half-pixel centres, as OpenCV's `INTER_LINEAR`: [`resize_canvas`] with the image
/// as its own canvas (measured as fast as a loop of its own: 5–27 ms a 1920 × 1080 photo either way).
pub fn resize_bilinear(image: &RgbImage, width: u32, height: u32) -> RgbImage {
    resize_canvas(image, image.dimensions(), (0, 0), width, height)
}

/// A bilinear resize (half-pixel centres, as OpenCV's `INTER_LINEAR`) of a black `canvas` (width, height)
/// with `image` placed at `offset` on it, without making the canvas (a full-HD photo padded to a square
/// is 11 MB).
pub fn resize_canvas(image: &RgbImage, canvas: (u32, u32), offset: (i64, i64), width: u32, height: u32) -> RgbImage {
    resize_canvas_corner(image, canvas, offset, (width, height), (width, height))
}

/// The top-left `corner` (width, height; each at most the full output's) of [`resize_canvas`] to
/// `(width, height)`, pixel for pixel, without computing the rest.
///
/// Separable and bit for bit the four-pixel blend: each canvas row an output row needs is first blended
/// across each output column's two source columns (`a·(1−fx) + b·fx`, kept as f32, and kept for the next
/// output row, which mostly needs it again), then two such rows are blended (`top·(1−fy) + bottom·fy`),
/// a loop over contiguous values that the compiler vectorises.
pub fn resize_canvas_corner(
    image: &RgbImage,
    canvas: (u32, u32),
    offset: (i64, i64),
    (width, height): (u32, u32),
    corner: (u32, u32),
) -> RgbImage {
    let (src_w, src_h) = canvas;
    let scale_x = src_w as f32 / width as f32;
    let scale_y = src_h as f32 / height as f32;
    let (width, height) = (corner.0.min(width), corner.1.min(height));
    let stride = image.width() as usize * 3;
    // A canvas column's byte offset within an image row; the columns off the image read one black pixel
    // past the row's end (of a copy of the row that has it).
    let column = |x: u32| {
        let x = i64::from(x) - offset.0;
        if (0..i64::from(image.width())).contains(&x) { x as usize * 3 } else { stride }
    };
    let columns: Vec<(usize, usize, f32)> = (0..width)
        .map(|x| {
            let (x0, x1, fx) = sample_coordinate(x, scale_x, src_w);
            (column(x0), column(x1), fx)
        })
        .collect();
    let off_image = columns.iter().any(|&(x0, x1, _)| x0 == stride || x1 == stride);
    let mut padded = if off_image { vec![0u8; stride + 3] } else { Vec::new() };
    let src = image.as_raw();
    // Canvas row `y` blended across the columns into `out` (zeros off the image).
    let mut blend_row = |y: u32, out: &mut [f32]| {
        let y = i64::from(y) - offset.1;
        if !(0..i64::from(image.height())).contains(&y) {
            out.fill(0.0);
            return;
        }
        let mut row = &src[y as usize * stride..][..stride];
        if off_image {
            padded[..stride].copy_from_slice(row);
            row = &padded;
        }
        for (value, &(x0, x1, fx)) in out.chunks_exact_mut(3).zip(&columns) {
            for (ch, v) in value.iter_mut().enumerate() {
                let (a, b) = (f32::from(row[x0 + ch]), f32::from(row[x1 + ch]));
                *v = a * (1.0 - fx) + b * fx;
            }
        }
    };
    let n = width as usize * 3;
    // The two blended rows at hand: (canvas row, values).
    let mut rows: [(Option<u32>, Vec<f32>); 2] = [(None, vec![0.0; n]), (None, vec![0.0; n])];
    let mut out = vec![0u8; n * height as usize];
    for (y, out_row) in out.chunks_exact_mut(n.max(1)).enumerate() {
        let (y0, y1, fy) = sample_coordinate(y as u32, scale_y, src_h);
        if rows[0].0 != Some(y0) {
            if rows[1].0 == Some(y0) {
                rows.swap(0, 1);
            } else {
                blend_row(y0, &mut rows[0].1);
                rows[0].0 = Some(y0);
            }
        }
        if rows[1].0 != Some(y1) {
            blend_row(y1, &mut rows[1].1);
            rows[1].0 = Some(y1);
        }
        let (top, bottom) = (&rows[0].1, &rows[1].1);
        for ((value, &t), &b) in out_row.iter_mut().zip(top).zip(bottom) {
            *value = round_to_u8(t * (1.0 - fy) + b * fy);
        }
    }
    RgbImage::from_raw(width, height, out).expect("the buffer fits the image")
}

/// `v.round().clamp(0.0, 255.0) as u8` for `v` ≥ 0 (a blend of pixel values), bit for bit, without
/// `round`, which the baseline x86-64 target compiles to a library call (it was most of a face crop's
/// time). The fraction `v - trunc(v)` is exact for `v` < 2²³, so half rounds up as `round` does.
#[inline]
pub fn round_to_u8(v: f32) -> u8 {
    // Clamped first (a NaN stays one and converts to 0), then through i32, whose conversion vectorises
    // (u32's does not).
    let v = v.clamp(0.0, 255.0);
    let whole = v as i32;
    let up = i32::from(v - whole as f32 >= 0.5);
    (whole + up).min(255) as u8
}

/// The two source indices and the weight of the second for output coordinate `i`.
fn sample_coordinate(i: u32, scale: f32, size: u32) -> (u32, u32, f32) {
    let src = ((i as f32 + 0.5) * scale - 0.5).max(0.0);
    let i0 = (src.floor() as u32).min(size - 1);
    let i1 = (i0 + 1).min(size - 1);
    (i0, i1, src - i0 as f32)
}

/// Resizes keeping the aspect ratio and pads to `width` × `height`, centred, with `fill`.
pub fn letterbox(image: &RgbImage, width: u32, height: u32, fill: [u8; 3]) -> (RgbImage, Letterbox) {
    let (w, h) = image.dimensions();
    let scale = (width as f32 / w as f32).min(height as f32 / h as f32);
    let new_w = ((w as f32 * scale).round() as u32).clamp(1, width);
    let new_h = ((h as f32 * scale).round() as u32).clamp(1, height);
    let resized = resize_bilinear(image, new_w, new_h);
    let (pad_x, pad_y) = ((width - new_w) / 2, (height - new_h) / 2);
    let mut out = RgbImage::from_pixel(width, height, Rgb(fill));
    image::imageops::replace(&mut out, &resized, i64::from(pad_x), i64::from(pad_y));
    (out, Letterbox { scale, pad_x: pad_x as f32, pad_y: pad_y as f32 })
}

/// A batch-of-one tensor from an RGB image.
pub fn to_tensor(image: &RgbImage, layout: Layout, order: ChannelOrder, norm: Normalization) -> Array4<f32> {
    to_tensor_padded(image, image.dimensions(), layout, order, norm)
}

/// [`to_tensor`] of a black canvas of `size` (width, height; each at least the image's) with `image` at
/// its top-left corner, without making the canvas.
pub fn to_tensor_padded(
    image: &RgbImage,
    size: (u32, u32),
    layout: Layout,
    order: ChannelOrder,
    norm: Normalization,
) -> Array4<f32> {
    let (w, h) = (size.0.max(image.width()) as usize, size.1.max(image.height()) as usize);
    let image_w = image.width() as usize;
    let channels = if order == ChannelOrder::Gray { 1 } else { 3 };
    // The source byte each tensor channel reads (gray mixes all three).
    let source = match order {
        ChannelOrder::Rgb => [0, 1, 2],
        ChannelOrder::Bgr => [2, 1, 0],
        ChannelOrder::Gray => [0, 0, 0],
    };
    // Every byte value, normalised per channel: the same arithmetic as per pixel, done 256 times.
    let table: Vec<[f32; 256]> =
        (0..channels).map(|ch| std::array::from_fn(|v| (v as f32 - norm.mean[ch]) / norm.std[ch])).collect();
    let gray = |pixel: &[u8]| -> f32 {
        let [r, g, b] = [pixel[0], pixel[1], pixel[2]].map(f32::from);
        (0.299 * r + 0.587 * g + 0.114 * b - norm.mean[0]) / norm.std[0]
    };
    // A black pixel, per channel (gray's sum of zeros is zero too).
    let black: Vec<f32> = table.iter().map(|t| t[0]).collect();
    // The image's rows of pixels; the canvas rows below them, and the columns right of them, are black.
    let rows = image.as_raw().chunks_exact((image_w * 3).max(1));
    let mut data = vec![0f32; channels * h * w];
    match layout {
        Layout::Nchw => {
            for (ch, plane) in data.chunks_exact_mut(h * w).enumerate() {
                let mut rows = rows.clone();
                for out in plane.chunks_exact_mut(w) {
                    let (inside, right) = out.split_at_mut(image_w);
                    match rows.next() {
                        Some(row) if order == ChannelOrder::Gray => {
                            for (out, pixel) in inside.iter_mut().zip(row.chunks_exact(3)) {
                                *out = gray(pixel);
                            }
                        }
                        Some(row) => table_row(inside, row, source[ch], &table[ch]),
                        None => inside.fill(black[ch]),
                    }
                    right.fill(black[ch]);
                }
            }
            Array4::from_shape_vec((1, channels, h, w), data).expect("the planes fill the tensor")
        }
        Layout::Nhwc => {
            let mut rows = rows;
            for out in data.chunks_exact_mut(w * channels) {
                let (inside, right) = out.split_at_mut(image_w * channels);
                match rows.next() {
                    Some(row) => {
                        for (out, pixel) in inside.chunks_exact_mut(channels).zip(row.chunks_exact(3)) {
                            if order == ChannelOrder::Gray {
                                out[0] = gray(pixel);
                            } else {
                                for (ch, slot) in out.iter_mut().enumerate() {
                                    *slot = table[ch][usize::from(pixel[source[ch]])];
                                }
                            }
                        }
                    }
                    None => fill_pixels(inside, &black),
                }
                fill_pixels(right, &black);
            }
            Array4::from_shape_vec((1, h, w, channels), data).expect("the pixels fill the tensor")
        }
    }
}

/// One plane row: byte `byte` of each pixel of `row`, through `table`.
fn table_row(out: &mut [f32], row: &[u8], byte: usize, table: &[f32; 256]) {
    for (out, pixel) in out.iter_mut().zip(row.chunks_exact(3)) {
        *out = table[usize::from(pixel[byte])];
    }
}

/// `values` (one pixel, channels last) repeated over `out`.
fn fill_pixels(out: &mut [f32], values: &[f32]) {
    for slot in out.chunks_exact_mut(values.len()) {
        slot.copy_from_slice(values);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resize and the tensor pixel by pixel, as first written: the fast ones must give the same bits.
    fn resize_by_pixel(image: &RgbImage, width: u32, height: u32) -> RgbImage {
        let (src_w, src_h) = image.dimensions();
        let (scale_x, scale_y) = (src_w as f32 / width as f32, src_h as f32 / height as f32);
        RgbImage::from_fn(width, height, |x, y| {
            let (x0, x1, fx) = sample_coordinate(x, scale_x, src_w);
            let (y0, y1, fy) = sample_coordinate(y, scale_y, src_h);
            let p = |px: u32, py: u32| image.get_pixel(px, py).0;
            let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
            Rgb(std::array::from_fn(|ch| {
                let top = f32::from(a[ch]) * (1.0 - fx) + f32::from(b[ch]) * fx;
                let bottom = f32::from(c[ch]) * (1.0 - fx) + f32::from(d[ch]) * fx;
                (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8
            }))
        })
    }

    fn tensor_by_pixel(image: &RgbImage, layout: Layout, order: ChannelOrder, norm: Normalization) -> Array4<f32> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let channels = if order == ChannelOrder::Gray { 1 } else { 3 };
        let mut tensor = match layout {
            Layout::Nchw => Array4::<f32>::zeros((1, channels, h, w)),
            Layout::Nhwc => Array4::<f32>::zeros((1, h, w, channels)),
        };
        for (x, y, pixel) in image.enumerate_pixels() {
            let (x, y) = (x as usize, y as usize);
            let [r, g, b] = pixel.0.map(f32::from);
            for ch in 0..channels {
                let raw = match order {
                    ChannelOrder::Rgb => [r, g, b][ch],
                    ChannelOrder::Bgr => [b, g, r][ch],
                    ChannelOrder::Gray => 0.299 * r + 0.587 * g + 0.114 * b,
                };
                let value = (raw - norm.mean[ch]) / norm.std[ch];
                match layout {
                    Layout::Nchw => tensor[[0, ch, y, x]] = value,
                    Layout::Nhwc => tensor[[0, y, x, ch]] = value,
                }
            }
        }
        tensor
    }

    #[test]
    fn round_to_u8_is_round_and_clamp() {
        let edges = [
            0.0,
            0.49999997,
            0.5,
            0.50000006,
            1.5,
            2.5,
            126.49999,
            126.5,
            254.49998,
            254.5,
            255.0,
            255.00002,
            300.0,
            -3.0,
            f32::NAN,
        ];
        let steps = (0..=255 * 4096).map(|i| i as f32 / 4096.0);
        for v in steps.chain(edges) {
            assert_eq!(round_to_u8(v), v.round().clamp(0.0, 255.0) as u8, "{v}");
        }
    }

    #[test]
    fn the_fast_resize_and_tensor_give_the_same_bits_as_pixel_by_pixel() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut byte = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 56) as u8
        };
        let image = RgbImage::from_fn(37, 23, |_, _| Rgb([byte(), byte(), byte()]));
        for (w, h) in [(37, 23), (80, 61), (11, 5), (1, 1), (64, 23)] {
            assert_eq!(resize_bilinear(&image, w, h), resize_by_pixel(&image, w, h), "{w}x{h}");
        }
        for (side_w, side_h, px, py) in
            [(37, 37, 0, 0), (50, 40, 6, 9), (37, 60, 0, 37 - 23), (20, 20, -5, -4), (30, 30, -20, 10)]
        {
            let mut canvas = RgbImage::new(side_w, side_h);
            image::imageops::replace(&mut canvas, &image, px, py);
            for (w, h) in [(20, 20), (64, 48), (7, 9)] {
                let fast = resize_canvas(&image, (side_w, side_h), (px, py), w, h);
                assert_eq!(fast, resize_by_pixel(&canvas, w, h), "{side_w}x{side_h}+{px}+{py} to {w}x{h}");
                for corner in [(w, h), (w / 2, h), (w, 3), (1, 1), (w + 5, h + 5)] {
                    let part = resize_canvas_corner(&image, (side_w, side_h), (px, py), (w, h), corner);
                    let (cw, ch) = (corner.0.min(w), corner.1.min(h));
                    assert_eq!(part, image::imageops::crop_imm(&fast, 0, 0, cw, ch).to_image(), "{corner:?}");
                }
            }
        }
        let norm = Normalization { mean: [123.7, 116.3, 103.5], std: [58.4, 57.1, 57.4] };
        for layout in [Layout::Nchw, Layout::Nhwc] {
            for order in [ChannelOrder::Rgb, ChannelOrder::Bgr, ChannelOrder::Gray] {
                assert_eq!(to_tensor(&image, layout, order, norm), tensor_by_pixel(&image, layout, order, norm));
                for (w, h) in [(37, 23), (40, 23), (37, 32), (64, 64)] {
                    let mut canvas = RgbImage::new(w, h);
                    image::imageops::replace(&mut canvas, &image, 0, 0);
                    let padded = to_tensor_padded(&image, (w, h), layout, order, norm);
                    assert_eq!(padded, tensor_by_pixel(&canvas, layout, order, norm), "{w}x{h}");
                }
            }
        }
    }

    #[test]
    fn bilinear_resize_matches_opencv_semantics() {
        // 2x1 → 4x1: OpenCV gives [a, a*0.75+b*0.25, a*0.25+b*0.75, b].
        let image = RgbImage::from_fn(2, 1, |x, _| if x == 0 { Rgb([0, 0, 0]) } else { Rgb([200, 100, 40]) });
        let out = resize_bilinear(&image, 4, 1);
        let reds: Vec<u8> = out.pixels().map(|p| p.0[0]).collect();
        assert_eq!(reds, [0, 50, 150, 200]);
        // Identity size is exact.
        let noise = RgbImage::from_fn(7, 5, |x, y| Rgb([(x * 31 + y * 7) as u8, (x * y) as u8, 3]));
        assert_eq!(resize_bilinear(&noise, 7, 5), noise);
    }

    #[test]
    fn letterbox_centres_and_maps_back() {
        let image = RgbImage::from_pixel(200, 100, Rgb([255, 255, 255]));
        let (out, lb) = letterbox(&image, 64, 64, [114, 114, 114]);
        assert_eq!(out.dimensions(), (64, 64));
        assert_eq!((lb.scale, lb.pad_x, lb.pad_y), (0.32, 0.0, 16.0));
        assert_eq!(out.get_pixel(10, 5).0, [114, 114, 114]);
        assert_eq!(out.get_pixel(10, 32).0, [255, 255, 255]);
        let (x, y) = lb.to_image(64.0, 48.0);
        assert!((x - 200.0).abs() < 1e-3 && (y - 100.0).abs() < 1e-3);
    }

    #[test]
    fn tensors_follow_layout_order_and_normalisation() {
        let image = RgbImage::from_fn(2, 1, |x, _| Rgb([10 * x as u8, 100, 255]));
        let nchw = to_tensor(&image, Layout::Nchw, ChannelOrder::Bgr, Normalization::UNIT);
        assert_eq!(nchw.shape(), [1, 3, 1, 2]);
        assert_eq!(nchw[[0, 0, 0, 1]], 1.0); // B first
        assert_eq!(nchw[[0, 2, 0, 1]], 10.0 / 255.0);
        let nhwc = to_tensor(&image, Layout::Nhwc, ChannelOrder::Rgb, Normalization::SIGNED_UNIT);
        assert_eq!(nhwc.shape(), [1, 1, 2, 3]);
        assert_eq!(nhwc[[0, 0, 0, 2]], 1.0);
        assert_eq!(nhwc[[0, 0, 0, 0]], -1.0);
        let gray = to_tensor(&image, Layout::Nhwc, ChannelOrder::Gray, Normalization::UNIT);
        assert_eq!(gray.shape(), [1, 1, 2, 1]);
        let luma = (0.299 * 10.0 + 0.587 * 100.0 + 0.114 * 255.0) / 255.0;
        assert!((gray[[0, 0, 1, 0]] - luma).abs() < 1e-6);
    }
}

/// How a resized image relates to the original: model = image * scale + pad, per axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    pub scale_x: f32,
    pub scale_y: f32,
    pub pad_x: f32,
    pub pad_y: f32,
}

impl Placement {
    pub fn to_image(&self, x: f32, y: f32) -> (f32, f32) {
        ((x - self.pad_x) / self.scale_x, (y - self.pad_y) / self.scale_y)
    }
}

/// Prepares `image` as the model's manifest says: resize mode, channel order, layout, normalisation.
/// `multiple-of-32` keeps the size (rounded to multiples of 32, longest side at most `max_side`).
pub fn prepare(image: &RgbImage, spec: &reko_models::Preprocessing, max_side: u32) -> (Array4<f32>, Placement) {
    let (w, h) = image.dimensions();
    let (resized, placement) = match spec.resize.as_str() {
        "letterbox" => {
            let (out, lb) = letterbox(image, spec.width, spec.height, [114, 114, 114]);
            (out, Placement { scale_x: lb.scale, scale_y: lb.scale, pad_x: lb.pad_x, pad_y: lb.pad_y })
        }
        "multiple-of-32" => {
            let ratio = (max_side as f32 / w.max(h) as f32).min(1.0);
            let round = |v: u32| (((v as f32 * ratio) / 32.0).round() as u32).max(1) * 32;
            let (nw, nh) = (round(w), round(h));
            let out = resize_bilinear(image, nw, nh);
            (out, Placement { scale_x: nw as f32 / w as f32, scale_y: nh as f32 / h as f32, pad_x: 0.0, pad_y: 0.0 })
        }
        "keep" => {
            let ratio = (max_side as f32 / w.max(h) as f32).min(1.0);
            let (nw, nh) = (((w as f32 * ratio).round() as u32).max(1), ((h as f32 * ratio).round() as u32).max(1));
            let out = if ratio < 1.0 { resize_bilinear(image, nw, nh) } else { image.clone() };
            (out, Placement { scale_x: nw as f32 / w as f32, scale_y: nh as f32 / h as f32, pad_x: 0.0, pad_y: 0.0 })
        }
        "pad-bottom-right" | "pad-centre" => {
            let side = w.max(h);
            let (px, py) = if spec.resize == "pad-centre" { ((side - w) / 2, (side - h) / 2) } else { (0, 0) };
            let out = resize_canvas(image, (side, side), (i64::from(px), i64::from(py)), spec.width, spec.height);
            let scale = spec.width as f32 / side as f32;
            (out, Placement { scale_x: scale, scale_y: scale, pad_x: px as f32 * scale, pad_y: py as f32 * scale })
        }
        "height" => {
            let nh = spec.height;
            let nw =
                if spec.width > 0 { spec.width } else { ((w as f32 * nh as f32 / h as f32).round() as u32).max(1) };
            let out = resize_bilinear(image, nw, nh);
            (out, Placement { scale_x: nw as f32 / w as f32, scale_y: nh as f32 / h as f32, pad_x: 0.0, pad_y: 0.0 })
        }
        _ => {
            let out = resize_bilinear(image, spec.width, spec.height);
            let placement = Placement {
                scale_x: spec.width as f32 / w as f32,
                scale_y: spec.height as f32 / h as f32,
                pad_x: 0.0,
                pad_y: 0.0,
            };
            (out, placement)
        }
    };
    let layout = if spec.layout == "NHWC" { Layout::Nhwc } else { Layout::Nchw };
    let order = match spec.channels.as_str() {
        "BGR" => ChannelOrder::Bgr,
        "GRAY" => ChannelOrder::Gray,
        _ => ChannelOrder::Rgb,
    };
    (to_tensor(&resized, layout, order, Normalization { mean: spec.mean, std: spec.std }), placement)
}
