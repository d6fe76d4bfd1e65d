//! Weights-only TF.js models of `@vladmandic/face-api` 1.7.15 (MIT) to ONNX.
//!
//! face-api ships each net as `<name>-weights_manifest.json` + `.bin` shards: the manifest lists weight
//! names, shapes, dtypes and uint8 quantisation, but no graph. The architecture lives in face-api's
//! JavaScript (`src/faceRecognitionNet`, `src/ssdMobilenetv1`, `src/faceFeatureExtractor`,
//! `src/xception`, ...); [`convert_faceapi`] rebuilds each net op by op from that code, with the same
//! padding (`same` puts the odd pixel at the end, like TF), strides, residual and dense connections,
//! and the same order of floating-point additions.
//!
//! # Interface
//!
//! Every model has one input, `input`, float32 NHWC `[batch, size, size, 3]` (RGB, dynamic batch),
//! holding the pixels *after* face-api's own normalisation, which reko must apply (`u` = the RGB
//! byte, computed in float32):
//!
//! | net | size | input normalisation | outputs |
//! |---|---|---|---|
//! | [`FaceApiNet::FaceRecognition`] | 150 | `(u - [122.782, 117.001, 104.298][c]) / 255` | `descriptor` `[N, 128]` |
//! | [`FaceApiNet::SsdMobilenetV1`] | 512 | `u / 127.5 - 1` | `boxes` `[N, 5118, 4]`, `scores` `[N, 5118]`, `box_encodings` `[N, 5118, 4]`, `class_logits` `[N, 5118, 3]` |
//! | [`FaceApiNet::FaceLandmark68`] | 112 | `(u - mean_rgb[c]) / 255` | `landmarks` `[N, 136]` |
//! | [`FaceApiNet::FaceLandmark68Tiny`] | 112 | `(u - mean_rgb[c]) / 255` | `landmarks` `[N, 136]` |
//! | [`FaceApiNet::AgeGender`] | 112 | `(u - mean_rgb[c]) / 255` | `age` `[N]`, `gender` `[N, 2]` |
//! | [`FaceApiNet::FaceExpression`] | 112 | `(u - mean_rgb[c]) / 255` | `expressions` `[N, 7]`, `logits` `[N, 7]` |
//!
//! (dlib's own preprocessing divides by 256; face-api 1.7.15's code divides by 255, and so must reko.
//! The SSD weights also hold `Preprocessor/mul/x` and `Preprocessor/sub/y`, which face-api ignores.)
//! face-api builds the input from an image by padding it to a square with zeros (centred for the face
//! nets, at the bottom/right for SSD) and resizing with `tf.image.resizeBilinear` (no corner
//! alignment, no half-pixel centres).
//!
//! * `descriptor`: the raw 128-d face descriptor (not L2-normalised; face-api compares descriptors by
//!   Euclidean distance, 0.6 being its usual "same person" threshold).
//! * `landmarks`: 68 interleaved `(x, y)` pairs relative to the (square) input, in `[0, 1]`: face-api's
//!   `FaceLandmark68NetBase.runNet`, before `postProcess` (which multiplies by the input size, removes
//!   the centring pad and divides by the unpadded size).
//! * `age`: years (a regression); `gender`: softmax probabilities `[male, female]`.
//! * `expressions`: softmax probabilities in face-api's order `neutral, happy, sad, angry, fearful,
//!   disgusted, surprised`; `logits` are the same before the softmax (face-api's `runNet`).
//!
//! # SSD MobileNet v1 decoding
//!
//! The detector has 5118 anchors: 32×32×3, 16×16×6, 8×8×6, 4×4×6, 2×2×6 and 1×1×6, from the heads on
//! MobileNet's layer 11 (stride 16), layer 13 and four extra layers, each head's anchors in row-major
//! `(y, x, anchor)` order. face-api stores the anchors as the weight `Output/extra_dim` (`[1, 5118, 4]`,
//! `[ymin, xmin, ymax, xmax]` normalised to the input; see [`ssd_anchors`]). The raw heads are
//! `box_encodings` (`[ty, tx, th, tw]` per anchor) and `class_logits` (`[background, face, unused]`).
//! face-api's `outputLayer` decodes them, and the model also exports the result as `boxes`/`scores`:
//!
//! ```text
//! ah = a.ymax - a.ymin            aw = a.xmax - a.xmin
//! acy = a.ymin + ah / 2           acx = a.xmin + aw / 2
//! cy = ty / 10 * ah + acy         cx = tx / 10 * aw + acx
//! hh = exp(th / 5) * ah / 2       hw = exp(tw / 5) * aw / 2
//! box = [cy - hh, cx - hw, cy + hh, cx + hw]     // [ymin, xmin, ymax, xmax], relative to the input
//! score = sigmoid(class_logits[1])
//! ```
//!
//! Then (`SsdMobilenetv1.locateFaces`, defaults `minConfidence` 0.5, `maxResults` 100): keep scores
//! `> minConfidence`, sort descending, greedy NMS with IoU threshold 0.5 (a candidate is dropped when
//! its IoU with any kept box is `> 0.5`; IoU computed on min/max-ordered corners, 0 for empty boxes),
//! at most `maxResults`; clamp `ymin, xmin` to `>= 0` and `ymax, xmax` to `<= 1`, and multiply by
//! `512 / resized` per axis to undo the bottom/right square padding (`resized` = the image side scaled
//! so that its longer side is 512) before scaling to the original image.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::onnx::{self, DataType, Dim, GraphBuilder};
use crate::tfjs::{WeightEntry, WeightGroup, dequantize, f16_to_f32, tf_padding, window_output};
use crate::{ConvertError, Converted, TensorInfo};

