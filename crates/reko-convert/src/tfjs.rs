//! TensorFlow.js graph models (`model.json` + `.bin` shards, format "graph-model") to ONNX.
//!
//! The ONNX graph keeps the TF.js interface: same input and output names, NHWC layout. Tensors stay
//! NHWC throughout; every layout-sensitive op (Conv, pooling, Resize, DepthToSpace) is wrapped in a
//! Transpose pair, which ONNX Runtime's transpose optimizer cancels between neighbours.
//!
//! Inputs and outputs are chosen and named like tfjs-converter 4.x does (`GraphModel.inputNodes` /
//! `outputNodes`): the signature is `userDefinedMetadata.signature`, else `signature`. With signature
//! outputs, the outputs are its entries in document order, named by their signature key; without,
//! every node that no other node consumes (control dependencies count as consumers), in node order,
//! named by the node. Inputs likewise: signature entries by key, else the Placeholders by name.
//! [`ConvertOptions::outputs`] overrides the outputs (named by the given tensor names).
//!
//! TF `int32` tensors become ONNX `int64` (what Shape, Reshape, Slice and Pad want). Shape
//! arithmetic (Shape → StridedSlice → Pack → Reshape) is folded at conversion time into constants,
//! with an unknown batch dimension turned into Reshape's `-1`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value as Json;

use crate::onnx::{self, DataType, Dim, GraphBuilder};
use crate::{ConvertError, Converted, TensorInfo};

/// Options of [`convert_tfjs_graph_with`].
#[derive(Clone, Debug, Default)]
pub struct ConvertOptions {
    /// Export these TF tensors (`"node"` or `"node:1"`) as the graph outputs instead of the model's
    /// own outputs, e.g. a detector's raw heads without its post-processing.
    pub outputs: Option<Vec<String>>,
}

/// Converts a TF.js graph model to ONNX, keeping its interface.
pub fn convert_tfjs_graph(model_json: &Path) -> Result<Converted, ConvertError> {
    convert_tfjs_graph_with(model_json, &ConvertOptions::default())
}

/// [`convert_tfjs_graph`] with options.
pub fn convert_tfjs_graph_with(model_json: &Path, options: &ConvertOptions) -> Result<Converted, ConvertError> {
    let text =
        std::fs::read(model_json).map_err(|source| ConvertError::Io { path: model_json.to_path_buf(), source })?;
    let model: ModelJson = serde_json::from_slice(&text)
        .map_err(|source| ConvertError::Json { path: model_json.to_path_buf(), source })?;
    if let Some(format) = &model.format
        && format != "graph-model"
    {
        return Err(ConvertError::BadModel(format!("format is {format:?}, expected \"graph-model\"")));
    }
    let dir = model_json.parent().unwrap_or(Path::new("."));
    let weights = load_weights(dir, &model.weights_manifest)?;
    let graph_name = model_json.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
    Converter::new(&model, weights, &graph_name)?.run(options)
}

// ---------------------------------------------------------------------------------------------
// model.json

#[derive(Debug, Deserialize)]
struct ModelJson {
    format: Option<String>,
    #[serde(rename = "modelTopology")]
    model_topology: Topology,
    #[serde(rename = "weightsManifest", default)]
    weights_manifest: Vec<WeightGroup>,
    #[serde(default)]
    signature: Option<Signature>,
    #[serde(rename = "userDefinedMetadata", default)]
    user_defined_metadata: Option<UserDefinedMetadata>,
}

#[derive(Debug, Deserialize)]
struct UserDefinedMetadata {
    #[serde(default)]
    signature: Option<Signature>,
}

#[derive(Debug, Deserialize)]
struct Topology {
    #[serde(default)]
    node: Vec<TfNode>,
}

#[derive(Debug, Deserialize)]
struct TfNode {
    name: String,
    op: String,
    #[serde(default)]
    input: Vec<String>,
    #[serde(default)]
    attr: BTreeMap<String, Json>,
}

#[derive(Debug, Deserialize)]
struct Signature {
    #[serde(default)]
    inputs: OrderedEntries,
    #[serde(default)]
    outputs: OrderedEntries,
}

#[derive(Debug, Deserialize)]
struct SignatureTensor {
    name: String,
}

/// A JSON object's entries in document order (serde_json's map sorts keys without the
/// `preserve_order` feature, which would change the whole workspace's JSON output).
#[derive(Debug, Default)]
struct OrderedEntries(Vec<(String, SignatureTensor)>);

impl<'de> Deserialize<'de> for OrderedEntries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = OrderedEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of signature tensors")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, SignatureTensor>()? {
                    entries.push((key, value));
                }
                Ok(OrderedEntries(entries))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// One group of a TF.js weights manifest (also face-api's): shard files and the weights they hold.
#[derive(Debug, Deserialize)]
pub(crate) struct WeightGroup {
    pub(crate) paths: Vec<String>,
    pub(crate) weights: Vec<WeightEntry>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct WeightEntry {
    pub(crate) name: String,
    pub(crate) shape: Vec<i64>,
    pub(crate) dtype: String,
    #[serde(default)]
    pub(crate) quantization: Option<Quantization>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Quantization {
    pub(crate) dtype: String,
    #[serde(default)]
    pub(crate) scale: Option<f64>,
    #[serde(default)]
    pub(crate) min: Option<f64>,
}

// ---------------------------------------------------------------------------------------------
// weights

/// A constant tensor: float32 or integer (TF int32/bool, held as i64).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ConstTensor {
    F32 { shape: Vec<i64>, data: Vec<f32> },
    I64 { shape: Vec<i64>, data: Vec<i64> },
}

impl ConstTensor {
    fn shape(&self) -> &[i64] {
        match self {
            ConstTensor::F32 { shape, .. } | ConstTensor::I64 { shape, .. } => shape,
        }
    }

    fn ints(&self) -> Option<&[i64]> {
        match self {
            ConstTensor::I64 { data, .. } => Some(data),
            ConstTensor::F32 { .. } => None,
        }
    }
}

struct LoadedWeights {
    tensors: HashMap<String, ConstTensor>,
    summary: BTreeMap<String, usize>,
    bytes_read: usize,
}

fn load_weights(dir: &Path, groups: &[WeightGroup]) -> Result<LoadedWeights, ConvertError> {
    let mut loaded = LoadedWeights { tensors: HashMap::new(), summary: BTreeMap::new(), bytes_read: 0 };
    for group in groups {
        let mut buffer = Vec::new();
        for shard in &group.paths {
            let path: PathBuf = dir.join(shard);
            let bytes = std::fs::read(&path).map_err(|source| ConvertError::Io { path, source })?;
            buffer.extend_from_slice(&bytes);
        }
        loaded.bytes_read += buffer.len();
        let mut offset = 0usize;
        for entry in &group.weights {
            let (tensor, used) = decode_weight(entry, &buffer[offset.min(buffer.len())..])?;
            offset += used;
            let kind = match &entry.quantization {
                Some(q) => format!("{} stored as {}", entry.dtype, q.dtype),
                None => entry.dtype.clone(),
            };
            *loaded.summary.entry(kind).or_default() += 1;
            loaded.tensors.insert(entry.name.clone(), tensor);
        }
        if offset != buffer.len() {
            return Err(ConvertError::BadModel(format!(
                "weight shards {:?} hold {} bytes but the manifest describes {offset}",
                group.paths,
                buffer.len()
            )));
        }
    }
    Ok(loaded)
}

fn element_count(shape: &[i64]) -> Result<usize, ConvertError> {
    shape.iter().try_fold(1usize, |acc, &d| {
        usize::try_from(d)
            .ok()
            .and_then(|d| acc.checked_mul(d))
            .ok_or_else(|| ConvertError::BadModel(format!("bad weight shape {shape:?}")))
    })
}

/// Decodes one manifest entry from the front of `bytes`; returns the tensor and the bytes used.
fn decode_weight(entry: &WeightEntry, bytes: &[u8]) -> Result<(ConstTensor, usize), ConvertError> {
    let count = element_count(&entry.shape)?;
    let stored = entry.quantization.as_ref().map(|q| q.dtype.as_str()).unwrap_or(entry.dtype.as_str());
    let width = match stored {
        "float32" | "int32" => 4,
        "float16" | "uint16" => 2,
        "uint8" | "bool" => 1,
        other => {
            return Err(ConvertError::BadModel(format!("weight {} has unsupported stored dtype {other}", entry.name)));
        }
    };
    let used = count
        .checked_mul(width)
        .ok_or_else(|| ConvertError::BadModel(format!("weight {} has a bad shape {:?}", entry.name, entry.shape)))?;
    let raw = bytes
        .get(..used)
        .ok_or_else(|| ConvertError::BadModel(format!("weight {} runs past the end of its shards", entry.name)))?;
    let values: Vec<f64> = match stored {
        "float32" => raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect(),
        "int32" => raw.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64).collect(),
        "float16" => raw.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])) as f64).collect(),
        "uint16" | "uint8" => {
            let q = entry.quantization.as_ref().expect("quantized dtype");
            let (Some(scale), Some(min)) = (q.scale, q.min) else {
                return Err(ConvertError::BadModel(format!(
                    "weight {} is {stored}-quantized without scale/min",
                    entry.name
                )));
            };
            let ints: Vec<u32> = if stored == "uint8" {
                raw.iter().map(|&b| b as u32).collect()
            } else {
                raw.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]) as u32).collect()
            };
            ints.into_iter().map(|q| dequantize(q, scale, min)).collect()
        }
        _ => raw.iter().map(|&b| b as f64).collect(), // bool
    };
    let shape = entry.shape.clone();
    let tensor = match entry.dtype.as_str() {
        "float32" => ConstTensor::F32 { shape, data: values.into_iter().map(|v| v as f32).collect() },
        "int32" | "bool" => ConstTensor::I64 { shape, data: values.into_iter().map(|v| v.round() as i64).collect() },
        other => {
            return Err(ConvertError::BadModel(format!("weight {} has unsupported dtype {other}", entry.name)));
        }
    };
    Ok((tensor, used))
}

/// `q * scale + min`, the TF.js affine dequantization (computed in f64 as JavaScript does).
pub(crate) fn dequantize(q: u32, scale: f64, min: f64) -> f64 {
    q as f64 * scale + min
}

