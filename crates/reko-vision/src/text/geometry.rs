//! Plane geometry for text boxes: connected components of a mask, convex hulls, minimum-area rectangles,
//! quadrilaterals and point-in-polygon tests.

/// A point in pixels.
pub type Point = (f32, f32);

/// A quadrilateral, corners clockwise from the top-left of the text: top-left, top-right, bottom-right,
/// bottom-left.
pub type Quad = [Point; 4];

/// The 8-connected components of `mask` (`width` × `height`, row-major), each as the pixels at the two
/// ends of each of its row runs — all a convex hull needs.
pub fn components(mask: &[bool], width: usize, height: usize) -> Vec<Vec<Point>> {
    let mut label = vec![u32::MAX; mask.len()];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || label[start] != u32::MAX {
            continue;
        }
        let id = out.len() as u32;
        // Per row of the component: the leftmost and rightmost pixel.
        let mut rows: std::collections::BTreeMap<usize, (usize, usize)> = Default::default();
        label[start] = id;
        stack.push(start);
        while let Some(at) = stack.pop() {
            let (x, y) = (at % width, at / width);
            let run = rows.entry(y).or_insert((x, x));
            run.0 = run.0.min(x);
            run.1 = run.1.max(x);
            for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                    let next = ny * width + nx;
                    if mask[next] && label[next] == u32::MAX {
                        label[next] = id;
                        stack.push(next);
                    }
                }
            }
        }
        let points = rows.iter().flat_map(|(&y, &(x0, x1))| [(x0 as f32, y as f32), (x1 as f32, y as f32)]).collect();
        out.push(points);
    }
    out
}

fn cross(o: Point, a: Point, b: Point) -> f32 {
    (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
}

/// The convex hull of `points` (Andrew's monotone chain), counter-clockwise in image coordinates.
pub fn convex_hull(points: &[Point]) -> Vec<Point> {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    sorted.dedup();
    if sorted.len() < 3 {
        return sorted;
    }
    let mut hull: Vec<Point> = Vec::with_capacity(2 * sorted.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &Point>> =
            if pass == 0 { Box::new(sorted.iter()) } else { Box::new(sorted.iter().rev()) };
        for &p in iter {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], p) <= 0.0 {
                hull.pop();
            }
            hull.push(p);
        }
        hull.pop();
    }
    hull
}

/// A rotated rectangle: centre, the unit direction of its first side, and the two side lengths.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RotatedRect {
    pub centre: Point,
    pub axis: Point,
    pub length: f32,
    pub breadth: f32,
}

impl RotatedRect {
    /// Its four corners, in no particular order.
    pub fn corners(&self) -> [Point; 4] {
        let (ux, uy) = self.axis;
        let (vx, vy) = (-uy, ux);
        let (hl, hb) = (self.length / 2.0, self.breadth / 2.0);
        let (cx, cy) = self.centre;
        [
            (cx - ux * hl - vx * hb, cy - uy * hl - vy * hb),
            (cx + ux * hl - vx * hb, cy + uy * hl - vy * hb),
            (cx + ux * hl + vx * hb, cy + uy * hl + vy * hb),
            (cx - ux * hl + vx * hb, cy - uy * hl + vy * hb),
        ]
    }

    /// The shorter side.
    pub fn short_side(&self) -> f32 {
        self.length.min(self.breadth)
    }

    /// The same rectangle grown by `distance` on every side.
    pub fn grown(&self, distance: f32) -> RotatedRect {
        RotatedRect { length: self.length + 2.0 * distance, breadth: self.breadth + 2.0 * distance, ..*self }
    }
}

/// The rectangle of least area containing `points` (rotating calipers over the hull's edges).
pub fn min_area_rect(points: &[Point]) -> RotatedRect {
    let hull = convex_hull(points);
    if hull.len() < 3 {
        // A point or a segment: a rectangle of zero breadth along it.
        let (a, b) = (hull[0], *hull.last().unwrap_or(&hull[0]));
        let length = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        let axis = if length > 0.0 { ((b.0 - a.0) / length, (b.1 - a.1) / length) } else { (1.0, 0.0) };
        return RotatedRect { centre: ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0), axis, length, breadth: 0.0 };
    }
    let mut best: Option<(f32, RotatedRect)> = None;
    for i in 0..hull.len() {
        let (a, b) = (hull[i], hull[(i + 1) % hull.len()]);
        let edge = ((b.0 - a.0).powi(2) + (b.1 - a.1).powi(2)).sqrt();
        if edge == 0.0 {
            continue;
        }
        let (ux, uy) = ((b.0 - a.0) / edge, (b.1 - a.1) / edge);
        let (mut u0, mut u1, mut v0, mut v1) = (f32::MAX, f32::MIN, f32::MAX, f32::MIN);
        for &(x, y) in &hull {
            let (u, v) = (x * ux + y * uy, -x * uy + y * ux);
            u0 = u0.min(u);
            u1 = u1.max(u);
            v0 = v0.min(v);
            v1 = v1.max(v);
        }
        let area = (u1 - u0) * (v1 - v0);
        if best.as_ref().is_none_or(|(best_area, _)| area < *best_area) {
            let (cu, cv) = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
            let centre = (cu * ux - cv * uy, cu * uy + cv * ux);
            best = Some((area, RotatedRect { centre, axis: (ux, uy), length: u1 - u0, breadth: v1 - v0 }));
        }
    }
    best.map(|(_, rect)| rect).expect("a hull of three points has an edge")
}