/// The face-api nets [`convert_faceapi`] can rebuild.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaceApiNet {
    /// `face_recognition_model`: the dlib ResNet-34-like 128-d face descriptor, 150×150 input.
    FaceRecognition,
    /// `ssd_mobilenetv1_model`: the SSD MobileNet v1 face detector, 512×512 input.
    SsdMobilenetV1,
    /// `face_landmark_68_model`: 68 landmarks, 112×112 input.
    FaceLandmark68,
    /// `face_landmark_68_tiny_model`: 68 landmarks (smaller net), 112×112 input.
    FaceLandmark68Tiny,
    /// `age_gender_model`: TinyXception age regression and gender classifier, 112×112 input.
    AgeGender,
    /// `face_expression_model`: 7 expressions, 112×112 input.
    FaceExpression,
}

/// face-api's mean RGB, subtracted before dividing by 255 (all nets but SSD).
pub const FACEAPI_MEAN_RGB: [f32; 3] = [122.782, 117.001, 104.298];

impl FaceApiNet {
    /// Every net, in priority order.
    pub const ALL: [FaceApiNet; 6] = [
        FaceApiNet::FaceRecognition,
        FaceApiNet::SsdMobilenetV1,
        FaceApiNet::FaceLandmark68,
        FaceApiNet::FaceLandmark68Tiny,
        FaceApiNet::AgeGender,
        FaceApiNet::FaceExpression,
    ];

    /// face-api's model name: the manifest is `<name>-weights_manifest.json`.
    pub fn model_name(self) -> &'static str {
        match self {
            FaceApiNet::FaceRecognition => "face_recognition_model",
            FaceApiNet::SsdMobilenetV1 => "ssd_mobilenetv1_model",
            FaceApiNet::FaceLandmark68 => "face_landmark_68_model",
            FaceApiNet::FaceLandmark68Tiny => "face_landmark_68_tiny_model",
            FaceApiNet::AgeGender => "age_gender_model",
            FaceApiNet::FaceExpression => "face_expression_model",
        }
    }

    /// The square input side in pixels.
    pub fn input_size(self) -> i64 {
        match self {
            FaceApiNet::FaceRecognition => 150,
            FaceApiNet::SsdMobilenetV1 => 512,
            _ => 112,
        }
    }

    /// The input normalisation face-api applies to an RGB byte `u` (channel `c`), in the exact order of
    /// its float32 operations (see the module docs).
    pub fn normalisation(self) -> &'static str {
        match self {
            FaceApiNet::SsdMobilenetV1 => "x = u / 127.5 - 1",
            _ => "x = (u - [122.782, 117.001, 104.298][c]) / 255",
        }
    }
}

/// Converts a face-api weights manifest (`<name>-weights_manifest.json`, shards beside it) into ONNX,
/// rebuilding the architecture of `net`. The interface is described in the [module docs](self).
pub fn convert_faceapi(manifest: &Path, net: FaceApiNet) -> Result<Converted, ConvertError> {
    let weights = Weights::load(manifest)?;
    let size = net.input_size();
    let mut b = Builder::new(net.model_name(), &weights);
    b.g.add_input(
        "input",
        DataType::Float,
        &[Dim::Symbolic("batch".into()), Dim::Fixed(size), Dim::Fixed(size), Dim::Fixed(3)],
    );
    let nchw = b.g.op("Transpose", &["input"], vec![onnx::attr_ints("perm", &[0, 3, 1, 2])], "input_nchw");
    let x = T { name: nchw, c: 3, h: size, w: size };
    let outputs: Vec<(String, Vec<i64>)> = match net {
        FaceApiNet::FaceRecognition => {
            let d = face_recognition(&mut b, x)?;
            vec![(b.rename(&d, "descriptor"), vec![-1, 128])]
        }
        FaceApiNet::SsdMobilenetV1 => ssd_mobilenet_v1(&mut b, x)?,
        FaceApiNet::FaceLandmark68 | FaceApiNet::FaceLandmark68Tiny | FaceApiNet::FaceExpression => {
            let features = if net == FaceApiNet::FaceLandmark68Tiny {
                let mut out = dense_block(&mut b, &x, "dense0", 3, true)?;
                for p in ["dense1", "dense2"] {
                    out = dense_block(&mut b, &out, p, 3, false)?;
                }
                b.pool("AveragePool", &out, 14, 2)?
            } else {
                let mut out = dense_block(&mut b, &x, "dense0", 4, true)?;
                for p in ["dense1", "dense2", "dense3"] {
                    out = dense_block(&mut b, &out, p, 4, false)?;
                }
                b.pool("AveragePool", &out, 7, 2)?
            };
            let flat = b.flatten(&features)?;
            let (logits, n) = b.fc(&flat, "fc/weights", "fc/bias")?;
            if net == FaceApiNet::FaceExpression {
                let p = b.g.op("Softmax", &[&logits], vec![onnx::attr_int("axis", -1)], "softmax");
                vec![(b.rename(&p, "expressions"), vec![-1, n]), (b.rename(&logits, "logits"), vec![-1, n])]
            } else {
                vec![(b.rename(&logits, "landmarks"), vec![-1, n])]
            }
        }
        FaceApiNet::AgeGender => {
            let features = tiny_xception(&mut b, x, 2)?;
            let pooled = b.pool("AveragePool", &features, 7, 2)?;
            let flat = b.flatten(&pooled)?;
            let (age, _) = b.fc(&flat, "fc/age/weights", "fc/age/bias")?;
            let shape = b.g.add_initializer_i64("age_shape", &[1], &[-1]);
            let age = b.g.op("Reshape", &[&age, &shape], vec![], "age_1d");
            let (gender, n) = b.fc(&flat, "fc/gender/weights", "fc/gender/bias")?;
            let gender = b.g.op("Softmax", &[&gender], vec![onnx::attr_int("axis", -1)], "gender_softmax");
            vec![(b.rename(&age, "age"), vec![-1]), (b.rename(&gender, "gender"), vec![-1, n])]
        }
    };
    let mut infos = Vec::new();
    for (name, shape) in &outputs {
        let dims: Vec<Dim> =
            shape.iter().map(|&d| if d < 0 { Dim::Symbolic("batch".into()) } else { Dim::Fixed(d) }).collect();
        b.g.add_output(name, DataType::Float, &dims);
        infos.push(TensorInfo { name: name.clone(), shape: shape.clone() });
    }
    let unused: Vec<&String> = weights.float_names().filter(|n| !b.used.contains(*n)).collect();
    if !unused.is_empty() && net != FaceApiNet::SsdMobilenetV1 {
        return Err(ConvertError::BadModel(format!("weights not used by the {net:?} architecture: {unused:?}")));
    }
    let mut report = String::new();
    let _ = writeln!(report, "face-api {} ({net:?}): {} nodes", net.model_name(), b.g.node_count());
    let _ = writeln!(report, "input: input [-1, {size}, {size}, 3] NHWC RGB, {}", net.normalisation());
    let _ = writeln!(report, "weights: {} used of {} ({})", b.used.len(), weights.tensors.len(), weights.summary());
    let model = b.g.into_model(
        "reko-convert faceapi",
        &[("source", "@vladmandic/face-api@1.7.15"), ("net", net.model_name()), ("normalisation", net.normalisation())],
    );
    Ok(Converted {
        onnx: onnx::encode_model(&model),
        inputs: vec![TensorInfo { name: "input".into(), shape: vec![-1, size, size, 3] }],
        outputs: infos,
        report,
    })
}

