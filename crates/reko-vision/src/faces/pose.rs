//! Head pose (roll, yaw, pitch in degrees) from 2-D landmarks: a weak-perspective fit of a generic 3-D
//! face to the five points (eye centres, nose tip, mouth corners), solved by least squares.

/// A generic face (millimetres; x to the viewer's right, y up, z towards the camera) at the five points:
/// the viewer's left and right eye centres, the nose tip, the left and right mouth corners.
pub const MODEL_FIVE: [[f32; 3]; 5] =
    [[-31.0, 35.0, -20.0], [31.0, 35.0, -20.0], [0.0, 0.0, 0.0], [-25.0, -30.0, -20.0], [25.0, -30.0, -20.0]];

/// Roll, yaw and pitch in degrees, each within -180..180.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pose {
    pub roll: f32,
    pub yaw: f32,
    pub pitch: f32,
}

/// The pose of a face from its five points ([`MODEL_FIVE`]).
pub fn estimate(five: &[(f32, f32); 5]) -> Pose {
    fit(five, &MODEL_FIVE)
}

/// Fits x ≈ A·X + t (A is 2×3) of the image points to the model's and reads the rotation off A's rows.
pub fn fit(points: &[(f32, f32)], model: &[[f32; 3]]) -> Pose {
    let image: Vec<(f32, f32)> = points.iter().map(|&(x, y)| (x, -y)).collect();
    let n = model.len() as f32;
    let mean3 = [0, 1, 2].map(|k| model.iter().map(|p| p[k]).sum::<f32>() / n);
    let mean2 = (image.iter().map(|p| p.0).sum::<f32>() / n, image.iter().map(|p| p.1).sum::<f32>() / n);
    // Normal equations (XᵀX) a = Xᵀu for each image axis.
    let mut xtx = [[0.0f32; 3]; 3];
    let (mut xtu, mut xtv) = ([0.0f32; 3], [0.0f32; 3]);
    for (p, q) in model.iter().zip(&image) {
        let x = [p[0] - mean3[0], p[1] - mean3[1], p[2] - mean3[2]];
        let (u, v) = (q.0 - mean2.0, q.1 - mean2.1);
        for r in 0..3 {
            for c in 0..3 {
                xtx[r][c] += x[r] * x[c];
            }
            xtu[r] += x[r] * u;
            xtv[r] += x[r] * v;
        }
    }
    let (Some(r1), Some(r2)) = (solve3(xtx, xtu), solve3(xtx, xtv)) else {
        return Pose { roll: 0.0, yaw: 0.0, pitch: 0.0 };
    };
    let norm = |v: [f32; 3]| {
        let l = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-6);
        [v[0] / l, v[1] / l, v[2] / l]
    };
    let (r1, r2) = (norm(r1), norm(r2));
    let r3 = norm([r1[1] * r2[2] - r1[2] * r2[1], r1[2] * r2[0] - r1[0] * r2[2], r1[0] * r2[1] - r1[1] * r2[0]]);
    // R = [r1; r2; r3]; Euler angles (z roll, y yaw, x pitch).
    let yaw = (-r3[0]).clamp(-1.0, 1.0).asin();
    let pitch = r3[1].atan2(r3[2]);
    let roll = -r2[0].atan2(r1[0]);
    Pose { roll: roll.to_degrees(), yaw: -yaw.to_degrees(), pitch: pitch.to_degrees() }
}

fn solve3(a: [[f32; 3]; 3], b: [f32; 3]) -> Option<[f32; 3]> {
    let det = |m: [[f32; 3]; 3]| {
        m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
    };
    let d = det(a);
    if d.abs() < 1e-9 {
        return None;
    }
    let mut out = [0.0; 3];
    for (k, o) in out.iter_mut().enumerate() {
        let mut m = a;
        for r in 0..3 {
            m[r][k] = b[r];
        }
        *o = det(m) / d;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Projects the generic face rotated by (roll, yaw, pitch) into image coordinates.
    fn project(roll: f32, yaw: f32, pitch: f32) -> [(f32, f32); 5] {
        let (r, y, p) = (roll.to_radians(), yaw.to_radians(), pitch.to_radians());
        let rot = |v: [f32; 3]| {
            // pitch about x, then yaw about y, then roll about z
            let v = [v[0], v[1] * p.cos() - v[2] * p.sin(), v[1] * p.sin() + v[2] * p.cos()];
            let v = [v[0] * y.cos() + v[2] * y.sin(), v[1], -v[0] * y.sin() + v[2] * y.cos()];
            [v[0] * r.cos() - v[1] * r.sin(), v[0] * r.sin() + v[1] * r.cos(), v[2]]
        };
        MODEL_FIVE.map(|m| {
            let v = rot(m);
            (200.0 + 2.0 * v[0], 200.0 - 2.0 * v[1])
        })
    }

    #[test]
    fn recovers_known_rotations_with_rekognition_signs() {
        let frontal = estimate(&project(0.0, 0.0, 0.0));
        assert!(frontal.roll.abs() < 1.0 && frontal.yaw.abs() < 1.0 && frontal.pitch.abs() < 1.0, "{frontal:?}");
        let yawed = estimate(&project(0.0, 30.0, 0.0));
        assert!((yawed.yaw.abs() - 30.0).abs() < 3.0, "{yawed:?}");
        let rolled = estimate(&project(20.0, 0.0, 0.0));
        assert!((rolled.roll.abs() - 20.0).abs() < 3.0, "{rolled:?}");
        let pitched = estimate(&project(0.0, 0.0, 15.0));
        assert!((pitched.pitch.abs() - 15.0).abs() < 3.0, "{pitched:?}");
    }
}