/// IEEE 754 half precision to single precision (exact).
pub(crate) fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits >> 15) & 1) as u32;
    let exponent = ((bits >> 10) & 0x1f) as u32;
    let mantissa = (bits & 0x3ff) as u32;
    let out = match (exponent, mantissa) {
        (0, 0) => sign << 31,
        (0, m) => {
            // subnormal: normalise the mantissa
            let mut e: i32 = -14;
            let mut m = m;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            (sign << 31) | (((e + 127) as u32) << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, m) => (sign << 31) | (0xff << 23) | (m << 13),
        (e, m) => (sign << 31) | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(out)
}

// ---------------------------------------------------------------------------------------------
// attributes (the TF AttrValue JSON mapping)

fn json_int(v: &Json) -> Option<i64> {
    match v {
        Json::Number(n) => n.as_i64(),
        Json::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn json_float(v: &Json) -> Option<f32> {
    match v {
        Json::Number(n) => n.as_f64().map(|f| f as f32),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f32::NAN),
            "Infinity" => Some(f32::INFINITY),
            "-Infinity" => Some(f32::NEG_INFINITY),
            s => s.parse().ok(),
        },
        _ => None,
    }
}

/// `{"i": "3"}`.
pub(crate) fn attr_i(attrs: &BTreeMap<String, Json>, key: &str) -> Option<i64> {
    attrs.get(key).and_then(|v| v.get("i")).and_then(json_int)
}

/// `{"f": 0.5}`.
pub(crate) fn attr_f(attrs: &BTreeMap<String, Json>, key: &str) -> Option<f32> {
    attrs.get(key).and_then(|v| v.get("f")).and_then(json_float)
}

/// `{"b": true}`; absent means false.
pub(crate) fn attr_b(attrs: &BTreeMap<String, Json>, key: &str) -> bool {
    attrs.get(key).and_then(|v| v.get("b")).and_then(Json::as_bool).unwrap_or(false)
}

fn decode_b64(s: &str) -> Option<String> {
    base64::engine::general_purpose::STANDARD.decode(s).ok().and_then(|b| String::from_utf8(b).ok())
}

/// `{"s": base64}`.
pub(crate) fn attr_s(attrs: &BTreeMap<String, Json>, key: &str) -> Option<String> {
    attrs.get(key).and_then(|v| v.get("s")).and_then(Json::as_str).and_then(decode_b64)
}

/// `{"list": {"i": ["1", "2"]}}`; an empty list may be `{"list": {}}`.
pub(crate) fn attr_ints(attrs: &BTreeMap<String, Json>, key: &str) -> Vec<i64> {
    attrs
        .get(key)
        .and_then(|v| v.get("list"))
        .and_then(|l| l.get("i"))
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(json_int).collect())
        .unwrap_or_default()
}

/// `{"list": {"s": [base64, ...]}}`.
pub(crate) fn attr_strings(attrs: &BTreeMap<String, Json>, key: &str) -> Vec<String> {
    attrs
        .get(key)
        .and_then(|v| v.get("list"))
        .and_then(|l| l.get("s"))
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_str).filter_map(decode_b64).collect())
        .unwrap_or_default()
}

/// `{"type": "DT_FLOAT"}`.
pub(crate) fn attr_type(attrs: &BTreeMap<String, Json>, key: &str) -> Option<String> {
    attrs.get(key).and_then(|v| v.get("type")).and_then(Json::as_str).map(str::to_string)
}

/// Placeholder `{"shape": {"dim": [{"size": "-1"}, ...]}}`; `unknownRank` gives None.
fn attr_shape(attrs: &BTreeMap<String, Json>, key: &str) -> Option<Vec<i64>> {
    let shape = attrs.get(key)?.get("shape")?;
    if shape.get("unknownRank").and_then(Json::as_bool) == Some(true) {
        return None;
    }
    Some(
        shape
            .get("dim")
            .and_then(Json::as_array)
            .map(|dims| dims.iter().map(|d| d.get("size").and_then(json_int).unwrap_or(-1)).collect())
            .unwrap_or_default(),
    )
}

// ---------------------------------------------------------------------------------------------
// padding

/// The largest input dimension, window size, stride, dilation or explicit padding accepted: TF.js holds them in
/// int32, and the shape arithmetic over such values stays far from overflowing.
const DIM_MAX: i64 = i32::MAX as i64;

/// ONNX `pads` for a 2-D window: `[h_begin, w_begin, h_end, w_end]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pads2d(pub [i64; 4]);

/// TF padding (`SAME`, `VALID`, `EXPLICIT` with NHWC `explicit_paddings`) as explicit ONNX pads.
/// `SAME` puts the odd pixel at the end, like TF; it needs the input's spatial size.
pub(crate) fn tf_padding(
    padding: &str,
    input_hw: [i64; 2],
    kernel_hw: [i64; 2],
    strides: [i64; 2],
    dilations: [i64; 2],
    explicit: &[i64],
) -> Result<Pads2d, String> {
    match padding {
        "VALID" => Ok(Pads2d([0; 4])),
        "EXPLICIT" => {
            if explicit.len() != 8 {
                return Err(format!("explicit_paddings has {} values, expected 8", explicit.len()));
            }
            if explicit.iter().any(|p| !(0..=DIM_MAX).contains(p)) {
                return Err(format!("explicit_paddings {explicit:?}"));
            }
            Ok(Pads2d([explicit[2], explicit[4], explicit[3], explicit[5]]))
        }
        "SAME" => {
            let mut begin = [0; 2];
            let mut end = [0; 2];
            for i in 0..2 {
                if input_hw[i] < 0 {
                    return Err("SAME padding needs a static spatial size".into());
                }
                let effective = (kernel_hw[i] - 1) * dilations[i] + 1;
                let out = (input_hw[i] + strides[i] - 1) / strides[i];
                let total = ((out - 1) * strides[i] + effective - input_hw[i]).max(0);
                begin[i] = total / 2;
                end[i] = total - begin[i];
            }
            Ok(Pads2d([begin[0], begin[1], end[0], end[1]]))
        }
        other => Err(format!("unknown padding {other:?}")),
    }
}

/// Output size of a window op along one axis (`-1` stays unknown).
pub(crate) fn window_output(input: i64, kernel: i64, stride: i64, dilation: i64, pad: i64) -> i64 {
    if input < 0 {
        return -1;
    }
    (input + pad - ((kernel - 1) * dilation + 1)) / stride + 1
}

// ---------------------------------------------------------------------------------------------
// the converter

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elem {
    Float,
    Int,
    Bool,
}

impl Elem {
    fn onnx(self) -> DataType {
        match self {
            Elem::Float => DataType::Float,
            Elem::Int => DataType::Int64,
            Elem::Bool => DataType::Bool,
        }
    }
}

/// One element of a shape tensor followed through Shape/StridedSlice/Pack/ConcatV2.
#[derive(Clone, Debug, PartialEq)]
enum Part {
    Known(i64),
    /// Dimension `axis` of the ONNX tensor `tensor`, unknown at conversion time.
    Dim {
        tensor: String,
        axis: i64,
    },
}

impl Part {
    fn known(&self) -> Option<i64> {
        match self {
            Part::Known(v) => Some(*v),
            Part::Dim { .. } => None,
        }
    }
}

/// One TF tensor as seen by the converter.
#[derive(Clone, Debug)]
struct Val {
    /// The ONNX tensor name; empty for a constant not yet written as an initializer.
    name: String,
    elem: Elem,
    /// Static shape with `-1` for unknown dims; None when even the rank is unknown.
    shape: Option<Vec<i64>>,
    konst: Option<ConstTensor>,
    /// Elements of a small int tensor (a shape), where known; None entries are unknown.
    partial: Option<Vec<Part>>,
}

impl Val {
    fn tensor(name: String, elem: Elem, shape: Option<Vec<i64>>) -> Self {
        Val { name, elem, shape, konst: None, partial: None }
    }

    fn constant(tensor: ConstTensor) -> Self {
        let elem = match tensor {
            ConstTensor::F32 { .. } => Elem::Float,
            ConstTensor::I64 { .. } => Elem::Int,
        };
        let partial = tensor.ints().map(|d| d.iter().map(|&v| Part::Known(v)).collect());
        Val { name: String::new(), elem, shape: Some(tensor.shape().to_vec()), konst: Some(tensor), partial }
    }

    fn rank(&self) -> Option<usize> {
        self.shape.as_ref().map(Vec::len)
    }
}

struct Converter<'m> {
    nodes: Vec<&'m TfNode>,
    by_name: HashMap<&'m str, usize>,
    /// (tensor name, external name) of the signature's outputs / inputs, in order.
    signature_outputs: Vec<(String, String)>,
    signature_inputs: Vec<(String, String)>,
    weights: LoadedWeights,
    graph: GraphBuilder,
    values: HashMap<String, Val>,
    op_counts: BTreeMap<String, usize>,
}

type Res<T> = Result<T, ConvertError>;

/// Splits `"name:1"` into (`"name"`, 1); control inputs (`"^name"`) keep their caret.
fn split_ref(input: &str) -> (&str, usize) {
    match input.rsplit_once(':') {
        Some((node, idx)) if idx.chars().all(|c| c.is_ascii_digit()) && !idx.is_empty() => {
            (node, idx.parse().unwrap_or(0))
        }
        _ => (input, 0),
    }
}

fn value_key(node: &str, index: usize) -> String {
    if index == 0 { node.to_string() } else { format!("{node}:{index}") }
}

fn broadcast(a: &[i64], b: &[i64]) -> Vec<i64> {
    let rank = a.len().max(b.len());
    (0..rank)
        .map(|i| {
            let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { 1 };
            let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { 1 };
            match (da, db) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                (-1, y) | (y, -1) => y,
                (x, _) => x,
            }
        })
        .collect()
}

impl<'m> Converter<'m> {
    fn new(model: &'m ModelJson, weights: LoadedWeights, graph_name: &str) -> Res<Self> {
        let nodes: Vec<&TfNode> = model.model_topology.node.iter().collect();
        let mut by_name = HashMap::new();
        for (i, node) in nodes.iter().enumerate() {
            if by_name.insert(node.name.as_str(), i).is_some() {
                return Err(ConvertError::BadModel(format!("duplicate node {}", node.name)));
            }
        }
        let signature =
            model.user_defined_metadata.as_ref().and_then(|m| m.signature.as_ref()).or(model.signature.as_ref());
        let entries = |e: &OrderedEntries| -> Vec<(String, String)> {
            e.0.iter().map(|(k, t)| (t.name.clone(), k.clone())).collect()
        };
        let signature_outputs = signature.map(|s| entries(&s.outputs)).unwrap_or_default();
        let signature_inputs = signature.map(|s| entries(&s.inputs)).unwrap_or_default();
        Ok(Converter {
            nodes,
            by_name,
            signature_outputs,
            signature_inputs,
            weights,
            graph: GraphBuilder::new(graph_name),
            values: HashMap::new(),
            op_counts: BTreeMap::new(),
        })
    }