/// The SSD MobileNet v1 anchors (`Output/extra_dim`) as `[ymin, xmin, ymax, xmax]`, relative to the
/// 512×512 input, in the order of the model's 5118 boxes.
pub fn ssd_anchors(manifest: &Path) -> Result<Vec<[f32; 4]>, ConvertError> {
    let weights = Weights::load(manifest)?;
    let (_, data) = weights.get("Output/extra_dim", 3)?;
    Ok(data.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]).collect())
}

// ---------------------------------------------------------------------------------------------
// weights

/// The float32 weights by name (integer entries are read past and kept only in the summary).
struct Weights {
    tensors: HashMap<String, (Vec<i64>, Vec<f32>)>,
    kinds: Vec<String>,
}

impl Weights {
    fn load(manifest: &Path) -> Result<Self, ConvertError> {
        let text =
            std::fs::read(manifest).map_err(|source| ConvertError::Io { path: manifest.to_path_buf(), source })?;
        let groups: Vec<WeightGroup> = serde_json::from_slice(&text)
            .map_err(|source| ConvertError::Json { path: manifest.to_path_buf(), source })?;
        let dir = manifest.parent().unwrap_or(Path::new("."));
        let mut weights = Weights { tensors: HashMap::new(), kinds: Vec::new() };
        for group in &groups {
            let mut buffer = Vec::new();
            for shard in &group.paths {
                let path: PathBuf = dir.join(shard);
                let bytes = std::fs::read(&path).map_err(|source| ConvertError::Io { path, source })?;
                buffer.extend_from_slice(&bytes);
            }
            let mut offset = 0;
            for entry in &group.weights {
                offset += weights.decode(entry, &buffer[offset.min(buffer.len())..])?;
            }
            if offset != buffer.len() {
                return Err(ConvertError::BadModel(format!(
                    "weight shards {:?} hold {} bytes but the manifest describes {offset}",
                    group.paths,
                    buffer.len()
                )));
            }
        }
        Ok(weights)
    }

    /// Decodes one entry from the front of `bytes` like `tf.io.decodeWeights`; returns the bytes used.
    fn decode(&mut self, entry: &WeightEntry, bytes: &[u8]) -> Result<usize, ConvertError> {
        let count =
            entry.shape.iter().try_fold(1usize, |acc, &d| usize::try_from(d).ok().and_then(|d| acc.checked_mul(d)));
        let count =
            count.ok_or_else(|| ConvertError::BadModel(format!("bad shape {:?} of {}", entry.shape, entry.name)))?;
        let stored = entry.quantization.as_ref().map_or(entry.dtype.as_str(), |q| q.dtype.as_str());
        let width = match stored {
            "float32" | "int32" => 4,
            "float16" | "uint16" => 2,
            "uint8" => 1,
            other => return Err(ConvertError::BadModel(format!("weight {} is stored as {other}", entry.name))),
        };
        let used = count * width;
        let raw = bytes
            .get(..used)
            .ok_or_else(|| ConvertError::BadModel(format!("weight {} runs past the end of its shards", entry.name)))?;
        self.kinds.push(match &entry.quantization {
            Some(q) => format!("{} stored as {}", entry.dtype, q.dtype),
            None => entry.dtype.clone(),
        });
        if entry.dtype != "float32" {
            return Ok(used); // shape constants of the original TF graph (SSD); face-api ignores them
        }
        let values: Vec<f32> = match stored {
            "float32" => raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            "float16" => raw.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
            "uint8" | "uint16" => {
                let q = entry.quantization.as_ref().expect("quantized");
                let (Some(scale), Some(min)) = (q.scale, q.min) else {
                    return Err(ConvertError::BadModel(format!(
                        "weight {} is quantized without scale/min",
                        entry.name
                    )));
                };
                if stored == "uint8" {
                    raw.iter().map(|&v| dequantize(v as u32, scale, min) as f32).collect()
                } else {
                    raw.chunks_exact(2)
                        .map(|c| dequantize(u16::from_le_bytes([c[0], c[1]]) as u32, scale, min) as f32)
                        .collect()
                }
            }
            other => return Err(ConvertError::BadModel(format!("float weight {} stored as {other}", entry.name))),
        };
        self.tensors.insert(entry.name.clone(), (entry.shape.clone(), values));
        Ok(used)
    }