/// Orders a rectangle's corners as PP-OCR does: of the two leftmost, the upper is the top-left and the other
/// the bottom-left; of the two rightmost, the upper is the top-right.
pub fn order_corners(corners: [Point; 4]) -> Quad {
    let mut by_x = corners;
    by_x.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (top_left, bottom_left) = if by_x[1].1 > by_x[0].1 { (by_x[0], by_x[1]) } else { (by_x[1], by_x[0]) };
    let (top_right, bottom_right) = if by_x[3].1 > by_x[2].1 { (by_x[2], by_x[3]) } else { (by_x[3], by_x[2]) };
    [top_left, top_right, bottom_right, bottom_left]
}

/// Area of a polygon (shoelace), unsigned.
pub fn polygon_area(polygon: &[Point]) -> f32 {
    let n = polygon.len();
    (0..n)
        .map(|i| {
            let (a, b) = (polygon[i], polygon[(i + 1) % n]);
            a.0 * b.1 - b.0 * a.1
        })
        .sum::<f32>()
        .abs()
        / 2.0
}

/// Whether `p` lies inside `polygon` (even-odd rule).
pub fn contains(polygon: &[Point], p: Point) -> bool {
    let mut inside = false;
    let n = polygon.len();
    for i in 0..n {
        let (a, b) = (polygon[i], polygon[(i + n - 1) % n]);
        if (a.1 > p.1) != (b.1 > p.1) && p.0 < (b.0 - a.0) * (p.1 - a.1) / (b.1 - a.1) + a.0 {
            inside = !inside;
        }
    }
    inside
}

/// The axis-aligned box around a quadrilateral.
pub fn bounds(quad: &Quad) -> reko_inference::boxes::BBox {
    let (mut x1, mut y1, mut x2, mut y2) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for &(x, y) in quad {
        (x1, y1, x2, y2) = (x1.min(x), y1.min(y), x2.max(x), y2.max(y));
    }
    reko_inference::boxes::BBox { x1, y1, x2, y2 }
}

/// Distance between two points.
pub fn distance(a: Point, b: Point) -> f32 {
    ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
}

/// The point `t` of the way from `a` to `b`.
pub fn lerp(a: Point, b: Point, t: f32) -> Point {
    (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_eight_connected_and_separate() {
        #[rustfmt::skip]
        let mask = [
            1, 1, 0, 0, 1,
            0, 0, 1, 0, 1,
            0, 0, 0, 0, 0,
            1, 0, 0, 0, 0,
        ].map(|v| v == 1);
        let mut found = components(&mask, 5, 4);
        found.iter_mut().for_each(|c| c.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1))));
        assert_eq!(found.len(), 3);
        assert!(found[0].contains(&(0.0, 0.0)) && found[0].contains(&(2.0, 1.0)));
        assert!(found[1].contains(&(4.0, 0.0)) && found[1].contains(&(4.0, 1.0)));
        assert_eq!(found[2], vec![(0.0, 3.0), (0.0, 3.0)]);
    }

    #[test]
    fn the_minimum_rectangle_of_a_rotated_box_is_that_box() {
        // A 40 × 10 rectangle turned by 30 degrees, sampled densely.
        let (c, s) = (30f32.to_radians().cos(), 30f32.to_radians().sin());
        let mut points = Vec::new();
        for i in 0..=40 {
            for j in 0..=10 {
                let (u, v) = (i as f32 - 20.0, j as f32 - 5.0);
                points.push((100.0 + u * c - v * s, 50.0 + u * s + v * c));
            }
        }
        let rect = min_area_rect(&points);
        let (long, short) = (rect.length.max(rect.breadth), rect.short_side());
        assert!((long - 40.0).abs() < 0.01 && (short - 10.0).abs() < 0.01, "{rect:?}");
        assert!(distance(rect.centre, (100.0, 50.0)) < 0.01);
        let quad = order_corners(rect.corners());
        // Reading direction: the top edge runs along the long side, rising 30 degrees... downwards in image
        // coordinates (y grows down).
        let top = (quad[1].0 - quad[0].0, quad[1].1 - quad[0].1);
        assert!((top.1.atan2(top.0).to_degrees() - 30.0).abs() < 0.1, "{quad:?}");
        assert!((polygon_area(&quad) - 400.0).abs() < 0.1);
        assert!(contains(&quad, (100.0, 50.0)) && !contains(&quad, (100.0, 70.0)));
    }
}