    /// (tensor, external name) pairs of the model's outputs.
    fn default_outputs(&self) -> Vec<(String, String)> {
        if !self.signature_outputs.is_empty() {
            // tfjs looks up the signature's node and ignores the output index
            return self
                .signature_outputs
                .iter()
                .map(|(tensor, key)| (split_ref(tensor).0.to_string(), key.clone()))
                .filter(|(node, _)| self.by_name.contains_key(node.as_str()))
                .collect();
        }
        let mut consumed = HashSet::new();
        for node in &self.nodes {
            for input in &node.input {
                consumed.insert(split_ref(input.trim_start_matches('^')).0);
            }
        }
        self.nodes
            .iter()
            .filter(|n| !consumed.contains(n.name.as_str()))
            .map(|n| (n.name.clone(), n.name.clone()))
            .collect()
    }

    /// The external name of an input node.
    fn input_external_name(&self, node: &str) -> String {
        self.signature_inputs
            .iter()
            .find(|(tensor, _)| split_ref(tensor).0 == node)
            .map(|(_, key)| key.clone())
            .unwrap_or_else(|| node.to_string())
    }

    fn run(mut self, options: &ConvertOptions) -> Res<Converted> {
        let outputs = match &options.outputs {
            Some(list) => list.iter().map(|o| (o.clone(), o.clone())).collect(),
            None => self.default_outputs(),
        };
        if outputs.is_empty() {
            return Err(ConvertError::BadModel("the graph has no outputs".into()));
        }
        let output_refs: Vec<(String, usize)> = outputs
            .iter()
            .map(|(o, _)| {
                let (n, i) = split_ref(o);
                (n.to_string(), i)
            })
            .collect();
        // graph inputs and outputs keep their external names
        for (_, external) in &outputs {
            self.graph.reserve_name(external);
        }
        let order = self.topological_order(&output_refs)?;

        let mut inputs = Vec::new();
        for &index in &order {
            let node = self.nodes[index];
            *self.op_counts.entry(node.op.clone()).or_default() += 1;
            if node.op == "Placeholder" {
                inputs.push(self.placeholder(node)?);
            } else {
                self.convert_node(node)?;
            }
        }

        let mut output_infos = Vec::new();
        for ((node, index), (_, external)) in output_refs.iter().zip(&outputs) {
            let key = value_key(node, *index);
            let val = self.get(&key, node)?;
            let external = external.clone();
            let internal = self.materialize(&val, &key);
            if internal != external {
                self.graph.add_node("Identity", &[&internal], &[&external], vec![]);
            }
            let shape = val.shape.clone().unwrap_or_default();
            self.graph.add_output(&external, val.elem.onnx(), &dims(&shape));
            output_infos.push(TensorInfo { name: external, shape });
        }

        let mut report = String::new();
        let _ = writeln!(report, "TF.js nodes converted ({} total):", order.len());
        for (op, count) in &self.op_counts {
            let _ = writeln!(report, "  {op}: {count}");
        }
        let _ = writeln!(
            report,
            "weights: {} tensors, {} bytes in shards",
            self.weights.tensors.len(),
            self.weights.bytes_read
        );
        for (kind, count) in &self.weights.summary {
            let _ = writeln!(report, "  {kind}: {count} (dequantized to float32 where quantized)");
        }
        let _ = writeln!(report, "ONNX nodes: {}", self.graph.node_count());
        let model = self.graph.into_model("reko-convert (tfjs)", &[("source_format", "tfjs-graph-model")]);
        Ok(Converted { onnx: onnx::encode_model(&model), inputs, outputs: output_infos, report })
    }

    /// Nodes the outputs depend on (data inputs only), producers first.
    fn topological_order(&self, outputs: &[(String, usize)]) -> Res<Vec<usize>> {
        let mut order = Vec::new();
        let mut state = vec![0u8; self.nodes.len()]; // 0 new, 1 open, 2 done
        for (name, _) in outputs {
            let root = *self
                .by_name
                .get(name.as_str())
                .ok_or_else(|| ConvertError::BadModel(format!("output node {name} not found")))?;
            let mut stack = vec![(root, false)];
            while let Some((index, expanded)) = stack.pop() {
                if expanded {
                    state[index] = 2;
                    order.push(index);
                    continue;
                }
                match state[index] {
                    2 => continue,
                    1 => {
                        return Err(ConvertError::BadModel(format!("cycle through node {}", self.nodes[index].name)));
                    }
                    _ => {}
                }
                state[index] = 1;
                stack.push((index, true));
                for input in &self.nodes[index].input {
                    if input.starts_with('^') {
                        continue;
                    }
                    let (producer, _) = split_ref(input);
                    let p = *self.by_name.get(producer).ok_or_else(|| {
                        ConvertError::BadModel(format!("node {} reads missing node {producer}", self.nodes[index].name))
                    })?;
                    if state[p] == 0 {
                        stack.push((p, false));
                    } else if state[p] == 1 && !stack.iter().any(|&(s, e)| s == p && !e) {
                        return Err(ConvertError::BadModel(format!("cycle through node {producer}")));
                    }
                }
            }
        }
        Ok(order)
    }

    fn placeholder(&mut self, node: &TfNode) -> Res<TensorInfo> {
        let shape = attr_shape(&node.attr, "shape")
            .ok_or_else(|| ConvertError::BadModel(format!("input {} has no static rank", node.name)))?;
        if shape.iter().any(|&d| d > DIM_MAX) {
            return Err(ConvertError::BadModel(format!("input {} has a dimension too large: {shape:?}", node.name)));
        }
        let elem = match attr_type(&node.attr, "dtype").as_deref() {
            Some("DT_FLOAT") | None => Elem::Float,
            Some("DT_INT32") => Elem::Int,
            Some(other) => {
                return Err(ConvertError::UnsupportedOp {
                    op: format!("Placeholder of {other}"),
                    node: node.name.clone(),
                });
            }
        };
        let onnx_dims: Vec<Dim> = shape
            .iter()
            .enumerate()
            .map(|(i, &d)| match (i, d) {
                (0, d) if d < 0 => Dim::Symbolic("batch".into()),
                (i, d) if d < 0 => Dim::Symbolic(format!("{}_dim{i}", node.name)),
                (_, d) => Dim::Fixed(d),
            })
            .collect();
        let external = self.input_external_name(&node.name);
        self.graph.add_input(&external, elem.onnx(), &onnx_dims);
        self.values.insert(node.name.clone(), Val::tensor(external.clone(), elem, Some(shape.clone())));
        Ok(TensorInfo { name: external, shape })
    }

    fn get(&self, key: &str, node: &str) -> Res<Val> {
        self.values
            .get(key)
            .cloned()
            .ok_or_else(|| ConvertError::BadModel(format!("node {node}: input {key} was not produced")))
    }

    /// The i-th data input of a node.
    fn input(&self, node: &TfNode, i: usize) -> Res<Val> {
        let data: Vec<&String> = node.input.iter().filter(|s| !s.starts_with('^')).collect();
        let input = data
            .get(i)
            .ok_or_else(|| ConvertError::BadModel(format!("node {} ({}) lacks input {i}", node.name, node.op)))?;
        let (producer, index) = split_ref(input);
        self.get(&value_key(producer, index), &node.name)
    }

    fn data_input_count(node: &TfNode) -> usize {
        node.input.iter().filter(|s| !s.starts_with('^')).count()
    }

    fn const_input(&self, node: &TfNode, i: usize) -> Res<ConstTensor> {
        self.input(node, i)?.konst.ok_or_else(|| {
            ConvertError::BadModel(format!("node {} ({}) needs a constant input {i}", node.name, node.op))
        })
    }

    fn const_ints(&self, node: &TfNode, i: usize) -> Res<Vec<i64>> {
        let val = self.input(node, i)?;
        if let Some(partial) = &val.partial
            && let Some(ints) = partial.iter().map(Part::known).collect::<Option<Vec<i64>>>()
        {
            return Ok(ints);
        }
        Err(ConvertError::BadModel(format!("node {} ({}) needs constant integers at input {i}", node.name, node.op)))
    }

    /// The ONNX name of a value, writing a constant as an initializer on first use.
    fn materialize(&mut self, val: &Val, key: &str) -> String {
        if !val.name.is_empty() {
            return val.name.clone();
        }
        let name = match val.konst.as_ref() {
            Some(ConstTensor::F32 { shape, data }) => self.graph.add_initializer_f32(key, shape, data),
            Some(ConstTensor::I64 { shape, data }) => self.graph.add_initializer_i64(key, shape, data),
            None => {
                // a shape tensor with dimensions known only at run time
                let parts = val.partial.clone().unwrap_or_default();
                let scalar = val.shape.as_ref().is_some_and(Vec::is_empty);
                self.emit_parts(&parts, scalar, key)
            }
        };
        if let Some(stored) = self.values.get_mut(key) {
            stored.name = name.clone();
        }
        name
    }

    /// An int64 tensor holding `parts`, reading unknown dimensions with Shape + Slice.
    fn emit_parts(&mut self, parts: &[Part], scalar: bool, hint: &str) -> String {
        let mut pieces = Vec::new();
        for part in parts {
            pieces.push(match part {
                Part::Known(v) => self.ints_init(&format!("{hint}/known"), &[*v]),
                Part::Dim { tensor, axis } => {
                    let shape = self.graph.op("Shape", &[tensor], vec![], &format!("{hint}/shape"));
                    let start = self.ints_init(&format!("{hint}/start"), &[*axis]);
                    let end = self.ints_init(&format!("{hint}/end"), &[*axis + 1]);
                    self.graph.op("Slice", &[&shape, &start, &end], vec![], &format!("{hint}/dim"))
                }
            });
        }
        let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let joined = self.graph.op("Concat", &refs, vec![onnx::attr_int("axis", 0)], &format!("{hint}/parts"));
        if scalar {
            let axes = self.ints_init(&format!("{hint}/axes"), &[0]);
            self.graph.op("Squeeze", &[&joined, &axes], vec![], hint)
        } else {
            joined
        }
    }

    fn input_name(&mut self, node: &TfNode, i: usize) -> Res<(String, Val)> {
        let val = self.input(node, i)?;
        let data: Vec<&String> = node.input.iter().filter(|s| !s.starts_with('^')).collect();
        let (producer, index) = split_ref(data[i]);
        let key = value_key(producer, index);
        if val.konst.is_none() && val.name.is_empty() {
            return Err(ConvertError::UnsupportedOp {
                op: format!("{} on a partially known shape tensor", node.op),
                node: node.name.clone(),
            });
        }
        let name = self.materialize(&val, &key);
        Ok((name, val))
    }

    fn set(&mut self, node: &TfNode, index: usize, val: Val) {
        self.values.insert(value_key(&node.name, index), val);
    }