    fn get(&self, name: &str, rank: usize) -> Result<(&[i64], &[f32]), ConvertError> {
        let (shape, data) =
            self.tensors.get(name).ok_or_else(|| ConvertError::BadModel(format!("missing weight {name}")))?;
        if shape.len() != rank {
            return Err(ConvertError::BadModel(format!("weight {name} has shape {shape:?}, expected rank {rank}")));
        }
        Ok((shape, data))
    }

    fn float_names(&self) -> impl Iterator<Item = &String> {
        self.tensors.keys()
    }

    fn summary(&self) -> String {
        let mut counts: Vec<(String, usize)> = Vec::new();
        for k in &self.kinds {
            match counts.iter_mut().find(|(name, _)| name == k) {
                Some((_, n)) => *n += 1,
                None => counts.push((k.clone(), 1)),
            }
        }
        counts.iter().map(|(k, n)| format!("{n} {k}")).collect::<Vec<_>>().join(", ")
    }
}

// ---------------------------------------------------------------------------------------------
// graph building (NCHW inside, statically known C/H/W)

/// An NCHW tensor of the graph with its (static) channels and spatial size.
#[derive(Clone, Debug)]
struct T {
    name: String,
    c: i64,
    h: i64,
    w: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pad {
    Same,
    Valid,
}

struct Builder<'w> {
    g: GraphBuilder,
    weights: &'w Weights,
    used: HashSet<String>,
}

type Res<V> = Result<V, ConvertError>;

fn bad(msg: String) -> ConvertError {
    ConvertError::BadModel(msg)
}

impl<'w> Builder<'w> {
    fn new(name: &str, weights: &'w Weights) -> Self {
        Builder { g: GraphBuilder::new(name), weights, used: HashSet::new() }
    }

    fn weight(&mut self, name: &str, rank: usize) -> Res<(Vec<i64>, &'w [f32])> {
        let weights: &'w Weights = self.weights;
        let (shape, data) = weights.get(name, rank)?;
        self.used.insert(name.to_string());
        Ok((shape.to_vec(), data))
    }

    /// A 1-D weight of `c` values as an initializer of shape `dims`.
    fn vector(&mut self, name: &str, c: i64, dims: &[i64]) -> Res<String> {
        let (shape, data) = self.weight(name, 1)?;
        if shape[0] != c {
            return Err(bad(format!("weight {name} has {} values, expected {c}", shape[0])));
        }
        Ok(self.g.add_initializer_f32(name, dims, data))
    }

    /// Renames a tensor to an exact graph output name through an Identity.
    fn rename(&mut self, x: &str, name: &str) -> String {
        self.g.reserve_name(name);
        self.g.add_node("Identity", &[x], &[name], vec![]);
        name.to_string()
    }

    fn pads(&self, x: &T, k: [i64; 2], stride: i64, pad: Pad) -> Res<[i64; 4]> {
        let padding = if pad == Pad::Same { "SAME" } else { "VALID" };
        Ok(tf_padding(padding, [x.h, x.w], k, [stride, stride], [1, 1], &[]).map_err(bad)?.0)
    }

    fn out(&self, x: &T, name: String, c: i64, k: [i64; 2], stride: i64, pads: [i64; 4]) -> T {
        T {
            name,
            c,
            h: window_output(x.h, k[0], stride, 1, pads[0] + pads[2]),
            w: window_output(x.w, k[1], stride, 1, pads[1] + pads[3]),
        }
    }

    /// `tf.conv2d(x, filters, stride, pad)` (+ `bias` when given), filters `[kh, kw, in, out]`.
    fn conv(&mut self, x: &T, filters: &str, bias: Option<&str>, stride: i64, pad: Pad) -> Res<T> {
        let (shape, data) = self.weight(filters, 4)?;
        let (kh, kw, cin, cout) = (shape[0], shape[1], shape[2], shape[3]);
        if cin != x.c {
            return Err(bad(format!("{filters} expects {cin} input channels, the net has {}", x.c)));
        }
        let mut oihw = vec![0f32; data.len()];
        for h in 0..kh {
            for w in 0..kw {
                for i in 0..cin {
                    for o in 0..cout {
                        oihw[(((o * cin + i) * kh + h) * kw + w) as usize] =
                            data[(((h * kw + w) * cin + i) * cout + o) as usize];
                    }
                }
            }
        }
        let wname = self.g.add_initializer_f32(filters, &[cout, cin, kh, kw], &oihw);
        let mut inputs = vec![x.name.clone(), wname];
        if let Some(bias) = bias {
            inputs.push(self.vector(bias, cout, &[cout])?);
        }
        let pads = self.pads(x, [kh, kw], stride, pad)?;
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let name = self.g.op("Conv", &refs, conv_attrs([kh, kw], stride, pads, 1), &format!("{filters}_conv"));
        Ok(self.out(x, name, cout, [kh, kw], stride, pads))
    }

    /// `tf.depthwiseConv2d(x, filters, stride, pad)`, filters `[kh, kw, c, 1]`.
    fn depthwise(&mut self, x: &T, filters: &str, stride: i64, pad: Pad) -> Res<T> {
        let (shape, data) = self.weight(filters, 4)?;
        let (kh, kw, c, mult) = (shape[0], shape[1], shape[2], shape[3]);
        if c != x.c || mult != 1 {
            return Err(bad(format!("{filters} has shape {shape:?} for {} input channels", x.c)));
        }
        let mut w = vec![0f32; data.len()];
        for h in 0..kh {
            for ww in 0..kw {
                for ch in 0..c {
                    w[((ch * kh + h) * kw + ww) as usize] = data[((h * kw + ww) * c + ch) as usize];
                }
            }
        }
        let wname = self.g.add_initializer_f32(filters, &[c, 1, kh, kw], &w);
        let pads = self.pads(x, [kh, kw], stride, pad)?;
        let name =
            self.g.op("Conv", &[&x.name, &wname], conv_attrs([kh, kw], stride, pads, c), &format!("{filters}_dw"));
        Ok(self.out(x, name, c, [kh, kw], stride, pads))
    }

