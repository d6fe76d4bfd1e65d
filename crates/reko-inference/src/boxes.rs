//! Boxes and their post-processing: intersection over union and greedy non-maximum suppression.

/// An axis-aligned box in pixels (or any consistent unit): left, top, right, bottom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn from_center(cx: f32, cy: f32, w: f32, h: f32) -> BBox {
        BBox { x1: cx - w / 2.0, y1: cy - h / 2.0, x2: cx + w / 2.0, y2: cy + h / 2.0 }
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    /// The area both boxes cover.
    pub fn intersection(&self, other: &BBox) -> f32 {
        BBox {
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
            x2: self.x2.min(other.x2),
            y2: self.y2.min(other.y2),
        }
        .area()
    }

    /// Whether the point `(x, y)` lies in the box (left and top edges in, right and bottom out).
    pub fn contains(&self, x: f32, y: f32) -> bool {
        x >= self.x1 && x < self.x2 && y >= self.y1 && y < self.y2
    }

    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 { 0.0 } else { inter / union }
    }
}

/// Greedy NMS: indices of the boxes kept, highest score first. A box is dropped when it overlaps a
/// kept one by more than `iou_threshold`.
pub fn nms(boxes: &[BBox], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    assert_eq!(boxes.len(), scores.len());
    let mut order: Vec<usize> = (0..boxes.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut kept: Vec<usize> = Vec::new();
    for i in order {
        if kept.iter().all(|&k| boxes[k].iou(&boxes[i]) <= iou_threshold) {
            kept.push(i);
        }
    }
    kept
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Softmax of `logits` in place.
pub fn softmax(logits: &mut [f32]) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in logits.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in logits.iter_mut() {
        *v /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_known_boxes() {
        let a = BBox { x1: 0.0, y1: 0.0, x2: 2.0, y2: 2.0 };
        let b = BBox { x1: 1.0, y1: 0.0, x2: 3.0, y2: 2.0 };
        assert!((a.iou(&b) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox { x1: 5.0, y1: 5.0, x2: 6.0, y2: 6.0 }), 0.0);
        assert_eq!(a.iou(&a), 1.0);
    }

    #[test]
    fn nms_keeps_the_best_of_each_cluster() {
        let boxes = [
            BBox { x1: 0.0, y1: 0.0, x2: 10.0, y2: 10.0 },
            BBox { x1: 1.0, y1: 1.0, x2: 11.0, y2: 11.0 },
            BBox { x1: 50.0, y1: 50.0, x2: 60.0, y2: 60.0 },
            BBox { x1: 0.5, y1: 0.0, x2: 10.5, y2: 10.0 },
        ];
        assert_eq!(nms(&boxes, &[0.6, 0.9, 0.5, 0.7], 0.5), [1, 2]);
        assert_eq!(nms(&boxes, &[0.6, 0.9, 0.5, 0.7], 0.99), [1, 3, 0, 2]);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut v = [1.0, 2.0, 3.0];
        softmax(&mut v);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(v[2] > v[1] && v[1] > v[0]);
    }
}