    fn unsupported(node: &TfNode, detail: &str) -> ConvertError {
        ConvertError::UnsupportedOp {
            op: if detail.is_empty() { node.op.clone() } else { format!("{} ({detail})", node.op) },
            node: node.name.clone(),
        }
    }

    fn scalar_f32(&mut self, hint: &str, value: f32) -> String {
        self.graph.add_initializer_f32(hint, &[], &[value])
    }

    fn ints_init(&mut self, hint: &str, values: &[i64]) -> String {
        self.graph.add_initializer_i64(hint, &[values.len() as i64], values)
    }

    fn transpose_to_nchw(&mut self, x: &str, hint: &str) -> String {
        self.graph.op("Transpose", &[x], vec![onnx::attr_ints("perm", &[0, 3, 1, 2])], &format!("{hint}/nchw"))
    }

    fn transpose_to_nhwc(&mut self, x: &str, hint: &str) -> String {
        self.graph.op("Transpose", &[x], vec![onnx::attr_ints("perm", &[0, 2, 3, 1])], &format!("{hint}/nhwc"))
    }

    fn convert_node(&mut self, node: &'m TfNode) -> Res<()> {
        let name = node.name.as_str();
        match node.op.as_str() {
            "Const" => {
                let tensor = self
                    .weights
                    .tensors
                    .get(name)
                    .cloned()
                    .ok_or_else(|| ConvertError::BadModel(format!("Const {name} has no weights entry")))?;
                self.set(node, 0, Val::constant(tensor));
            }
            "Identity" | "StopGradient" | "Snapshot" => {
                let val = self.input(node, 0)?;
                self.set(node, 0, val);
            }
            "_FusedConv2D" | "Conv2D" => self.conv2d(node, false)?,
            "DepthwiseConv2dNative" | "FusedDepthwiseConv2dNative" => self.conv2d(node, true)?,
            "Conv2DBackpropInput" => self.conv_transpose(node)?,
            "MatMul" | "_FusedMatMul" => self.matmul(node)?,
            "Relu" | "Relu6" | "Sigmoid" | "Tanh" | "Elu" | "Exp" | "Log" | "Sqrt" | "Neg" | "Abs" | "LeakyRelu"
            | "Rsqrt" | "Square" => {
                let (x, val) = self.input_name(node, 0)?;
                let kind = node.op.clone();
                let alpha = attr_f(&node.attr, "alpha").unwrap_or(0.2);
                let out = self.activation(&kind, &x, None, alpha, node)?;
                self.set(node, 0, Val::tensor(out, Elem::Float, val.shape));
            }
            "Prelu" => {
                let (x, val) = self.input_name(node, 0)?;
                let (alpha, _) = self.input_name(node, 1)?;
                let out = self.graph.op("PRelu", &[&x, &alpha], vec![], name);
                self.set(node, 0, Val::tensor(out, Elem::Float, val.shape));
            }
            "Add" | "AddV2" | "Sub" | "Mul" | "RealDiv" | "Div" | "Minimum" | "Maximum" | "Pow"
            | "SquaredDifference" => self.binary(node)?,
            "AddN" => {
                let mut names = Vec::new();
                let mut shape = Some(Vec::new());
                for i in 0..Self::data_input_count(node) {
                    let (n, v) = self.input_name(node, i)?;
                    names.push(n);
                    shape = match (shape, v.shape) {
                        (Some(a), Some(b)) => Some(broadcast(&a, &b)),
                        _ => None,
                    };
                }
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let out = self.graph.op("Sum", &refs, vec![], name);
                self.set(node, 0, Val::tensor(out, Elem::Float, shape));
            }
            "Softmax" => {
                let (x, val) = self.input_name(node, 0)?;
                let out = self.graph.op("Softmax", &[&x], vec![onnx::attr_int("axis", -1)], name);
                self.set(node, 0, Val::tensor(out, Elem::Float, val.shape));
            }
            "MaxPool" | "AvgPool" => self.pool(node)?,
            "Mean" => self.mean(node)?,
            "Pad" | "PadV2" => self.pad(node)?,
            "ConcatV2" => self.concat(node)?,
            "Reshape" => self.reshape(node)?,
            "ResizeBilinear" => self.resize_bilinear(node)?,
            "DepthToSpace" => self.depth_to_space(node)?,
            "Shape" => {
                let val = self.input(node, 0)?;
                let shape = val.shape.ok_or_else(|| Self::unsupported(node, "input of unknown rank"))?;
                let out = if shape.iter().all(|&d| d >= 0) {
                    Val::constant(ConstTensor::I64 { shape: vec![shape.len() as i64], data: shape })
                } else {
                    let source = self.input_name(node, 0)?.0;
                    Val {
                        name: String::new(),
                        elem: Elem::Int,
                        shape: Some(vec![shape.len() as i64]),
                        konst: None,
                        partial: Some(
                            shape
                                .iter()
                                .enumerate()
                                .map(|(axis, &d)| {
                                    if d >= 0 {
                                        Part::Known(d)
                                    } else {
                                        Part::Dim { tensor: source.clone(), axis: axis as i64 }
                                    }
                                })
                                .collect(),
                        ),
                    }
                };
                self.set(node, 0, out);
            }
            "StridedSlice" => self.strided_slice(node)?,
            "Pack" => self.pack(node)?,
            "Cast" => self.cast(node)?,
            "ExpandDims" => {
                let axis = self.const_ints(node, 1)?;
                let val = self.input(node, 0)?;
                let rank = val.rank().ok_or_else(|| Self::unsupported(node, "unknown rank"))?;
                let a = axis.first().copied().unwrap_or(0);
                let a = if a < 0 { a + rank as i64 + 1 } else { a } as usize;
                let mut shape = val.shape.clone().unwrap_or_default();
                shape.insert(a.min(shape.len()), 1);
                let (x, _) = self.input_name(node, 0)?;
                let axes = self.ints_init(&format!("{name}/axes"), &[a as i64]);
                let out = self.graph.op("Unsqueeze", &[&x, &axes], vec![], name);
                self.set(node, 0, Val::tensor(out, val.elem, Some(shape)));
            }
            "Squeeze" => {
                let val = self.input(node, 0)?;
                let shape = val.shape.clone().ok_or_else(|| Self::unsupported(node, "unknown rank"))?;
                let rank = shape.len() as i64;
                let mut axes: Vec<i64> = attr_ints(&node.attr, "squeeze_dims")
                    .into_iter()
                    .map(|a| if a < 0 { a + rank } else { a })
                    .collect();
                if axes.is_empty() {
                    axes = (0..rank).filter(|&i| shape[i as usize] == 1).collect();
                }
                let out_shape: Vec<i64> =
                    shape.iter().enumerate().filter(|(i, _)| !axes.contains(&(*i as i64))).map(|(_, &d)| d).collect();
                let (x, _) = self.input_name(node, 0)?;
                let axes_name = self.ints_init(&format!("{name}/axes"), &axes);
                let out = self.graph.op("Squeeze", &[&x, &axes_name], vec![], name);
                self.set(node, 0, Val::tensor(out, val.elem, Some(out_shape)));
            }
            _ => return Err(Self::unsupported(node, "")),
        }
        Ok(())
    }

    /// Applies a TF activation (by op name or fused-op name) to an NHWC tensor.
    fn activation(
        &mut self,
        kind: &str,
        x: &str,
        prelu_alpha: Option<String>,
        leaky_alpha: f32,
        node: &TfNode,
    ) -> Res<String> {
        let hint = format!("{}/{}", node.name, kind.to_lowercase());
        Ok(match kind {
            "Relu" => self.graph.op("Relu", &[x], vec![], &hint),
            "Relu6" => {
                let lo = self.scalar_f32(&format!("{hint}/min"), 0.0);
                let hi = self.scalar_f32(&format!("{hint}/max"), 6.0);
                self.graph.op("Clip", &[x, &lo, &hi], vec![], &hint)
            }
            "Sigmoid" | "Tanh" | "Elu" | "Exp" | "Log" | "Sqrt" | "Neg" | "Abs" => {
                self.graph.op(kind, &[x], vec![], &hint)
            }
            "Rsqrt" => {
                let s = self.graph.op("Sqrt", &[x], vec![], &hint);
                self.graph.op("Reciprocal", &[&s], vec![], &hint)
            }
            "Square" => self.graph.op("Mul", &[x, x], vec![], &hint),
            "LeakyRelu" => self.graph.op("LeakyRelu", &[x], vec![onnx::attr_float("alpha", leaky_alpha)], &hint),
            "Prelu" => {
                let alpha = prelu_alpha.ok_or_else(|| Self::unsupported(node, "Prelu without an alpha argument"))?;
                self.graph.op("PRelu", &[x, &alpha], vec![], &hint)
            }
            other => {
                return Err(Self::unsupported(node, &format!("fused activation {other}")));
            }
        })
    }

    /// Splits `fused_ops` into (has BiasAdd, optional activation); rejects anything else.
    fn fused_ops(node: &TfNode) -> Res<(bool, Option<String>)> {
        let ops = attr_strings(&node.attr, "fused_ops");
        let mut iter = ops.iter();
        let mut bias = false;
        let mut activation = None;
        if let Some(first) = iter.next() {
            match first.as_str() {
                "BiasAdd" => bias = true,
                other => return Err(Self::unsupported(node, &format!("fused op {other}"))),
            }
        }
        if let Some(act) = iter.next() {
            activation = Some(act.clone());
        }
        if let Some(extra) = iter.next() {
            return Err(Self::unsupported(node, &format!("fused op {extra}")));
        }
        Ok((bias, activation))
    }

    fn window_attrs(node: &TfNode, key: &str) -> Res<[i64; 2]> {
        let v = attr_ints(&node.attr, key);
        let pair = match v.len() {
            0 => [1, 1],
            4 => [v[1], v[2]],
            2 => [v[0], v[1]],
            _ => return Err(ConvertError::BadModel(format!("node {}: bad {key} {v:?}", node.name))),
        };
        // strides and dilations are positive (a zero would divide by zero, a huge one overflow the shapes)
        if pair.iter().any(|d| !(1..=DIM_MAX).contains(d)) {
            return Err(ConvertError::BadModel(format!("node {}: bad {key} {v:?}", node.name)));
        }
        Ok(pair)
    }

    fn check_nhwc(node: &TfNode) -> Res<()> {
        match attr_s(&node.attr, "data_format").as_deref() {
            None | Some("NHWC") => Ok(()),
            Some(other) => Err(Self::unsupported(node, &format!("data_format {other}"))),
        }
    }