    /// face-api's `depthwiseSeparableConv`: `tf.separableConv2d(x, dw, pw, stride, 'same') + bias`.
    fn separable(&mut self, x: &T, prefix: &str, stride: i64) -> Res<T> {
        let dw = self.depthwise(x, &format!("{prefix}/depthwise_filter"), stride, Pad::Same)?;
        self.conv(&dw, &format!("{prefix}/pointwise_filter"), Some(&format!("{prefix}/bias")), 1, Pad::Valid)
    }

    fn unary(&mut self, op: &str, x: &T) -> T {
        let name = self.g.op(op, &[&x.name], vec![], &op.to_lowercase());
        T { name, ..x.clone() }
    }

    fn add(&mut self, a: &T, b: &T) -> Res<T> {
        if (a.c, a.h, a.w) != (b.c, b.h, b.w) {
            return Err(bad(format!("adding {:?} and {:?}: shapes differ", (a.c, a.h, a.w), (b.c, b.h, b.w))));
        }
        let name = self.g.op("Add", &[&a.name, &b.name], vec![], "add");
        Ok(T { name, ..a.clone() })
    }

    /// Per-channel `op` (Add/Mul) with a 1-D weight.
    fn channel_op(&mut self, op: &str, x: &T, weight: &str) -> Res<T> {
        let w = self.vector(weight, x.c, &[1, x.c, 1, 1])?;
        let name = self.g.op(op, &[&x.name, &w], vec![], &format!("{weight}_{}", op.to_lowercase()));
        Ok(T { name, ..x.clone() })
    }

    fn clip06(&mut self, x: &T) -> T {
        let lo = self.g.add_initializer_f32("zero", &[], &[0.0]);
        let hi = self.g.add_initializer_f32("six", &[], &[6.0]);
        let name = self.g.op("Clip", &[&x.name, &lo, &hi], vec![], "relu6");
        T { name, ..x.clone() }
    }

    /// `tf.maxPool` / `tf.avgPool` with a square window; `valid` padding.
    fn pool(&mut self, op: &str, x: &T, k: i64, stride: i64) -> Res<T> {
        self.pool_padded(op, x, k, stride, Pad::Valid)
    }

    fn pool_padded(&mut self, op: &str, x: &T, k: i64, stride: i64, pad: Pad) -> Res<T> {
        let pads = self.pads(x, [k, k], stride, pad)?;
        let mut attrs = vec![
            onnx::attr_ints("kernel_shape", &[k, k]),
            onnx::attr_ints("strides", &[stride, stride]),
            onnx::attr_ints("pads", &pads),
        ];
        if op == "AveragePool" {
            attrs.push(onnx::attr_int("count_include_pad", 0));
        }
        let name = self.g.op(op, &[&x.name], attrs, &op.to_lowercase());
        Ok(self.out(x, name, x.c, [k, k], stride, pads))
    }

    /// Zero padding at the end of each axis: `[channels, height, width]`.
    fn pad_end(&mut self, x: &T, extra: [i64; 3]) -> T {
        let pads = self.g.add_initializer_i64("pads", &[8], &[0, 0, 0, 0, 0, extra[0], extra[1], extra[2]]);
        let name = self.g.op("Pad", &[&x.name, &pads], vec![], "zero_pad");
        T { name, c: x.c + extra[0], h: x.h + extra[1], w: x.w + extra[2] }
    }

    /// `[N, C, 1, 1]` (or any spatial size for a global mean) to `[N, C]`.
    fn flatten(&mut self, x: &T) -> Res<T> {
        if x.h != 1 || x.w != 1 {
            return Err(bad(format!("flattening a {}x{} feature map", x.h, x.w)));
        }
        let name = self.g.op("Flatten", &[&x.name], vec![onnx::attr_int("axis", 1)], "flatten");
        Ok(T { name, c: x.c, h: 1, w: 1 })
    }

    /// face-api's `fullyConnectedLayer`: `matMul(x, weights) + bias`; returns the name and width.
    fn fc(&mut self, x: &T, weights: &str, bias: &str) -> Res<(String, i64)> {
        let (shape, data) = self.weight(weights, 2)?;
        if shape[0] != x.c {
            return Err(bad(format!("{weights} has shape {shape:?} for {} features", x.c)));
        }
        let w = self.g.add_initializer_f32(weights, &shape, data);
        let mm = self.g.op("MatMul", &[&x.name, &w], vec![], "matmul");
        let b = self.vector(bias, shape[1], &[shape[1]])?;
        Ok((self.g.op("Add", &[&mm, &b], vec![], "fc"), shape[1]))
    }
}

fn conv_attrs(k: [i64; 2], stride: i64, pads: [i64; 4], group: i64) -> Vec<onnx::AttributeProto> {
    vec![
        onnx::attr_ints("kernel_shape", &k),
        onnx::attr_ints("strides", &[stride, stride]),
        onnx::attr_ints("pads", &pads),
        onnx::attr_ints("dilations", &[1, 1]),
        onnx::attr_int("group", group),
    ]
}

// ---------------------------------------------------------------------------------------------
// FaceRecognitionNet (src/faceRecognitionNet)

/// `convLayer`: conv + bias, then the scale layer (`x * weights + biases`), optionally ReLU.
fn fr_conv(b: &mut Builder, x: &T, prefix: &str, stride: i64, relu: bool, pad: Pad) -> Res<T> {
    let out = b.conv(x, &format!("{prefix}/conv/filters"), None, stride, pad)?;
    // tf.add(conv, bias) is a separate op in face-api; keep it separate so the rounding matches.
    let out = b.channel_op("Add", &out, &format!("{prefix}/conv/bias"))?;
    let out = b.channel_op("Mul", &out, &format!("{prefix}/scale/weights"))?;
    let out = b.channel_op("Add", &out, &format!("{prefix}/scale/biases"))?;
    Ok(if relu { b.unary("Relu", &out) } else { out })
}

fn fr_residual(b: &mut Builder, x: &T, prefix: &str) -> Res<T> {
    let out = fr_conv(b, x, &format!("{prefix}/conv1"), 1, true, Pad::Same)?;
    let out = fr_conv(b, &out, &format!("{prefix}/conv2"), 1, false, Pad::Same)?;
    let sum = b.add(&out, x)?;
    Ok(b.unary("Relu", &sum))
}

fn fr_residual_down(b: &mut Builder, x: &T, prefix: &str) -> Res<T> {
    let out = fr_conv(b, x, &format!("{prefix}/conv1"), 2, true, Pad::Valid)?;
    let mut out = fr_conv(b, &out, &format!("{prefix}/conv2"), 1, false, Pad::Same)?;
    let mut pooled = b.pool("AveragePool", x, 2, 2)?;
    if pooled.h != out.h || pooled.w != out.w {
        // face-api concatenates one row, then one column of zeros at the end
        out = b.pad_end(&out, [0, 1, 1]);
    }
    if pooled.c != out.c {
        // ... and zero channels after the pooled input (tf.concat([pooled, zeros], 3))
        let extra = out.c - pooled.c;
        if extra != pooled.c {
            return Err(bad(format!("{prefix}: cannot widen {} channels to {}", pooled.c, out.c)));
        }
        pooled = b.pad_end(&pooled, [extra, 0, 0]);
    }
    let sum = b.add(&pooled, &out)?;
    Ok(b.unary("Relu", &sum))
}

fn face_recognition(b: &mut Builder, x: T) -> Res<String> {
    let mut out = fr_conv(b, &x, "conv32_down", 2, true, Pad::Valid)?;
    out = b.pool("MaxPool", &out, 3, 2)?;
    for (prefix, down) in [
        ("conv32_1", false),
        ("conv32_2", false),
        ("conv32_3", false),
        ("conv64_down", true),
        ("conv64_1", false),
        ("conv64_2", false),
        ("conv64_3", false),
        ("conv128_down", true),
        ("conv128_1", false),
        ("conv128_2", false),
        ("conv256_down", true),
        ("conv256_1", false),
        ("conv256_2", false),
        ("conv256_down_out", true),
    ] {
        out = if down { fr_residual_down(b, &out, prefix)? } else { fr_residual(b, &out, prefix)? };
    }
    let avg = b.g.op("GlobalAveragePool", &[&out.name], vec![], "global_avg");
    let flat = b.flatten(&T { name: avg, c: out.c, h: 1, w: 1 })?;
    let (shape, data) = b.weight("fc", 2)?;
    if shape[0] != flat.c {
        return Err(bad(format!("fc has shape {shape:?} for {} features", flat.c)));
    }
    let w = b.g.add_initializer_f32("fc", &shape, data);
    Ok(b.g.op("MatMul", &[&flat.name, &w], vec![], "fc"))
}

// ---------------------------------------------------------------------------------------------
// FaceFeatureExtractor / TinyFaceFeatureExtractor (src/faceFeatureExtractor/denseBlock.ts)

/// `denseBlock3` (`convs` = 3) or `denseBlock4` (`convs` = 4), always scaling down by 2.
fn dense_block(b: &mut Builder, x: &T, prefix: &str, convs: usize, first: bool) -> Res<T> {
    let out1 = if first {
        b.conv(x, &format!("{prefix}/conv0/filters"), None, 2, Pad::Same)
            .and_then(|c| b.channel_op("Add", &c, &format!("{prefix}/conv0/bias")))?
    } else {
        b.separable(x, &format!("{prefix}/conv0"), 2)?
    };
    let out1 = b.unary("Relu", &out1);
    let out2 = b.separable(&out1, &format!("{prefix}/conv1"), 1)?;
    let in3 = b.add(&out1, &out2)?;
    let in3 = b.unary("Relu", &in3);
    let out3 = b.separable(&in3, &format!("{prefix}/conv2"), 1)?;
    if convs == 3 {
        let s = b.add(&out2, &out3)?;
        let s = b.add(&out1, &s)?;
        return Ok(b.unary("Relu", &s));
    }
    let s = b.add(&out2, &out3)?;
    let in4 = b.add(&out1, &s)?;
    let in4 = b.unary("Relu", &in4);
    let out4 = b.separable(&in4, &format!("{prefix}/conv3"), 1)?;
    let s = b.add(&out3, &out4)?;
    let s = b.add(&out2, &s)?;
    let s = b.add(&out1, &s)?;
    Ok(b.unary("Relu", &s))
}

// ---------------------------------------------------------------------------------------------
// TinyXception (src/xception/TinyXception.ts)

fn xc_conv(b: &mut Builder, x: &T, prefix: &str, stride: i64) -> Res<T> {
    let out = b.conv(x, &format!("{prefix}/filters"), None, stride, Pad::Same)?;
    b.channel_op("Add", &out, &format!("{prefix}/bias"))
}