    fn conv2d(&mut self, node: &TfNode, depthwise: bool) -> Res<()> {
        Self::check_nhwc(node)?;
        let name = node.name.clone();
        let (x, xval) = self.input_name(node, 0)?;
        let xshape =
            xval.shape.clone().filter(|s| s.len() == 4).ok_or_else(|| Self::unsupported(node, "input is not 4-D"))?;
        let filter = self.const_input(node, 1)?;
        let ConstTensor::F32 { shape: fshape, data: fdata } = &filter else {
            return Err(Self::unsupported(node, "integer filter"));
        };
        if !filter_shape_ok(fshape) {
            return Err(ConvertError::BadModel(format!("{name}: filter shape {fshape:?}")));
        }
        let (kh, kw, cin, m) = (fshape[0], fshape[1], fshape[2], fshape[3]);
        // ONNX weight [out, in/group, kh, kw]
        let (weight, cout, group) = if depthwise {
            // TF [kh, kw, C, M] -> ONNX [C*M, 1, kh, kw], out channel c*M + mm
            let mut w = vec![0f32; fdata.len()];
            for h in 0..kh {
                for ww in 0..kw {
                    for c in 0..cin {
                        for mm in 0..m {
                            let src = (((h * kw + ww) * cin + c) * m + mm) as usize;
                            let dst = (((c * m + mm) * kh + h) * kw + ww) as usize;
                            w[dst] = fdata[src];
                        }
                    }
                }
            }
            (w, cin * m, cin)
        } else {
            if xshape[3] >= 0 && xshape[3] != cin {
                // grouped convolution
                if xshape[3] % cin != 0 {
                    return Err(ConvertError::BadModel(format!(
                        "{name}: input channels {} vs filter {cin}",
                        xshape[3]
                    )));
                }
            }
            (hwio_to_oihw(fshape, fdata), m, if xshape[3] > 0 { xshape[3] / cin } else { 1 })
        };
        let wshape = if depthwise { vec![cout, 1, kh, kw] } else { vec![m, cin, kh, kw] };
        let strides = Self::window_attrs(node, "strides")?;
        let dilations = Self::window_attrs(node, "dilations")?;
        let padding = attr_s(&node.attr, "padding").unwrap_or_else(|| "VALID".into());
        let pads = tf_padding(
            &padding,
            [xshape[1], xshape[2]],
            [kh, kw],
            strides,
            dilations,
            &attr_ints(&node.attr, "explicit_paddings"),
        )
        .map_err(|e| ConvertError::BadModel(format!("{name}: {e}")))?;

        let (has_bias, activation) = if node.op.starts_with("Fused") || node.op.starts_with("_Fused") {
            Self::fused_ops(node)?
        } else {
            (false, None)
        };
        let wname = self.graph.add_initializer_f32(&format!("{name}/weight"), &wshape, &weight);
        let mut conv_inputs = vec![String::new(), wname];
        let mut bias_after = None;
        if has_bias {
            let bias = self.input(node, 2)?;
            match &bias.konst {
                Some(ConstTensor::F32 { shape, data }) if shape.len() == 1 && shape[0] == cout => {
                    let b = self.graph.add_initializer_f32(&format!("{name}/bias"), &[cout], data);
                    conv_inputs.push(b);
                }
                _ => bias_after = Some(self.input_name(node, 2)?.0),
            }
        }
        let x_nchw = self.transpose_to_nchw(&x, &name);
        conv_inputs[0] = x_nchw;
        let refs: Vec<&str> = conv_inputs.iter().map(String::as_str).collect();
        let y = self.graph.op(
            "Conv",
            &refs,
            vec![
                onnx::attr_ints("kernel_shape", &[kh, kw]),
                onnx::attr_ints("strides", &strides),
                onnx::attr_ints("dilations", &dilations),
                onnx::attr_ints("pads", &pads.0),
                onnx::attr_int("group", group),
            ],
            &format!("{name}/conv"),
        );
        let mut y = self.transpose_to_nhwc(&y, &name);
        if let Some(b) = bias_after {
            y = self.graph.op("Add", &[&y, &b], vec![], &format!("{name}/bias"));
        }
        if let Some(act) = activation {
            let alpha = if act == "Prelu" { Some(self.input_name(node, 3)?.0) } else { None };
            let leaky = attr_f(&node.attr, "leakyrelu_alpha").unwrap_or(0.2);
            y = self.activation(&act, &y, alpha, leaky, node)?;
        }
        let out_shape = vec![
            xshape[0],
            window_output(xshape[1], kh, strides[0], dilations[0], pads.0[0] + pads.0[2]),
            window_output(xshape[2], kw, strides[1], dilations[1], pads.0[1] + pads.0[3]),
            cout,
        ];
        self.set(node, 0, Val::tensor(y, Elem::Float, Some(out_shape)));
        Ok(())
    }

    fn conv_transpose(&mut self, node: &TfNode) -> Res<()> {
        Self::check_nhwc(node)?;
        let name = node.name.clone();
        let output_shape = self.const_ints(node, 0)?;
        let filter = self.const_input(node, 1)?;
        let ConstTensor::F32 { shape: fshape, data: fdata } = &filter else {
            return Err(Self::unsupported(node, "integer filter"));
        };
        let (x, xval) = self.input_name(node, 2)?;
        let xshape = xval
            .shape
            .clone()
            .filter(|s| s.len() == 4 && s[1] >= 0 && s[2] >= 0)
            .ok_or_else(|| Self::unsupported(node, "input without static spatial size"))?;
        if output_shape.len() != 4 || !filter_shape_ok(fshape) {
            return Err(ConvertError::BadModel(format!("{name}: bad shapes")));
        }
        let (kh, kw, cout, cin) = (fshape[0], fshape[1], fshape[2], fshape[3]);
        // TF [kh, kw, out, in] -> ONNX ConvTranspose [in, out, kh, kw]
        let mut weight = vec![0f32; fdata.len()];
        for h in 0..kh {
            for w in 0..kw {
                for o in 0..cout {
                    for i in 0..cin {
                        let src = (((h * kw + w) * cout + o) * cin + i) as usize;
                        let dst = (((i * cout + o) * kh + h) * kw + w) as usize;
                        weight[dst] = fdata[src];
                    }
                }
            }
        }
        let strides = Self::window_attrs(node, "strides")?;
        let dilations = Self::window_attrs(node, "dilations")?;
        let padding = attr_s(&node.attr, "padding").unwrap_or_else(|| "VALID".into());
        // the padding of the forward convolution output -> input
        let out_hw = [output_shape[1], output_shape[2]];
        let pads =
            tf_padding(&padding, out_hw, [kh, kw], strides, dilations, &attr_ints(&node.attr, "explicit_paddings"))
                .map_err(|e| ConvertError::BadModel(format!("{name}: {e}")))?;
        let mut output_padding = [0i64; 2];
        for i in 0..2 {
            let full = strides[i] * (xshape[1 + i] - 1) + (kernel_at(kh, kw, i) - 1) * dilations[i] + 1;
            let produced = full - pads.0[i] - pads.0[i + 2];
            output_padding[i] = out_hw[i] - produced;
            if output_padding[i] < 0 || output_padding[i] >= strides[i].max(dilations[i]) {
                return Err(ConvertError::BadModel(format!(
                    "{name}: cannot reach output size {} (got {produced})",
                    out_hw[i]
                )));
            }
        }
        let wname = self.graph.add_initializer_f32(&format!("{name}/weight"), &[cin, cout, kh, kw], &weight);
        let x_nchw = self.transpose_to_nchw(&x, &name);
        let y = self.graph.op(
            "ConvTranspose",
            &[&x_nchw, &wname],
            vec![
                onnx::attr_ints("kernel_shape", &[kh, kw]),
                onnx::attr_ints("strides", &strides),
                onnx::attr_ints("dilations", &dilations),
                onnx::attr_ints("pads", &pads.0),
                onnx::attr_ints("output_padding", &output_padding),
            ],
            &format!("{name}/convt"),
        );
        let y = self.transpose_to_nhwc(&y, &name);
        let out_shape = vec![xshape[0], out_hw[0], out_hw[1], cout];
        self.set(node, 0, Val::tensor(y, Elem::Float, Some(out_shape)));
        Ok(())
    }

    fn matmul(&mut self, node: &TfNode) -> Res<()> {
        let name = node.name.clone();
        let (a, aval) = self.input_name(node, 0)?;
        let bval = self.input(node, 1)?;
        let ta = attr_b(&node.attr, "transpose_a");
        let tb = attr_b(&node.attr, "transpose_b");
        let ashape =
            aval.shape.clone().filter(|s| s.len() == 2).ok_or_else(|| Self::unsupported(node, "A is not 2-D"))?;
        let bshape =
            bval.shape.clone().filter(|s| s.len() == 2).ok_or_else(|| Self::unsupported(node, "B is not 2-D"))?;
        let a = if ta {
            self.graph.op("Transpose", &[&a], vec![onnx::attr_ints("perm", &[1, 0])], &format!("{name}/at"))
        } else {
            a
        };
        let b = match (&bval.konst, tb) {
            (Some(ConstTensor::F32 { shape, data }), true) => {
                let (r, c) = (shape[0] as usize, shape[1] as usize);
                let mut t = vec![0f32; data.len()];
                for i in 0..r {
                    for j in 0..c {
                        t[j * r + i] = data[i * c + j];
                    }
                }
                self.graph.add_initializer_f32(&format!("{name}/b"), &[c as i64, r as i64], &t)
            }
            (_, transpose) => {
                let (b, _) = self.input_name(node, 1)?;
                if transpose {
                    self.graph.op("Transpose", &[&b], vec![onnx::attr_ints("perm", &[1, 0])], &format!("{name}/bt"))
                } else {
                    b
                }
            }
        };
        let m = if ta { ashape[1] } else { ashape[0] };
        let n = if tb { bshape[0] } else { bshape[1] };
        let mut y = self.graph.op("MatMul", &[&a, &b], vec![], &format!("{name}/matmul"));
        if node.op == "_FusedMatMul" {
            let (bias, activation) = Self::fused_ops(node)?;
            if bias {
                let (bias, _) = self.input_name(node, 2)?;
                y = self.graph.op("Add", &[&y, &bias], vec![], &format!("{name}/bias"));
            }
            if let Some(act) = activation {
                let alpha = if act == "Prelu" { Some(self.input_name(node, 3)?.0) } else { None };
                let leaky = attr_f(&node.attr, "leakyrelu_alpha").unwrap_or(0.2);
                y = self.activation(&act, &y, alpha, leaky, node)?;
            }
        }
        self.set(node, 0, Val::tensor(y, Elem::Float, Some(vec![m, n])));
        Ok(())
    }