fn reduction_block(b: &mut Builder, x: &T, prefix: &str, activate_input: bool) -> Res<T> {
    let out = if activate_input { b.unary("Relu", x) } else { x.clone() };
    let out = b.separable(&out, &format!("{prefix}/separable_conv0"), 1)?;
    let out = b.unary("Relu", &out);
    let out = b.separable(&out, &format!("{prefix}/separable_conv1"), 1)?;
    let out = b.pool_padded("MaxPool", &out, 3, 2, Pad::Same)?;
    let expansion = xc_conv(b, x, &format!("{prefix}/expansion_conv"), 2)?;
    b.add(&out, &expansion)
}

fn main_block(b: &mut Builder, x: &T, prefix: &str) -> Res<T> {
    let mut out = x.clone();
    for i in 0..3 {
        out = b.unary("Relu", &out);
        out = b.separable(&out, &format!("{prefix}/separable_conv{i}"), 1)?;
    }
    b.add(&out, x)
}

fn tiny_xception(b: &mut Builder, x: T, main_blocks: usize) -> Res<T> {
    let out = xc_conv(b, &x, "entry_flow/conv_in", 2)?;
    let mut out = b.unary("Relu", &out);
    out = reduction_block(b, &out, "entry_flow/reduction_block_0", false)?;
    out = reduction_block(b, &out, "entry_flow/reduction_block_1", true)?;
    for i in 0..main_blocks {
        out = main_block(b, &out, &format!("middle_flow/main_block_{i}"))?;
    }
    out = reduction_block(b, &out, "exit_flow/reduction_block", true)?;
    let out = b.separable(&out, "exit_flow/separable_conv", 1)?;
    Ok(b.unary("Relu", &out))
}

// ---------------------------------------------------------------------------------------------
// SsdMobilenetv1 (src/ssdMobilenetv1)

/// face-api's `0.0010000000474974513`, which is exactly the float32 nearest to 0.001.
const SSD_BN_EPSILON: f32 = 0.001;

/// `pointwiseConvLayer`: conv (same) + `convolution_bn_offset`, clipped to [0, 6].
fn ssd_pointwise(b: &mut Builder, x: &T, prefix: &str, stride: i64) -> Res<T> {
    let out = b.conv(x, &format!("{prefix}/weights"), None, stride, Pad::Same)?;
    let out = b.channel_op("Add", &out, &format!("{prefix}/convolution_bn_offset"))?;
    Ok(b.clip06(&out))
}