    fn binary(&mut self, node: &TfNode) -> Res<()> {
        let (a, aval) = self.input_name(node, 0)?;
        let (b, bval) = self.input_name(node, 1)?;
        let name = node.name.as_str();
        let onnx_op = match node.op.as_str() {
            "Add" | "AddV2" => "Add",
            "Sub" => "Sub",
            "Mul" => "Mul",
            "RealDiv" | "Div" => "Div",
            "Minimum" => "Min",
            "Maximum" => "Max",
            "Pow" => "Pow",
            "SquaredDifference" => {
                let d = self.graph.op("Sub", &[&a, &b], vec![], &format!("{name}/diff"));
                let out = self.graph.op("Mul", &[&d, &d], vec![], name);
                let shape = aval.shape.zip(bval.shape).map(|(x, y)| broadcast(&x, &y));
                self.set(node, 0, Val::tensor(out, aval.elem, shape));
                return Ok(());
            }
            _ => return Err(Self::unsupported(node, "")),
        };
        if aval.elem != bval.elem {
            return Err(Self::unsupported(node, "mixed element types"));
        }
        let out = self.graph.op(onnx_op, &[&a, &b], vec![], name);
        let shape = aval.shape.zip(bval.shape).map(|(x, y)| broadcast(&x, &y));
        self.set(node, 0, Val::tensor(out, aval.elem, shape));
        Ok(())
    }

    fn pool(&mut self, node: &TfNode) -> Res<()> {
        Self::check_nhwc(node)?;
        let name = node.name.clone();
        let (x, xval) = self.input_name(node, 0)?;
        let xshape =
            xval.shape.clone().filter(|s| s.len() == 4).ok_or_else(|| Self::unsupported(node, "input is not 4-D"))?;
        let ksize = attr_ints(&node.attr, "ksize");
        if ksize.len() != 4 || ksize[0] != 1 || ksize[3] != 1 || !ksize.iter().all(|k| (1..=DIM_MAX).contains(k)) {
            return Err(Self::unsupported(node, &format!("ksize {ksize:?}")));
        }
        let kernel = [ksize[1], ksize[2]];
        let strides = Self::window_attrs(node, "strides")?;
        let padding = attr_s(&node.attr, "padding").unwrap_or_else(|| "VALID".into());
        let pads = tf_padding(
            &padding,
            [xshape[1], xshape[2]],
            kernel,
            strides,
            [1, 1],
            &attr_ints(&node.attr, "explicit_paddings"),
        )
        .map_err(|e| ConvertError::BadModel(format!("{name}: {e}")))?;
        let x_nchw = self.transpose_to_nchw(&x, &name);
        let mut attrs = vec![
            onnx::attr_ints("kernel_shape", &kernel),
            onnx::attr_ints("strides", &strides),
            onnx::attr_ints("pads", &pads.0),
        ];
        let op = if node.op == "MaxPool" {
            "MaxPool"
        } else {
            // TF averages over the valid (unpadded) pixels only
            attrs.push(onnx::attr_int("count_include_pad", 0));
            "AveragePool"
        };
        let y = self.graph.op(op, &[&x_nchw], attrs, &format!("{name}/pool"));
        let y = self.transpose_to_nhwc(&y, &name);
        let out_shape = vec![
            xshape[0],
            window_output(xshape[1], kernel[0], strides[0], 1, pads.0[0] + pads.0[2]),
            window_output(xshape[2], kernel[1], strides[1], 1, pads.0[1] + pads.0[3]),
            xshape[3],
        ];
        self.set(node, 0, Val::tensor(y, Elem::Float, Some(out_shape)));
        Ok(())
    }

    fn mean(&mut self, node: &TfNode) -> Res<()> {
        let (x, xval) = self.input_name(node, 0)?;
        let shape = xval.shape.clone().ok_or_else(|| Self::unsupported(node, "unknown rank"))?;
        let rank = shape.len() as i64;
        let mut axes: Vec<i64> =
            self.const_ints(node, 1)?.into_iter().map(|a| if a < 0 { a + rank } else { a }).collect();
        axes.sort_unstable();
        axes.dedup();
        let keep = attr_b(&node.attr, "keep_dims");
        let out = self.graph.op(
            "ReduceMean",
            &[&x],
            vec![onnx::attr_ints("axes", &axes), onnx::attr_int("keepdims", keep as i64)],
            &node.name,
        );
        let out_shape: Vec<i64> = shape
            .iter()
            .enumerate()
            .filter_map(|(i, &d)| if axes.contains(&(i as i64)) { keep.then_some(1) } else { Some(d) })
            .collect();
        self.set(node, 0, Val::tensor(out, Elem::Float, Some(out_shape)));
        Ok(())
    }

    fn pad(&mut self, node: &TfNode) -> Res<()> {
        let (x, xval) = self.input_name(node, 0)?;
        let paddings = self.const_ints(node, 1)?;
        let rank = paddings.len() / 2;
        if let Some(shape) = &xval.shape
            && shape.len() != rank
        {
            return Err(ConvertError::BadModel(format!(
                "node {}: paddings for rank {rank}, input of rank {}",
                node.name,
                shape.len()
            )));
        }
        let mut pads = vec![0i64; rank * 2];
        for i in 0..rank {
            pads[i] = paddings[2 * i];
            pads[rank + i] = paddings[2 * i + 1];
        }
        let value = if node.op == "PadV2" {
            match self.const_input(node, 2)? {
                ConstTensor::F32 { data, .. } => data.first().copied().unwrap_or(0.0),
                ConstTensor::I64 { data, .. } => data.first().copied().unwrap_or(0) as f32,
            }
        } else {
            0.0
        };
        let pads_name = self.ints_init(&format!("{}/pads", node.name), &pads);
        let value_name = self.scalar_f32(&format!("{}/value", node.name), value);
        let out = self.graph.op(
            "Pad",
            &[&x, &pads_name, &value_name],
            vec![onnx::attr_string("mode", "constant")],
            &node.name,
        );
        let out_shape = xval.shape.map(|s| {
            s.iter().enumerate().map(|(i, &d)| if d < 0 { d } else { d + pads[i] + pads[rank + i] }).collect()
        });
        self.set(node, 0, Val::tensor(out, Elem::Float, out_shape));
        Ok(())
    }