/// `depthwiseConvLayer`: depthwise conv (same), batch norm (eps 1e-3), clipped to [0, 6].
fn ssd_depthwise(b: &mut Builder, x: &T, prefix: &str, stride: i64) -> Res<T> {
    let out = b.depthwise(x, &format!("{prefix}/depthwise_weights"), stride, Pad::Same)?;
    let mut inputs = vec![out.name.clone()];
    for p in ["gamma", "beta", "moving_mean", "moving_variance"] {
        inputs.push(b.vector(&format!("{prefix}/BatchNorm/{p}"), out.c, &[out.c])?);
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let bn = b.g.op("BatchNormalization", &refs, vec![onnx::attr_float("epsilon", SSD_BN_EPSILON)], "batch_norm");
    Ok(b.clip06(&T { name: bn, ..out }))
}

/// One box predictor: `[N, H*W*A, 4]` encodings and `[N, H*W*A, 3]` class logits (NHWC order).
fn ssd_box_predictor(b: &mut Builder, x: &T, idx: usize) -> Res<(String, String, i64)> {
    let mut heads = Vec::new();
    let mut anchors = 0;
    for (head, width) in [("BoxEncodingPredictor", 4), ("ClassPredictor", 3)] {
        let prefix = format!("Prediction/BoxPredictor_{idx}/{head}");
        let out = b.conv(x, &format!("{prefix}/weights"), Some(&format!("{prefix}/biases")), 1, Pad::Same)?;
        if out.c % width != 0 {
            return Err(bad(format!("{prefix} has {} channels, not a multiple of {width}", out.c)));
        }
        anchors = out.h * out.w * (out.c / width);
        let nhwc = b.g.op("Transpose", &[&out.name], vec![onnx::attr_ints("perm", &[0, 2, 3, 1])], "to_nhwc");
        let shape = b.g.add_initializer_i64("shape", &[3], &[0, -1, width]);
        heads.push(b.g.op("Reshape", &[&nhwc, &shape], vec![], &format!("{head}_{idx}")));
    }
    let class = heads.pop().expect("two heads");
    let boxes = heads.pop().expect("two heads");
    Ok((boxes, class, anchors))
}

fn ssd_mobilenet_v1(b: &mut Builder, x: T) -> Res<Vec<(String, Vec<i64>)>> {
    let mut out = ssd_pointwise(b, &x, "MobilenetV1/Conv2d_0_pointwise", 2)?;
    let mut conv11 = None;
    for idx in 1..=13 {
        let stride = if [2, 4, 6, 12].contains(&idx) { 2 } else { 1 };
        out = ssd_depthwise(b, &out, &format!("MobilenetV1/Conv2d_{idx}_depthwise"), stride)?;
        out = ssd_pointwise(b, &out, &format!("MobilenetV1/Conv2d_{idx}_pointwise"), 1)?;
        if idx == 11 {
            conv11 = Some(out.clone());
        }
    }
    let conv11 = conv11.expect("layer 11");
    let mut extra = Vec::new();
    let mut y = out.clone();
    for idx in 0..8 {
        y = ssd_pointwise(b, &y, &format!("Prediction/Conv2d_{idx}_pointwise"), if idx % 2 == 1 { 2 } else { 1 })?;
        if idx % 2 == 1 {
            extra.push(y.clone());
        }
    }
    let sources = [&conv11, &out, &extra[0], &extra[1], &extra[2], &extra[3]];
    let (mut boxes, mut classes, mut total) = (Vec::new(), Vec::new(), 0);
    for (idx, source) in sources.into_iter().enumerate() {
        let (bx, cl, n) = ssd_box_predictor(b, source, idx)?;
        boxes.push(bx);
        classes.push(cl);
        total += n;
    }
    let refs: Vec<&str> = boxes.iter().map(String::as_str).collect();
    let encodings = b.g.op("Concat", &refs, vec![onnx::attr_int("axis", 1)], "box_encodings_concat");
    let refs: Vec<&str> = classes.iter().map(String::as_str).collect();
    let logits = b.g.op("Concat", &refs, vec![onnx::attr_int("axis", 1)], "class_logits_concat");

    // outputLayer: decode against the anchors, in face-api's order of float32 operations
    let (shape, anchors) = b.weight("Output/extra_dim", 3)?;
    if shape != [1, total, 4] {
        return Err(bad(format!("Output/extra_dim has shape {shape:?}, the heads give {total} anchors")));
    }
    let mut cols: [Vec<f32>; 4] = Default::default();
    for a in anchors.chunks_exact(4) {
        let (h, w) = (a[2] - a[0], a[3] - a[1]);
        cols[0].push(h);
        cols[1].push(w);
        cols[2].push(a[0] + h / 2.0);
        cols[3].push(a[1] + w / 2.0);
    }
    let [size_y, size_x, center_y, center_x] = cols.map(|c| b.g.add_initializer_f32("anchor", &[total, 1], &c));
    let split = b.g.add_initializer_i64("split", &[4], &[1, 1, 1, 1]);
    let parts: Vec<String> = (0..4).map(|i| b.g.fresh_name(&format!("encoding_{i}"))).collect();
    let part_refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    b.g.add_node("Split", &[&encodings, &split], &part_refs, vec![onnx::attr_int("axis", 2)]);
    let ten = b.g.add_initializer_f32("ten", &[], &[10.0]);
    let five = b.g.add_initializer_f32("five", &[], &[5.0]);
    let two = b.g.add_initializer_f32("two", &[], &[2.0]);
    let mut half = Vec::new();
    let mut center = Vec::new();
    for (t_center, t_size, size, c) in [(0, 2, &size_y, &center_y), (1, 3, &size_x, &center_x)] {
        let e = b.g.op("Div", &[&parts[t_size], &five], vec![], "e_div5");
        let e = b.g.op("Exp", &[&e], vec![], "exp");
        let e = b.g.op("Mul", &[&e, size], vec![], "mul_size");
        half.push(b.g.op("Div", &[&e, &two], vec![], "half_size"));
        let d = b.g.op("Div", &[&parts[t_center], &ten], vec![], "d_div10");
        let d = b.g.op("Mul", &[&d, size], vec![], "mul_size");
        center.push(b.g.op("Add", &[&d, c], vec![], "center"));
    }
    let ymin = b.g.op("Sub", &[&center[0], &half[0]], vec![], "ymin");
    let xmin = b.g.op("Sub", &[&center[1], &half[1]], vec![], "xmin");
    let ymax = b.g.op("Add", &[&center[0], &half[0]], vec![], "ymax");
    let xmax = b.g.op("Add", &[&center[1], &half[1]], vec![], "xmax");
    let decoded = b.g.op("Concat", &[&ymin, &xmin, &ymax, &xmax], vec![onnx::attr_int("axis", 2)], "boxes_concat");
    let starts = b.g.add_initializer_i64("starts", &[1], &[1]);
    let ends = b.g.add_initializer_i64("ends", &[1], &[2]);
    let axes = b.g.add_initializer_i64("axes", &[1], &[2]);
    let face = b.g.op("Slice", &[&logits, &starts, &ends, &axes], vec![], "face_logit");
    let face = b.g.op("Sigmoid", &[&face], vec![], "sigmoid");
    let flat = b.g.add_initializer_i64("shape", &[2], &[0, -1]);
    let scores = b.g.op("Reshape", &[&face, &flat], vec![], "scores_2d");
    Ok(vec![
        (b.rename(&decoded, "boxes"), vec![-1, total, 4]),
        (b.rename(&scores, "scores"), vec![-1, total]),
        (b.rename(&encodings, "box_encodings"), vec![-1, total, 4]),
        (b.rename(&logits, "class_logits"), vec![-1, total, 3]),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfjs::Quantization;

    #[test]
    fn nets_have_distinct_names_and_sizes() {
        let names: HashSet<&str> = FaceApiNet::ALL.iter().map(|n| n.model_name()).collect();
        assert_eq!(names.len(), 6);
        assert_eq!(FaceApiNet::FaceRecognition.input_size(), 150);
        assert_eq!(FaceApiNet::SsdMobilenetV1.input_size(), 512);
    }

    #[test]
    fn decodes_quantized_and_skips_integer_weights() {
        let mut w = Weights { tensors: HashMap::new(), kinds: Vec::new() };
        let q = |scale, min| Some(Quantization { dtype: "uint8".into(), scale: Some(scale), min: Some(min) });
        let entry =
            WeightEntry { name: "a".into(), shape: vec![2], dtype: "float32".into(), quantization: q(0.5, -1.0) };
        assert_eq!(w.decode(&entry, &[0, 4, 9]).unwrap(), 2);
        assert_eq!(w.tensors["a"].1, vec![-1.0, 1.0]);
        let entry = WeightEntry { name: "i".into(), shape: vec![], dtype: "int32".into(), quantization: q(1.0, 3.0) };
        assert_eq!(w.decode(&entry, &[0]).unwrap(), 1);
        assert!(!w.tensors.contains_key("i"));
        let entry = WeightEntry { name: "f".into(), shape: vec![3], dtype: "float32".into(), quantization: None };
        assert!(w.decode(&entry, &[0; 8]).is_err());
    }
}