    fn concat(&mut self, node: &TfNode) -> Res<()> {
        let n = Self::data_input_count(node)
            .checked_sub(1)
            .ok_or_else(|| ConvertError::BadModel(format!("node {} (ConcatV2) has no inputs", node.name)))?;
        let axis = self.const_ints(node, n)?.first().copied().unwrap_or(0);
        let vals: Vec<Val> = (0..n).map(|i| self.input(node, i)).collect::<Res<_>>()?;
        // shape arithmetic: 1-D int values with known elements
        if vals.iter().all(|v| v.partial.is_some() && v.rank() == Some(1)) {
            let partial: Vec<Part> = vals.iter().flat_map(|v| v.partial.clone().unwrap_or_default()).collect();
            let out = partial_val(partial);
            self.set(node, 0, out);
            return Ok(());
        }
        let rank = vals[0].rank().ok_or_else(|| Self::unsupported(node, "unknown rank"))? as i64;
        let axis = if axis < 0 { axis + rank } else { axis };
        if axis < 0 || axis >= rank {
            return Err(ConvertError::BadModel(format!(
                "node {}: axis {axis} out of range for rank {rank}",
                node.name
            )));
        }
        let mut names = Vec::new();
        for i in 0..n {
            names.push(self.input_name(node, i)?.0);
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let out = self.graph.op("Concat", &refs, vec![onnx::attr_int("axis", axis)], &node.name);
        let mut shape = vals[0].shape.clone();
        if let Some(s) = shape.as_mut() {
            let a = axis as usize;
            s[a] = vals
                .iter()
                .map(|v| v.shape.as_ref().and_then(|vs| vs.get(a).copied()).unwrap_or(-1))
                .try_fold(0i64, |acc, d| (d >= 0).then_some(acc + d))
                .unwrap_or(-1);
        }
        self.set(node, 0, Val::tensor(out, vals[0].elem, shape));
        Ok(())
    }

    fn reshape(&mut self, node: &TfNode) -> Res<()> {
        let (x, xval) = self.input_name(node, 0)?;
        let target = self.input(node, 1)?;
        let partial =
            target.partial.clone().ok_or_else(|| Self::unsupported(node, "shape not known at conversion time"))?;
        let unknown = partial.iter().filter(|v| v.known().is_none()).count();
        let literal_minus_one = partial.iter().filter(|v| v.known() == Some(-1)).count();
        let mut shape: Vec<i64> = partial.iter().map(|v| v.known().unwrap_or(-1)).collect();
        if shape.contains(&0) {
            return Err(Self::unsupported(node, "zero-sized dimension"));
        }
        let shape_name = if unknown + literal_minus_one <= 1 {
            // one unknown dimension: let Reshape infer it
            self.ints_init(&format!("{}/shape", node.name), &shape)
        } else {
            self.emit_parts(&partial, false, &format!("{}/shape", node.name))
        };
        let out = self.graph.op("Reshape", &[&x, &shape_name], vec![], &node.name);
        if let Some(xs) = &xval.shape
            && xs.iter().all(|&d| d >= 0)
        {
            // a product that overflows leaves the dimension unknown
            let total = xs.iter().try_fold(1i64, |acc, &d| acc.checked_mul(d));
            let known = shape.iter().filter(|&&d| d >= 0).try_fold(1i64, |acc, &d| acc.checked_mul(d));
            if let (Some(total), Some(known)) = (total, known) {
                for d in shape.iter_mut() {
                    if *d < 0 && known > 0 {
                        *d = total / known;
                    }
                }
            }
        }
        // keep constant folding alive for int constants
        if let Some(ConstTensor::I64 { data, .. }) = &xval.konst
            && shape.iter().all(|&d| d >= 0)
        {
            let val = Val::constant(ConstTensor::I64 { shape: shape.clone(), data: data.clone() });
            self.set(node, 0, val);
            return Ok(());
        }
        self.set(node, 0, Val::tensor(out, xval.elem, Some(shape)));
        Ok(())
    }

    fn resize_bilinear(&mut self, node: &TfNode) -> Res<()> {
        let name = node.name.clone();
        let (x, xval) = self.input_name(node, 0)?;
        let xshape =
            xval.shape.clone().filter(|s| s.len() == 4).ok_or_else(|| Self::unsupported(node, "input is not 4-D"))?;
        let size = self.const_ints(node, 1)?;
        if size.len() != 2 {
            return Err(ConvertError::BadModel(format!("{name}: size {size:?}")));
        }
        let align = attr_b(&node.attr, "align_corners");
        let half = attr_b(&node.attr, "half_pixel_centers");
        let mode = match (align, half) {
            (true, false) => "align_corners",
            (false, true) => "half_pixel",
            (false, false) => "asymmetric",
            (true, true) => {
                return Err(Self::unsupported(node, "align_corners with half_pixel_centers"));
            }
        };
        let x_nchw = self.transpose_to_nchw(&x, &name);
        let sizes = if xshape[0] >= 0 && xshape[3] >= 0 {
            self.ints_init(&format!("{name}/sizes"), &[xshape[0], xshape[3], size[0], size[1]])
        } else {
            let shape = self.graph.op("Shape", &[&x_nchw], vec![], &format!("{name}/shape"));
            let starts = self.ints_init(&format!("{name}/starts"), &[0]);
            let ends = self.ints_init(&format!("{name}/ends"), &[2]);
            let nc = self.graph.op("Slice", &[&shape, &starts, &ends], vec![], &format!("{name}/nc"));
            let hw = self.ints_init(&format!("{name}/hw"), &size);
            self.graph.op("Concat", &[&nc, &hw], vec![onnx::attr_int("axis", 0)], &format!("{name}/sizes"))
        };
        let y = self.graph.op(
            "Resize",
            &[&x_nchw, "", "", &sizes],
            vec![onnx::attr_string("mode", "linear"), onnx::attr_string("coordinate_transformation_mode", mode)],
            &format!("{name}/resize"),
        );
        let y = self.transpose_to_nhwc(&y, &name);
        let out_shape = vec![xshape[0], size[0], size[1], xshape[3]];
        self.set(node, 0, Val::tensor(y, Elem::Float, Some(out_shape)));
        Ok(())
    }

    fn depth_to_space(&mut self, node: &TfNode) -> Res<()> {
        Self::check_nhwc(node)?;
        let name = node.name.clone();
        let (x, xval) = self.input_name(node, 0)?;
        let block =
            attr_i(&node.attr, "block_size").ok_or_else(|| ConvertError::BadModel(format!("{name}: no block_size")))?;
        // TF's own limit, which also keeps the shape arithmetic below from overflowing
        if !(2..=i32::MAX as i64).contains(&block) {
            return Err(ConvertError::BadModel(format!("{name}: block_size {block}")));
        }
        if xval.rank().is_some_and(|rank| rank != 4) {
            return Err(Self::unsupported(node, "input is not 4-D"));
        }
        let x_nchw = self.transpose_to_nchw(&x, &name);
        let y = self.graph.op(
            "DepthToSpace",
            &[&x_nchw],
            vec![onnx::attr_int("blocksize", block), onnx::attr_string("mode", "DCR")],
            &format!("{name}/d2s"),
        );
        let y = self.transpose_to_nhwc(&y, &name);
        let shape = xval.shape.map(|s| {
            let scale = |d: i64| if d < 0 { d } else { d.checked_mul(block).unwrap_or(-1) };
            vec![s[0], scale(s[1]), scale(s[2]), if s[3] < 0 { -1 } else { s[3] / (block * block) }]
        });
        self.set(node, 0, Val::tensor(y, Elem::Float, shape));
        Ok(())
    }

    fn strided_slice(&mut self, node: &TfNode) -> Res<()> {
        let name = node.name.clone();
        let val = self.input(node, 0)?;
        let begin = self.const_ints(node, 1)?;
        let end = self.const_ints(node, 2)?;
        let strides = self.const_ints(node, 3)?;
        let mask = |k: &str| attr_i(&node.attr, k).unwrap_or(0);
        let (begin_mask, end_mask, shrink) = (mask("begin_mask"), mask("end_mask"), mask("shrink_axis_mask"));
        if mask("ellipsis_mask") != 0 || mask("new_axis_mask") != 0 {
            return Err(Self::unsupported(node, "ellipsis_mask/new_axis_mask"));
        }
        let shape = val.shape.clone().ok_or_else(|| Self::unsupported(node, "unknown rank"))?;
        if begin.len() != end.len() || begin.len() != strides.len() || strides.contains(&0) {
            return Err(ConvertError::BadModel(format!("{name}: begin {begin:?}, end {end:?}, strides {strides:?}")));
        }
        let spec = SliceSpec { begin, end, strides, begin_mask, end_mask, shrink };
        // shape arithmetic on a 1-D int value with known elements
        if let (Some(partial), 1) = (&val.partial, shape.len())
            && partial.len() as i64 == shape[0]
        {
            let picked = spec
                .apply_1d(partial)
                .ok_or_else(|| ConvertError::BadModel(format!("{name}: slice {:?} out of range", spec.begin)))?;
            let out = if shrink & 1 != 0 {
                let mut v = partial_val(picked);
                v.shape = Some(vec![]);
                if let Some(ConstTensor::I64 { shape, .. }) = v.konst.as_mut() {
                    shape.clear();
                }
                v
            } else {
                partial_val(picked)
            };
            self.set(node, 0, out);
            return Ok(());
        }
        let (x, _) = self.input_name(node, 0)?;
        let (starts, ends, axes, steps, out_shape, squeeze) = spec.onnx(&shape);
        let starts = self.ints_init(&format!("{name}/starts"), &starts);
        let ends = self.ints_init(&format!("{name}/ends"), &ends);
        let axes = self.ints_init(&format!("{name}/axes"), &axes);
        let steps = self.ints_init(&format!("{name}/steps"), &steps);
        let mut y = self.graph.op("Slice", &[&x, &starts, &ends, &axes, &steps], vec![], &format!("{name}/slice"));
        if !squeeze.is_empty() {
            let sq = self.ints_init(&format!("{name}/squeeze"), &squeeze);
            y = self.graph.op("Squeeze", &[&y, &sq], vec![], &name);
        }
        self.set(node, 0, Val::tensor(y, val.elem, Some(out_shape)));
        Ok(())
    }

    fn pack(&mut self, node: &TfNode) -> Res<()> {
        let n = Self::data_input_count(node);
        let axis = attr_i(&node.attr, "axis").unwrap_or(0);
        let vals: Vec<Val> = (0..n).map(|i| self.input(node, i)).collect::<Res<_>>()?;
        if axis == 0 && vals.iter().all(|v| v.partial.is_some() && v.rank() == Some(0)) {
            let partial = vals
                .iter()
                .map(|v| v.partial.as_ref().and_then(|p| p.first().cloned()).unwrap_or(Part::Known(0)))
                .collect();
            self.set(node, 0, partial_val(partial));
            return Ok(());
        }
        let first =
            vals.first().ok_or_else(|| ConvertError::BadModel(format!("node {}: Pack of nothing", node.name)))?;
        let rank = first.rank().ok_or_else(|| Self::unsupported(node, "unknown rank"))? as i64;
        let axis = if axis < 0 { axis + rank + 1 } else { axis };
        if axis < 0 || axis > rank {
            return Err(ConvertError::BadModel(format!(
                "node {}: axis {axis} out of range for rank {rank}",
                node.name
            )));
        }
        let axes = self.ints_init(&format!("{}/axes", node.name), &[axis]);
        let mut names = Vec::new();
        for i in 0..n {
            let (x, _) = self.input_name(node, i)?;
            names.push(self.graph.op("Unsqueeze", &[&x, &axes], vec![], &format!("{}/u", node.name)));
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let out = self.graph.op("Concat", &refs, vec![onnx::attr_int("axis", axis)], &node.name);
        let shape = vals[0].shape.clone().map(|mut s| {
            s.insert(axis as usize, n as i64);
            s
        });
        self.set(node, 0, Val::tensor(out, vals[0].elem, shape));
        Ok(())
    }

    fn cast(&mut self, node: &TfNode) -> Res<()> {
        let val = self.input(node, 0)?;
        let to = match attr_type(&node.attr, "DstT").as_deref() {
            Some("DT_FLOAT") => Elem::Float,
            Some("DT_INT32") | Some("DT_INT64") => Elem::Int,
            Some("DT_BOOL") => Elem::Bool,
            other => return Err(Self::unsupported(node, &format!("to {other:?}"))),
        };
        if to == val.elem {
            self.set(node, 0, val);
            return Ok(());
        }
        let (x, _) = self.input_name(node, 0)?;
        let out = self.graph.op("Cast", &[&x], vec![onnx::attr_int("to", to.onnx() as i64)], &node.name);
        self.set(node, 0, Val::tensor(out, to, val.shape));
        Ok(())
    }
}

/// A 4-D filter whose sizes are positive and at most `DIM_MAX`: a zero one holds no weights, yet could carry
/// any other size into the channel and window arithmetic (and a zero input-channel count divides by zero).
fn filter_shape_ok(shape: &[i64]) -> bool {
    shape.len() == 4 && shape.iter().all(|d| (1..=DIM_MAX).contains(d))
}

fn kernel_at(kh: i64, kw: i64, i: usize) -> i64 {
    if i == 0 { kh } else { kw }
}

/// TF filter `[kh, kw, in, out]` to ONNX `[out, in, kh, kw]`.
fn hwio_to_oihw(shape: &[i64], data: &[f32]) -> Vec<f32> {
    let (kh, kw, cin, cout) = (shape[0], shape[1], shape[2], shape[3]);
    let mut out = vec![0f32; data.len()];
    for h in 0..kh {
        for w in 0..kw {
            for i in 0..cin {
                for o in 0..cout {
                    let src = (((h * kw + w) * cin + i) * cout + o) as usize;
                    let dst = (((o * cin + i) * kh + h) * kw + w) as usize;
                    out[dst] = data[src];
                }
            }
        }
    }
    out
}

fn partial_val(partial: Vec<Part>) -> Val {
    let len = partial.len() as i64;
    if let Some(data) = partial.iter().map(Part::known).collect::<Option<Vec<i64>>>() {
        return Val::constant(ConstTensor::I64 { shape: vec![len], data });
    }
    Val { name: String::new(), elem: Elem::Int, shape: Some(vec![len]), konst: None, partial: Some(partial) }
}

fn dims(shape: &[i64]) -> Vec<Dim> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if d >= 0 {
                Dim::Fixed(d)
            } else if i == 0 {
                Dim::Symbolic("batch".into())
            } else {
                Dim::Symbolic(format!("dim{i}"))
            }
        })
        .collect()
}

/// A TF StridedSlice without ellipsis/new-axis masks.
struct SliceSpec {
    begin: Vec<i64>,
    end: Vec<i64>,
    strides: Vec<i64>,
    begin_mask: i64,
    end_mask: i64,
    shrink: i64,
}

impl SliceSpec {
    /// Resolved (start, end, step) for axis `i` of size `dim` (python slice semantics).
    fn resolve(&self, i: usize, dim: i64) -> (i64, i64, i64) {
        let step = self.strides.get(i).copied().unwrap_or(1);
        let clamp = |v: i64, lo: i64, hi: i64| v.max(lo).min(hi);
        let norm = |v: i64| if v < 0 { v + dim } else { v };
        if self.shrink & (1 << i) != 0 {
            let b = norm(self.begin[i]);
            return (b, b + 1, 1);
        }
        let (lo, hi) = if step > 0 { (0, dim) } else { (-1, dim - 1) };
        let start = if self.begin_mask & (1 << i) != 0 {
            if step > 0 { 0 } else { dim - 1 }
        } else {
            clamp(norm(self.begin[i]), lo, hi)
        };
        let end = if self.end_mask & (1 << i) != 0 {
            if step > 0 { dim } else { -1 }
        } else {
            clamp(norm(self.end[i]), lo, hi)
        };
        (start, end, step)
    }

    /// `None` when a shrunk index falls outside `values` (or the spec has no axis 0).
    fn apply_1d<T: Clone>(&self, values: &[T]) -> Option<Vec<T>> {
        if self.begin.is_empty() {
            return None;
        }
        let (start, end, step) = self.resolve(0, values.len() as i64);
        let mut out = Vec::new();
        let mut i = start;
        while (step > 0 && i < end) || (step < 0 && i > end) {
            out.push(values.get(usize::try_from(i).ok()?)?.clone());
            i += step;
        }
        Some(out)
    }

    /// ONNX Slice inputs (starts, ends, axes, steps), the output shape, and the axes to squeeze.
    #[allow(clippy::type_complexity)]
    fn onnx(&self, shape: &[i64]) -> (Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>, Vec<i64>) {
        let (mut starts, mut ends, mut axes, mut steps, mut out, mut squeeze) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for (i, &dim) in shape.iter().enumerate() {
            if i >= self.begin.len() {
                out.push(dim);
                continue;
            }
            let step = self.strides[i];
            let shrink = self.shrink & (1 << i) != 0;
            let (start, end) = if shrink {
                let b = self.begin[i];
                (b, if b == -1 { i64::MAX } else { b + 1 })
            } else {
                let start =
                    if self.begin_mask & (1 << i) != 0 { if step > 0 { 0 } else { i64::MAX } } else { self.begin[i] };
                let end = if self.end_mask & (1 << i) != 0 {
                    if step > 0 { i64::MAX } else { i64::MIN }
                } else {
                    self.end[i]
                };
                (start, end)
            };
            starts.push(start);
            ends.push(end);
            axes.push(i as i64);
            steps.push(if shrink { 1 } else { step });
            if shrink {
                squeeze.push(i as i64);
            } else if dim >= 0 {
                let (s, e, st) = self.resolve(i, dim);
                let n = if st > 0 { (e - s + st - 1) / st } else { (s - e - st - 1) / -st };
                out.push(n.max(0));
            } else {
                out.push(-1);
            }
        }
        (starts, ends, axes, steps, out, squeeze)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(json: &str) -> BTreeMap<String, Json> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn parses_attr_values() {
        let a = attrs(
            r#"{"strides": {"list": {"i": ["1", "2", "2", "1"]}},
                "padding": {"s": "U0FNRQ=="},
                "T": {"type": "DT_FLOAT"},
                "epsilon": {"f": 0.5},
                "N": {"i": "3"},
                "keep_dims": {"b": true},
                "explicit_paddings": {"list": {}},
                "fused_ops": {"list": {"s": ["Qmlhc0FkZA==", "UmVsdQ=="]}}}"#,
        );
        assert_eq!(attr_ints(&a, "strides"), vec![1, 2, 2, 1]);
        assert_eq!(attr_s(&a, "padding").as_deref(), Some("SAME"));
        assert_eq!(attr_type(&a, "T").as_deref(), Some("DT_FLOAT"));
        assert_eq!(attr_f(&a, "epsilon"), Some(0.5));
        assert_eq!(attr_i(&a, "N"), Some(3));
        assert!(attr_b(&a, "keep_dims"));
        assert!(!attr_b(&a, "missing"));
        assert!(attr_ints(&a, "explicit_paddings").is_empty());
        assert_eq!(attr_strings(&a, "fused_ops"), vec!["BiasAdd", "Relu"]);
    }

    #[test]
    fn parses_placeholder_shape() {
        let a = attrs(r#"{"shape": {"shape": {"dim": [{"size": "-1"}, {"size": "64"}]}}}"#);
        assert_eq!(attr_shape(&a, "shape"), Some(vec![-1, 64]));
    }

    #[test]
    fn same_padding_puts_the_odd_pixel_at_the_end() {
        // 256 input, 3x3 stride 2: out 128, total pad 1 -> (0, 1)
        let p = tf_padding("SAME", [256, 256], [3, 3], [2, 2], [1, 1], &[]).unwrap();
        assert_eq!(p, Pads2d([0, 0, 1, 1]));
        // 5x5 stride 1: total 4 -> (2, 2)
        let p = tf_padding("SAME", [16, 16], [5, 5], [1, 1], [1, 1], &[]).unwrap();
        assert_eq!(p, Pads2d([2, 2, 2, 2]));
        // stride 2 on an even input with a 2x2 kernel needs no padding
        let p = tf_padding("SAME", [64, 64], [2, 2], [2, 2], [1, 1], &[]).unwrap();
        assert_eq!(p, Pads2d([0; 4]));
        // dilation 2 makes a 3x3 kernel effectively 5x5
        let p = tf_padding("SAME", [10, 10], [3, 3], [1, 1], [2, 2], &[]).unwrap();
        assert_eq!(p, Pads2d([2, 2, 2, 2]));
        assert_eq!(window_output(256, 3, 2, 1, 1), 128);
    }

    #[test]
    fn valid_and_explicit_padding() {
        assert_eq!(tf_padding("VALID", [7, 7], [3, 3], [1, 1], [1, 1], &[]).unwrap(), Pads2d([0; 4]));
        let p = tf_padding("EXPLICIT", [7, 7], [3, 3], [1, 1], [1, 1], &[0, 0, 1, 2, 3, 4, 0, 0]);
        assert_eq!(p.unwrap(), Pads2d([1, 3, 2, 4]));
        assert!(tf_padding("EXPLICIT", [7, 7], [3, 3], [1, 1], [1, 1], &[1]).is_err());
        assert!(tf_padding("SAME", [-1, 7], [3, 3], [1, 1], [1, 1], &[]).is_err());
    }

    #[test]
    fn dequantizes_affine_uint8_and_uint16() {
        assert_eq!(dequantize(0, 0.5, -1.0), -1.0);
        assert_eq!(dequantize(255, 0.5, -1.0), 126.5);
        let entry = WeightEntry {
            name: "w".into(),
            shape: vec![3],
            dtype: "float32".into(),
            quantization: Some(Quantization { dtype: "uint8".into(), scale: Some(0.25), min: Some(-1.0) }),
        };
        let (t, used) = decode_weight(&entry, &[0, 4, 8, 99]).unwrap();
        assert_eq!(used, 3);
        assert_eq!(t, ConstTensor::F32 { shape: vec![3], data: vec![-1.0, 0.0, 1.0] });
        let entry = WeightEntry {
            quantization: Some(Quantization { dtype: "uint16".into(), scale: Some(0.001), min: Some(0.0) }),
            shape: vec![1],
            ..entry
        };
        let (t, used) = decode_weight(&entry, &1000u16.to_le_bytes()).unwrap();
        assert_eq!(used, 2);
        assert_eq!(t, ConstTensor::F32 { shape: vec![1], data: vec![1.0] });
    }

    #[test]
    fn decodes_float16_and_int32() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x0001), 5.960_464_5e-8); // smallest subnormal
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
        let entry = WeightEntry {
            name: "w".into(),
            shape: vec![2],
            dtype: "float32".into(),
            quantization: Some(Quantization { dtype: "float16".into(), scale: None, min: None }),
        };
        let (t, _) = decode_weight(&entry, &[0x00, 0x3c, 0x00, 0xc0]).unwrap();
        assert_eq!(t, ConstTensor::F32 { shape: vec![2], data: vec![1.0, -2.0] });
        let entry = WeightEntry { name: "i".into(), shape: vec![2], dtype: "int32".into(), quantization: None };
        let bytes: Vec<u8> = [-1i32, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
        let (t, used) = decode_weight(&entry, &bytes).unwrap();
        assert_eq!(used, 8);
        assert_eq!(t, ConstTensor::I64 { shape: vec![2], data: vec![-1, 7] });
    }

    #[test]
    fn weights_past_the_shard_end_are_an_error() {
        let entry = WeightEntry { name: "w".into(), shape: vec![4], dtype: "float32".into(), quantization: None };
        assert!(decode_weight(&entry, &[0; 8]).is_err());
    }

    #[test]
    fn strided_slice_on_shapes() {
        let spec = SliceSpec { begin: vec![0], end: vec![1], strides: vec![1], begin_mask: 0, end_mask: 0, shrink: 1 };
        assert_eq!(spec.apply_1d(&[None, Some(16), Some(16), Some(96)]), Some(vec![None]));
        let spec = SliceSpec { begin: vec![1], end: vec![0], strides: vec![1], begin_mask: 0, end_mask: 1, shrink: 0 };
        assert_eq!(spec.apply_1d(&[None, Some(2), Some(3)]), Some(vec![Some(2), Some(3)]));
        let spec = SliceSpec {
            begin: vec![0, 1],
            end: vec![0, 2],
            strides: vec![1, 1],
            begin_mask: 1,
            end_mask: 1,
            shrink: 2,
        };
        let (starts, ends, axes, steps, out, squeeze) = spec.onnx(&[-1, 3, 5]);
        assert_eq!(starts, vec![0, 1]);
        assert_eq!(ends, vec![i64::MAX, 2]);
        assert_eq!(axes, vec![0, 1]);
        assert_eq!(steps, vec![1, 1]);
        assert_eq!(out, vec![-1, 5]);
        assert_eq!(squeeze, vec![1]);
    }

    #[test]
    fn broadcasting_shapes() {
        assert_eq!(broadcast(&[-1, 4, 4, 8], &[8]), vec![-1, 4, 4, 8]);
        assert_eq!(broadcast(&[1, 1], &[3, 1, 5]), vec![3, 1, 5]);
    }

    #[test]
    fn splits_tensor_references() {
        assert_eq!(split_ref("a/b:1"), ("a/b", 1));
        assert_eq!(split_ref("a/b"), ("a/b", 0));
        assert_eq!(value_key("n", 0), "n");
        assert_eq!(value_key("n", 2), "n:2");
    }
}
