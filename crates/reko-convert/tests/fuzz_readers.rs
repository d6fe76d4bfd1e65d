//! Fuzzes the converters' readers of untrusted model files: the TFLite flatbuffer reader and converter
//! (`convert_tflite_bytes`), the TF.js graph-model reader and converter (`convert_tfjs_graph_with`, on a
//! `model.json` and a weight shard in a temporary folder) and the legacy PyTorch pickle reader
//! (`read_legacy_state_dict`, and `convert_efficientnet_lite0` over it), and the ONNX re-declaration and
//! folding (`convert_onnx_bytes`). Inputs: arbitrary bytes, and structured models built here (flatbuffers,
//! graph JSON, pickles, ONNX graphs) with random shapes, ops and options, also with their bytes mutated. Property: an `Err` on anything malformed, never a panic. A longer campaign:
//! `REKO_FUZZ_CASES=100000 cargo test --profile fuzz -p reko-convert --test fuzz_readers` (or `scripts/fuzz`);
//! the default is 256 cases per property.

use std::path::Path;

use base64::Engine as _;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::FileFailurePersistence;
use reko_convert::onnx::{
    AttributeProto, DataType, Dim, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, attr_float, attr_ints,
    tensor_f32,
};
use reko_convert::{
    ConvertOptions, OnnxOptions, TfliteOptions, convert_efficientnet_lite0, convert_onnx_bytes,
    convert_tfjs_graph_with, convert_tflite_bytes,
};
use serde_json::{Value as Json, json};

/// Cases per property: `REKO_FUZZ_CASES`, 256 when unset.
fn cases() -> u32 {
    std::env::var("REKO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// `cases()` per property; failures are recorded (and replayed first) in the crate's
/// `proptest-regressions/fuzz_readers.txt` (the default location needs a `lib.rs` beside the test).
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/fuzz_readers.txt"))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// byte mutations shared by all formats

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    /// Overwrites four bytes with an interesting 32-bit value (little-endian).
    SetWord(Index, u32),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Truncate(Index),
    /// Copies a range to another place.
    Repeat(Index, usize, Index),
    /// Inserts a run of one byte (deep nesting, long strings).
    Run(Index, u8, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let word = prop_oneof![
        any::<u32>(),
        select(vec![0u32, 1, 2, 4, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFC]),
    ];
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        3 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        2 => (any::<Index>(), word).prop_map(|(i, w)| Mutation::SetWord(i, w)),
        1 => (any::<Index>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Delete(i, n)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), 1usize..64, any::<Index>()).prop_map(|(a, n, b)| Mutation::Repeat(a, n, b)),
        1 => (any::<Index>(), any::<u8>(), 1usize..2000).prop_map(|(i, b, n)| Mutation::Run(i, b, n)),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let n = bytes.len();
    match mutation {
        Mutation::FlipBit(i, bit) => bytes[i.index(n)] ^= 1 << bit,
        Mutation::SetByte(i, b) => bytes[i.index(n)] = *b,
        Mutation::SetWord(i, w) => {
            let at = i.index(n);
            for (k, b) in w.to_le_bytes().into_iter().enumerate() {
                if let Some(slot) = bytes.get_mut(at + k) {
                    *slot = b;
                }
            }
        }
        Mutation::Insert(i, b) => {
            let at = i.index(n + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        Mutation::Delete(i, k) => {
            let at = i.index(n);
            bytes.drain(at..(at + k).min(n));
        }
        Mutation::Truncate(i) => bytes.truncate(i.index(n)),
        Mutation::Repeat(a, k, b) => {
            let a = a.index(n);
            let piece = bytes[a..(a + k).min(n)].to_vec();
            let at = b.index(n + 1);
            bytes.splice(at..at, piece);
        }
        Mutation::Run(i, b, k) => {
            let at = i.index(n + 1);
            bytes.splice(at..at, std::iter::repeat_n(*b, *k));
        }
    }
}

fn mutated(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        mutate(&mut bytes, m);
    }
    bytes
}

/// Small dimensions, with the odd dynamic, zero, huge or negative one.
fn dim() -> impl Strategy<Value = i64> {
    prop_oneof![
        12 => 1i64..5,
        2 => Just(-1i64),
        2 => Just(0i64),
        1 => select(vec![7i64, 16, 224, 65_536, i32::MAX as i64, 1 << 31, 1 << 40, i64::MAX, -2, i64::MIN]),
    ]
}

/// Small integers for int32 constants (shapes, axes, slice bounds), with extremes.
fn small_int() -> impl Strategy<Value = i32> {
    prop_oneof![8 => -4i32..8, 1 => select(vec![i32::MIN, i32::MAX, -1000, 1000, 1 << 20, -(1 << 20)]), 1 => any::<i32>()]
}

// ---------------------------------------------------------------------------------------------
// TFLite: a flatbuffer writer for the parts of the schema the reader knows

/// A flatbuffer value: scalars inline, the rest behind offsets.
#[derive(Debug, Clone)]
enum Fb {
    U8(u8),
    I32(i32),
    F32(f32),
    U64(u64),
    Table(Vec<(usize, Fb)>),
    Str(String),
    Bytes(Vec<u8>),
    I32s(Vec<i32>),
    Tables(Vec<Vec<(usize, Fb)>>),
}

impl Fb {
    fn inline_size(&self) -> usize {
        match self {
            Fb::U8(_) => 1,
            Fb::U64(_) => 8,
            _ => 4,
        }
    }
}

fn pad4(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(4) {
        buf.push(0);
    }
}

/// Writes a table (vtable first, children after it, so every offset points forward); returns its position.
fn write_table(buf: &mut Vec<u8>, fields: &[(usize, Fb)]) -> usize {
    // a field id given twice: the last one counts
    let fields: Vec<&(usize, Fb)> = fields
        .iter()
        .enumerate()
        .filter(|(i, (id, _))| !fields[i + 1..].iter().any(|(later, _)| later == id))
        .map(|(_, f)| f)
        .collect();
    pad4(buf);
    let slots = fields.iter().map(|(id, _)| id + 1).max().unwrap_or(0);
    let mut offsets = vec![0u16; slots];
    let mut table_len = 4;
    for (id, value) in &fields {
        offsets[*id] = table_len as u16;
        table_len += value.inline_size();
    }
    let vtable = buf.len();
    buf.extend_from_slice(&((4 + 2 * slots) as u16).to_le_bytes());
    buf.extend_from_slice(&(table_len as u16).to_le_bytes());
    for off in &offsets {
        buf.extend_from_slice(&off.to_le_bytes());
    }
    pad4(buf);
    let table = buf.len();
    buf.extend_from_slice(&((table - vtable) as i32).to_le_bytes());
    let mut children = Vec::new();
    for (_, value) in &fields {
        match value {
            Fb::U8(v) => buf.push(*v),
            Fb::I32(v) => buf.extend_from_slice(&v.to_le_bytes()),
            Fb::F32(v) => buf.extend_from_slice(&v.to_le_bytes()),
            Fb::U64(v) => buf.extend_from_slice(&v.to_le_bytes()),
            child => {
                children.push((buf.len(), child));
                buf.extend_from_slice(&[0; 4]);
            }
        }
    }
    for (slot, child) in children {
        let at = write_child(buf, child);
        buf[slot..slot + 4].copy_from_slice(&((at - slot) as u32).to_le_bytes());
    }
    table
}

fn write_child(buf: &mut Vec<u8>, value: &Fb) -> usize {
    match value {
        Fb::Table(fields) => write_table(buf, fields),
        Fb::Str(s) => {
            pad4(buf);
            let at = buf.len();
            buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
            buf.extend_from_slice(s.as_bytes());
            buf.push(0);
            at
        }
        Fb::Bytes(b) => {
            pad4(buf);
            let at = buf.len();
            buf.extend_from_slice(&(b.len() as u32).to_le_bytes());
            buf.extend_from_slice(b);
            at
        }
        Fb::I32s(v) => {
            pad4(buf);
            let at = buf.len();
            buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
            for x in v {
                buf.extend_from_slice(&x.to_le_bytes());
            }
            at
        }
        Fb::Tables(tables) => {
            pad4(buf);
            let at = buf.len();
            buf.extend_from_slice(&(tables.len() as u32).to_le_bytes());
            let slots: Vec<usize> = (0..tables.len()).map(|i| at + 4 + 4 * i).collect();
            buf.extend_from_slice(&vec![0; 4 * tables.len()]);
            for (slot, fields) in slots.into_iter().zip(tables) {
                let t = write_table(buf, fields);
                buf[slot..slot + 4].copy_from_slice(&((t - slot) as u32).to_le_bytes());
            }
            at
        }
        scalar => panic!("{scalar:?} is not an offset value"),
    }
}

/// A whole file: root offset, "TFL3", the model table.
fn flatbuffer(model: &[(usize, Fb)]) -> Vec<u8> {
    let mut buf = vec![0, 0, 0, 0];
    buf.extend_from_slice(b"TFL3");
    let root = write_table(&mut buf, model);
    buf[0..4].copy_from_slice(&(root as u32).to_le_bytes());
    buf
}

/// The builtin codes the converter knows, with the builtin-options union type each expects.
const TFLITE_OPS: &[(i32, u8)] = &[
    (0, 11),
    (41, 28),
    (18, 21),
    (42, 29),
    (3, 1),
    (4, 2),
    (17, 5),
    (1, 5),
    (9, 8),
    (22, 17),
    (82, 27),
    (89, 27),
    (74, 27),
    (40, 27),
    (19, 0),
    (20, 0),
    (21, 0),
    (28, 0),
    (14, 0),
    (101, 0),
    (59, 0),
    (47, 0),
    (98, 75),
    (25, 9),
    (2, 10),
    (6, 0),
    (45, 32),
    (62, 0),
    (61, 0),
    (58, 0),
    (53, 0),
    (32, 0),
    (39, 0),
];

/// TensorType: FLOAT32, FLOAT16, INT32, INT64, BOOL mostly.
fn tensor_type() -> impl Strategy<Value = u8> {
    prop_oneof![8 => Just(0u8), 2 => Just(2u8), 1 => Just(1u8), 1 => Just(4u8), 1 => Just(6u8), 1 => any::<u8>()]
}

fn element_size(dtype: u8) -> usize {
    match dtype {
        1 => 2,
        4 => 8,
        6 => 1,
        _ => 4,
    }
}

#[derive(Debug, Clone)]
struct TfliteTensor {
    shape: Vec<i32>,
    signature: Option<Vec<i32>>,
    dtype: u8,
    /// Constant data (a buffer of its own) or none.
    data: Option<Vec<u8>>,
    name: String,
    quantized: bool,
    variable: bool,
}

#[derive(Debug, Clone)]
struct TfliteOp {
    code: usize,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    /// (union type, fields) of the builtin options.
    options: Option<(u8, Vec<(usize, Fb)>)>,
    options_2: bool,
}

#[derive(Debug, Clone)]
struct TfliteModel {
    codes: Vec<(i32, Option<String>)>,
    tensors: Vec<TfliteTensor>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    ops: Vec<TfliteOp>,
    external_buffer: bool,
}

impl TfliteModel {
    fn bytes(&self) -> Vec<u8> {
        let mut buffers: Vec<Vec<(usize, Fb)>> = vec![vec![]];
        let tensors: Vec<Vec<(usize, Fb)>> = self
            .tensors
            .iter()
            .map(|t| {
                let buffer = match &t.data {
                    Some(data) => {
                        buffers.push(vec![(0, Fb::Bytes(data.clone()))]);
                        buffers.len() - 1
                    }
                    None => 0,
                };
                let mut fields = vec![
                    (0, Fb::I32s(t.shape.clone())),
                    (1, Fb::U8(t.dtype)),
                    (2, Fb::I32(buffer as i32)),
                    (3, Fb::Str(t.name.clone())),
                ];
                if let Some(signature) = &t.signature {
                    fields.push((7, Fb::I32s(signature.clone())));
                }
                if t.quantized {
                    fields.push((4, Fb::Table(vec![(2, Fb::I32s(vec![1]))])));
                }
                if t.variable {
                    fields.push((5, Fb::U8(1)));
                }
                fields
            })
            .collect();
        if self.external_buffer {
            buffers.push(vec![(1, Fb::U64(64)), (2, Fb::U64(16))]);
        }
        let ops: Vec<Vec<(usize, Fb)>> = self
            .ops
            .iter()
            .map(|op| {
                let mut fields = vec![
                    (0, Fb::I32(op.code as i32)),
                    (1, Fb::I32s(op.inputs.clone())),
                    (2, Fb::I32s(op.outputs.clone())),
                ];
                if let Some((kind, table)) = &op.options {
                    fields.push((3, Fb::U8(*kind)));
                    fields.push((4, Fb::Table(table.clone())));
                }
                if op.options_2 {
                    fields.push((11, Fb::U8(1)));
                }
                fields
            })
            .collect();
        let codes: Vec<Vec<(usize, Fb)>> = self
            .codes
            .iter()
            .map(|(code, custom)| {
                let mut fields = vec![(0, Fb::U8((*code).clamp(0, 127) as u8)), (3, Fb::I32(*code))];
                if let Some(c) = custom {
                    fields.push((1, Fb::Str(c.clone())));
                }
                fields
            })
            .collect();
        let subgraph = vec![
            (0, Fb::Tables(tensors)),
            (1, Fb::I32s(self.inputs.clone())),
            (2, Fb::I32s(self.outputs.clone())),
            (3, Fb::Tables(ops)),
        ];
        flatbuffer(&[
            (0, Fb::I32(3)),
            (1, Fb::Tables(codes)),
            (2, Fb::Tables(vec![subgraph])),
            (4, Fb::Tables(buffers)),
        ])
    }
}

/// A scalar options field: activations, paddings, strides, filter sizes, masks, axes, alphas.
fn option_field() -> impl Strategy<Value = (usize, Fb)> {
    (
        0usize..8,
        prop_oneof![
            4 => small_int().prop_map(Fb::I32),
            3 => prop_oneof![4 => 0u8..6, 1 => any::<u8>()].prop_map(Fb::U8),
            1 => prop_oneof![Just(1.0f32), Just(0.2), Just(0.0), any::<f32>()].prop_map(Fb::F32),
            1 => prop::collection::vec(small_int(), 0..5).prop_map(Fb::I32s),
        ],
    )
}

/// Tensors of one rank (mostly; models of rank 30 and more now and then) or vectors of that length, constants
/// sized to their shape.
fn tflite_tensor(rank: usize) -> impl Strategy<Value = TfliteTensor> {
    let shape = prop_oneof![
        6 => prop::collection::vec(dim(), rank..=rank),
        1 => prop::collection::vec(dim(), 0..6),
        // one entry per dimension: shapes, axes, slice bounds
        2 => Just(vec![rank as i64]),
    ]
    .prop_map(|dims| dims.into_iter().map(|d| d.clamp(i32::MIN as i64, i32::MAX as i64) as i32).collect::<Vec<_>>());
    (
        shape,
        tensor_type(),
        prop::option::weighted(0.4, prop::collection::vec(any::<u8>(), 0..16)),
        prop::option::weighted(0.15, prop::collection::vec(prop_oneof![Just(-1i32), 1i32..5], rank..=rank)),
        "[a-z]{0,3}",
        prop::bool::weighted(0.005),
        prop::bool::weighted(0.005),
        prop::collection::vec(small_int(), 0..64),
    )
        .prop_map(|(shape, dtype, data, signature, name, quantized, variable, ints)| {
            // constant data: sized to the shape when it is small enough, else the random bytes
            let count =
                shape.iter().try_fold(1usize, |acc, &d| usize::try_from(d).ok().and_then(|d| acc.checked_mul(d)));
            let data = data.map(|random| match count {
                Some(n) if n <= 4096 => {
                    let size = element_size(dtype);
                    if dtype == 2 {
                        (0..n).flat_map(|i| ints.get(i).copied().unwrap_or(1).to_le_bytes()).collect()
                    } else {
                        (0..n * size).map(|i| random.get(i % random.len().max(1)).copied().unwrap_or(0)).collect()
                    }
                }
                _ => random,
            });
            TfliteTensor { shape, signature, dtype, data, name, quantized, variable }
        })
}

fn tflite_model() -> impl Strategy<Value = TfliteModel> {
    prop_oneof![10 => 0usize..6, 1 => 30usize..40]
        .prop_flat_map(|rank| {
            let tensor_count = 1usize..10;
            (Just(rank), tensor_count)
        })
        .prop_flat_map(|(rank, n)| {
            let index =
                move || prop_oneof![12 => 0..n as i32, 1 => Just(-1i32), 1 => select(vec![n as i32, 1000, i32::MIN])];
            let op = (
                any::<Index>(),
                prop::collection::vec(index(), 0..5),
                prop::collection::vec(index(), 0..2),
                prop::option::weighted(
                    0.8,
                    (prop::bool::weighted(0.9), any::<u8>(), prop::collection::vec(option_field(), 0..6)),
                ),
                prop::bool::weighted(0.02),
            )
                .prop_map(|(code, inputs, outputs, options, options_2)| TfliteOp {
                    code: code.index(TFLITE_OPS.len()),
                    inputs,
                    outputs,
                    options: options.map(|(expected, other, fields)| (if expected { u8::MAX } else { other }, fields)),
                    options_2,
                });
            (
                prop::collection::vec(tflite_tensor(rank), n..=n),
                prop::collection::vec(index(), 0..3),
                prop::collection::vec(index(), 0..3),
                prop::collection::vec(op, 0..6),
                prop::bool::weighted(0.02),
                prop::option::weighted(0.05, "[a-zA-Z]{0,6}"),
            )
        })
        .prop_map(|(tensors, inputs, outputs, ops, external_buffer, custom)| {
            // one operator code per op, in op order; the options union type is the op's own unless drawn
            let codes = ops
                .iter()
                .map(|op| (TFLITE_OPS[op.code].0, if TFLITE_OPS[op.code].0 == 32 { custom.clone() } else { None }))
                .collect();
            let ops = ops
                .into_iter()
                .enumerate()
                .map(|(i, mut op)| {
                    if let Some((kind, _)) = &mut op.options
                        && *kind == u8::MAX
                    {
                        *kind = TFLITE_OPS[op.code].1;
                    }
                    op.code = i;
                    op
                })
                .collect();
            TfliteModel { codes, tensors, inputs, outputs, ops, external_buffer }
        })
}

/// One op of a chain: which op, its random numbers, and how its output is declared.
#[derive(Debug, Clone)]
struct ChainOp {
    code: Index,
    /// Sizes for the op's constant operands (filters, weights, other operands).
    dims: [i64; 4],
    /// Values for int32 constants (shapes, axes, slice bounds, strides).
    ints: Vec<i32>,
    /// Float data for float constants (cycled).
    floats: Vec<f32>,
    options: Option<Vec<(usize, Fb)>>,
    bias: bool,
    /// The output declared with dynamic (-1) dims of the input's rank, or with random dims.
    declared: Option<Vec<i64>>,
}

/// Models built as a chain: a float input of rank R, then ops each reading the previous output and constant
/// operands made for its role (filters, weights, shapes, axes, slice bounds of length R), so that conversion
/// gets past the index and type checks into the shape and window arithmetic.
fn tflite_chain() -> impl Strategy<Value = TfliteModel> {
    let op = (
        any::<Index>(),
        [
            prop_oneof![4 => 1i64..5, 1 => dim()],
            prop_oneof![4 => 1i64..5, 1 => dim()],
            prop_oneof![4 => 1i64..5, 1 => dim()],
            prop_oneof![4 => 1i64..5, 1 => dim()],
        ],
        prop::collection::vec(small_int(), 1..8),
        prop::collection::vec(prop_oneof![4 => -2.0f32..2.0, 1 => any::<f32>()], 1..4),
        prop::option::weighted(0.9, prop::collection::vec(option_field(), 0..7)),
        any::<bool>(),
        prop::option::weighted(0.2, prop::collection::vec(dim(), 0..6)),
    )
        .prop_map(|(code, dims, ints, floats, options, bias, declared)| ChainOp {
            code,
            dims,
            ints,
            floats,
            options,
            bias,
            declared,
        });
    (
        prop_oneof![10 => 0usize..6, 1 => 30usize..40],
        prop::collection::vec(prop_oneof![6 => 1i64..6, 1 => Just(-1i64), 1 => dim()], 40..=40),
        prop::collection::vec(op, 1..6),
    )
        .prop_map(|(rank, input_dims, ops)| {
            let clamp = |d: i64| d.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
            let float = |name: String, shape: Vec<i64>, floats: &[f32]| {
                let n = shape.iter().try_fold(1usize, |a, &d| usize::try_from(d).ok().and_then(|d| a.checked_mul(d)));
                let data = match n {
                    Some(n) if n <= 4096 => (0..n).flat_map(|i| floats[i % floats.len()].to_le_bytes()).collect(),
                    _ => vec![0; 4],
                };
                TfliteTensor {
                    shape: shape.into_iter().map(clamp).collect(),
                    signature: None,
                    dtype: 0,
                    data: Some(data),
                    name,
                    quantized: false,
                    variable: false,
                }
            };
            let ints = |name: String, len: usize, ints: &[i32]| TfliteTensor {
                shape: vec![len as i32],
                signature: None,
                dtype: 2,
                data: Some((0..len).flat_map(|i| ints[i % ints.len()].to_le_bytes()).collect()),
                name,
                quantized: false,
                variable: false,
            };
            let mut tensors = vec![TfliteTensor {
                shape: input_dims[..rank].iter().copied().map(clamp).collect(),
                signature: None,
                dtype: 0,
                data: None,
                name: "input".into(),
                quantized: false,
                variable: false,
            }];
            let mut codes = Vec::new();
            let mut tflite_ops = Vec::new();
            let mut current = 0i32;
            let mut current_rank = rank;
            for (k, op) in ops.iter().enumerate() {
                let (code, options_type) = TFLITE_OPS[op.code.index(TFLITE_OPS.len())];
                let [a, b, c, d] = op.dims;
                let mut inputs = vec![current];
                let mut add = |t: TfliteTensor, inputs: &mut Vec<i32>| {
                    tensors.push(t);
                    inputs.push(tensors.len() as i32 - 1);
                };
                let mut out_dtype = 0;
                match code {
                    0 | 41 | 18 | 42 | 62 | 61 | 58 => {
                        add(float(format!("k{k}"), op.dims[..current_rank.min(4)].to_vec(), &op.floats), &mut inputs);
                        if matches!(code, 62 | 61 | 58) {
                            out_dtype = 6;
                        }
                    }
                    3 | 4 => {
                        let filter = if code == 4 { vec![1, b, c, d] } else { vec![a, b, c, d] };
                        add(float(format!("w{k}"), filter, &op.floats), &mut inputs);
                        if op.bias {
                            add(float(format!("b{k}"), vec![if code == 4 { d } else { a }], &op.floats), &mut inputs);
                        }
                    }
                    9 => {
                        add(float(format!("w{k}"), vec![a, b], &op.floats), &mut inputs);
                        if op.bias {
                            add(float(format!("b{k}"), vec![a], &op.floats), &mut inputs);
                        } else {
                            inputs.push(-1);
                        }
                    }
                    22 => add(ints(format!("s{k}"), op.ints.len(), &op.ints), &mut inputs),
                    82 | 89 | 74 | 40 => add(ints(format!("a{k}"), op.ints.len().min(3), &op.ints), &mut inputs),
                    45 => {
                        for role in ["begin", "end", "strides"] {
                            add(ints(format!("{role}{k}"), current_rank, &op.ints), &mut inputs);
                        }
                    }
                    2 => inputs.push(current),
                    6 => {
                        // a float16 constant to dequantize
                        let n = (a.clamp(0, 64)) as usize;
                        tensors.push(TfliteTensor {
                            shape: vec![n as i32],
                            signature: None,
                            dtype: 1,
                            data: Some(
                                (0..n).flat_map(|i| (op.ints[i % op.ints.len()] as u16).to_le_bytes()).collect(),
                            ),
                            name: format!("h{k}"),
                            quantized: false,
                            variable: false,
                        });
                        inputs = vec![tensors.len() as i32 - 1];
                    }
                    _ => {}
                }
                let out_rank = match code {
                    82 | 89 | 74 | 40 | 22 | 9 | 45 => op.ints.len().min(current_rank.max(1)),
                    6 => 1,
                    _ => current_rank,
                };
                let shape: Vec<i32> = match &op.declared {
                    Some(dims) => dims.iter().copied().map(clamp).collect(),
                    None => vec![-1; out_rank],
                };
                current_rank = shape.len();
                tensors.push(TfliteTensor {
                    shape,
                    signature: None,
                    dtype: out_dtype,
                    data: None,
                    name: format!("t{k}"),
                    quantized: false,
                    variable: false,
                });
                current = tensors.len() as i32 - 1;
                codes.push((code, None));
                let options = op.options.clone().map(|fields| (options_type, fields));
                tflite_ops.push(TfliteOp { code: k, inputs, outputs: vec![current], options, options_2: false });
            }
            TfliteModel {
                codes,
                tensors,
                inputs: vec![0],
                outputs: vec![current],
                ops: tflite_ops,
                external_buffer: false,
            }
        })
}

fn tflite_options() -> impl Strategy<Value = TfliteOptions> {
    (any::<bool>(), any::<bool>())
        .prop_map(|(dynamic_batch, dynamic_spatial)| TfliteOptions { dynamic_batch, dynamic_spatial })
}

fn convert_tflite(bytes: &[u8], options: &TfliteOptions) {
    // Ok or Err: both fine; a panic fails the property
    let _ = convert_tflite_bytes(bytes, options);
}

// ---------------------------------------------------------------------------------------------
// TF.js: model.json graphs with a weight shard

const TFJS_OPS: &[&str] = &[
    "Identity",
    "Conv2D",
    "_FusedConv2D",
    "DepthwiseConv2dNative",
    "FusedDepthwiseConv2dNative",
    "Conv2DBackpropInput",
    "MatMul",
    "_FusedMatMul",
    "Relu",
    "Relu6",
    "Sigmoid",
    "LeakyRelu",
    "Rsqrt",
    "Square",
    "Prelu",
    "Add",
    "AddV2",
    "Sub",
    "Mul",
    "RealDiv",
    "Maximum",
    "SquaredDifference",
    "AddN",
    "Softmax",
    "MaxPool",
    "AvgPool",
    "Mean",
    "Pad",
    "PadV2",
    "ConcatV2",
    "Reshape",
    "ResizeBilinear",
    "DepthToSpace",
    "Shape",
    "StridedSlice",
    "Pack",
    "Cast",
    "ExpandDims",
    "Squeeze",
    "Const",
    "Placeholder",
    "NoSuchOp",
];

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn int_json() -> impl Strategy<Value = Json> {
    prop_oneof![
        8 => small_int().prop_map(|i| json!(i.to_string())),
        1 => dim().prop_map(|i| json!(i)),
        1 => any::<i64>().prop_map(|i| json!(i.to_string())),
        1 => "[ -~]{0,4}".prop_map(|s| json!(s)),
    ]
}

fn ints_json() -> impl Strategy<Value = Json> {
    prop_oneof![
        4 => prop::collection::vec(int_json(), 4..=4),
        3 => prop::collection::vec(int_json(), 2..=2),
        2 => prop::collection::vec(int_json(), 0..9),
    ]
    .prop_map(|v| json!({"list": {"i": v}}))
}

fn string_json() -> impl Strategy<Value = Json> {
    prop_oneof![
        6 => select(vec!["SAME", "VALID", "EXPLICIT", "NHWC", "NCHW", ""]).prop_map(|s| json!({"s": b64(s)})),
        1 => "[ -~]{0,8}".prop_map(|s| json!({"s": s})),
    ]
}

fn fused_ops_json() -> impl Strategy<Value = Json> {
    prop::collection::vec(
        select(vec!["BiasAdd", "Relu", "Relu6", "Prelu", "LeakyRelu", "Elu", "Sigmoid", "Swish", ""]),
        0..4,
    )
    .prop_map(|ops| json!({"list": {"s": ops.iter().map(|o| b64(o)).collect::<Vec<_>>()}}))
}

fn type_json() -> impl Strategy<Value = Json> {
    select(vec!["DT_FLOAT", "DT_INT32", "DT_INT64", "DT_BOOL", "DT_STRING", "X"]).prop_map(|t| json!({"type": t}))
}

fn shape_json() -> impl Strategy<Value = Json> {
    prop_oneof![
        8 => prop::collection::vec(dim(), 0..6)
            .prop_map(|dims| json!({"shape": {"dim": dims.iter().map(|d| json!({"size": d.to_string()})).collect::<Vec<_>>()}})),
        1 => Just(json!({"shape": {"unknownRank": true}})),
        1 => Just(json!({"shape": {}})),
    ]
}

/// A node's attributes: a random subset of those the converter reads, each of its own JSON form.
fn attrs_json() -> impl Strategy<Value = Json> {
    let keys_of_ints = ["strides", "dilations", "ksize", "explicit_paddings", "squeeze_dims"];
    let keys_of_int =
        ["block_size", "axis", "begin_mask", "end_mask", "shrink_axis_mask", "ellipsis_mask", "new_axis_mask"];
    let keys_of_bool = ["keep_dims", "transpose_a", "transpose_b", "align_corners", "half_pixel_centers"];
    let entry = prop_oneof![
        3 => (select(keys_of_ints.to_vec()), ints_json()),
        3 => (select(keys_of_int.to_vec()), int_json().prop_map(|i| json!({"i": i}))),
        2 => (select(keys_of_bool.to_vec()), any::<bool>().prop_map(|b| json!({"b": b}))),
        2 => (select(vec!["padding", "data_format"]), string_json()),
        2 => (Just("fused_ops"), fused_ops_json()),
        1 => (select(vec!["alpha", "leakyrelu_alpha"]), prop_oneof![Just(json!({"f": 0.1})), Just(json!({"f": "NaN"})), any::<f32>().prop_map(|f| json!({"f": f}))]),
        1 => (select(vec!["DstT", "dtype", "T"]), type_json()),
        1 => (Just("shape"), shape_json()),
    ];
    prop::collection::vec(entry, 0..6)
        .prop_map(|entries| Json::Object(entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

#[derive(Debug, Clone)]
struct TfjsWeight {
    shape: Vec<i64>,
    dtype: &'static str,
    quantization: Option<(&'static str, Option<f64>, Option<f64>)>,
    ints: Vec<i32>,
    floats: Vec<f32>,
}

impl TfjsWeight {
    /// The stored bytes, when the shape is small enough to have them.
    fn bytes(&self) -> Vec<u8> {
        let count = self
            .shape
            .iter()
            .try_fold(1usize, |acc, &d| usize::try_from(d).ok().and_then(|d| acc.checked_mul(d)))
            .filter(|&n| n <= 4096)
            .unwrap_or(0);
        let stored = self.quantization.map_or(self.dtype, |q| q.0);
        let pick_i = |i: usize| self.ints.get(i % self.ints.len().max(1)).copied().unwrap_or(1);
        let pick_f = |i: usize| self.floats.get(i % self.floats.len().max(1)).copied().unwrap_or(0.5);
        match stored {
            "int32" => (0..count).flat_map(|i| pick_i(i).to_le_bytes()).collect(),
            "float32" => (0..count).flat_map(|i| pick_f(i).to_le_bytes()).collect(),
            "uint16" | "float16" => (0..count).flat_map(|i| (pick_i(i) as u16).to_le_bytes()).collect(),
            _ => (0..count).map(|i| pick_i(i) as u8).collect(),
        }
    }
}

fn tfjs_weight() -> impl Strategy<Value = TfjsWeight> {
    (
        prop_oneof![8 => prop::collection::vec(1i64..5, 0..5), 1 => prop::collection::vec(dim(), 0..5)],
        prop_oneof![18 => Just("float32"), 9 => Just("int32"), 2 => Just("bool"), 1 => Just("string")],
        prop::option::weighted(
            0.1,
            (
                prop_oneof![6 => select(vec!["uint8", "uint16", "float16"]), 1 => Just("int8")],
                prop::option::weighted(0.9, prop_oneof![Just(0.5f64), any::<f64>()]),
                prop::option::weighted(0.9, prop_oneof![Just(-1.0f64), any::<f64>()]),
            ),
        ),
        prop::collection::vec(small_int(), 1..16),
        prop::collection::vec(prop_oneof![4 => -2.0f32..2.0, 1 => any::<f32>()], 1..8),
    )
        .prop_map(|(shape, dtype, quantization, ints, floats)| TfjsWeight {
            shape,
            dtype,
            quantization,
            ints,
            floats,
        })
}

#[derive(Debug, Clone)]
struct TfjsNode {
    op: &'static str,
    /// Inputs as indices of earlier nodes (later ones now and then: cycles), with an output index or a caret.
    inputs: Vec<(Index, u8)>,
    attrs: Json,
}

#[derive(Debug, Clone)]
struct TfjsCase {
    placeholders: Vec<Json>,
    consts: Vec<TfjsWeight>,
    nodes: Vec<TfjsNode>,
    /// Bytes added to (or, negative, cut from) the shard.
    shard_delta: i8,
    signature: bool,
    outputs: Option<Vec<Index>>,
    format: Option<&'static str>,
}

fn tfjs_case() -> impl Strategy<Value = TfjsCase> {
    let placeholder = (shape_json(), prop::option::weighted(0.1, type_json())).prop_map(|(shape, dtype)| {
        let mut attrs = json!({ "shape": shape });
        if let Some(t) = dtype {
            attrs["dtype"] = t;
        }
        attrs
    });
    let node = (
        select(TFJS_OPS.to_vec()),
        prop::collection::vec((any::<Index>(), prop_oneof![12 => Just(0u8), 1 => Just(1u8), 1 => Just(b'^')]), 1..5),
        attrs_json(),
    )
        .prop_map(|(op, inputs, attrs)| TfjsNode { op, inputs, attrs });
    (
        prop::collection::vec(placeholder, 0..3),
        prop::collection::vec(tfjs_weight(), 0..6),
        prop::collection::vec(node, 1..8),
        prop_oneof![12 => Just(0i8), 1 => any::<i8>()],
        prop::bool::weighted(0.1),
        prop::option::weighted(0.1, prop::collection::vec(any::<Index>(), 1..3)),
        prop_oneof![24 => Just(Some("graph-model")), 5 => Just(None), 1 => Just(Some("layers-model"))],
    )
        .prop_map(|(placeholders, consts, nodes, shard_delta, signature, outputs, format)| TfjsCase {
            placeholders,
            consts,
            nodes,
            shard_delta,
            signature,
            outputs,
            format,
        })
}

impl TfjsCase {
    /// The node names in document order: placeholders, constants, then ops.
    fn names(&self) -> Vec<String> {
        (0..self.placeholders.len())
            .map(|i| format!("input{i}"))
            .chain((0..self.consts.len()).map(|i| format!("const{i}")))
            .chain((0..self.nodes.len()).map(|i| format!("node{i}")))
            .collect()
    }

    /// (model.json, shard bytes, conversion options).
    fn files(&self) -> (Vec<u8>, Vec<u8>, ConvertOptions) {
        let names = self.names();
        let mut nodes = Vec::new();
        for (i, attrs) in self.placeholders.iter().enumerate() {
            nodes.push(json!({"name": names[i], "op": "Placeholder", "attr": attrs}));
        }
        let mut shard = Vec::new();
        let mut weights = Vec::new();
        for (i, w) in self.consts.iter().enumerate() {
            let name = &names[self.placeholders.len() + i];
            nodes.push(json!({"name": name, "op": "Const", "attr": {"dtype": {"type": "DT_FLOAT"}}}));
            shard.extend_from_slice(&w.bytes());
            let mut entry = json!({"name": name, "shape": w.shape, "dtype": w.dtype});
            if let Some((dtype, scale, min)) = w.quantization {
                entry["quantization"] = json!({"dtype": dtype, "scale": scale, "min": min});
            }
            weights.push(entry);
        }
        let first_op = self.placeholders.len() + self.consts.len();
        for (i, node) in self.nodes.iter().enumerate() {
            // inputs: mostly earlier nodes, now and then any node (cycles, self-references)
            let inputs: Vec<String> = node
                .inputs
                .iter()
                .enumerate()
                .map(|(k, (index, tag))| {
                    let limit = if k == 3 { names.len() } else { first_op + i };
                    let name = if limit == 0 { "missing".to_owned() } else { names[index.index(limit)].clone() };
                    match tag {
                        0 => name,
                        b'^' => format!("^{name}"),
                        t => format!("{name}:{t}"),
                    }
                })
                .collect();
            nodes.push(json!({"name": names[first_op + i], "op": node.op, "input": inputs, "attr": node.attrs}));
        }
        match self.shard_delta {
            d if d < 0 => shard.truncate(shard.len().saturating_sub(d.unsigned_abs() as usize)),
            d => shard.extend(std::iter::repeat_n(7u8, d as usize)),
        }
        let mut model = json!({
            "modelTopology": {"node": nodes},
            "weightsManifest": [{"paths": ["group1-shard1of1.bin"], "weights": weights}],
        });
        if let Some(format) = self.format {
            model["format"] = json!(format);
        }
        if self.signature {
            let input = names.first().cloned().unwrap_or_default();
            let output = names.last().cloned().unwrap_or_default();
            model["signature"] =
                json!({"inputs": {"x": {"name": format!("{input}:0")}}, "outputs": {"y": {"name": output}}});
        }
        let outputs = self.outputs.as_ref().map(|o| o.iter().map(|i| names[i.index(names.len())].clone()).collect());
        (serde_json::to_vec_pretty(&model).unwrap(), shard, ConvertOptions { outputs })
    }
}

/// Writes `model.json` and its shard into a fresh temporary folder and converts them.
fn convert_tfjs(model_json: &[u8], shard: &[u8], options: &ConvertOptions) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    std::fs::write(&path, model_json).unwrap();
    std::fs::write(dir.path().join("group1-shard1of1.bin"), shard).unwrap();
    let _ = convert_tfjs_graph_with(&path, options);
}

// ---------------------------------------------------------------------------------------------
// PyTorch: legacy torch.save files written like torch does

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    Float,
    Double,
    Long,
    Int,
    Byte,
}

impl Storage {
    fn name(self) -> &'static str {
        match self {
            Storage::Float => "FloatStorage",
            Storage::Double => "DoubleStorage",
            Storage::Long => "LongStorage",
            Storage::Int => "IntStorage",
            Storage::Byte => "ByteStorage",
        }
    }

    fn width(self) -> usize {
        match self {
            Storage::Float | Storage::Int => 4,
            Storage::Double | Storage::Long => 8,
            Storage::Byte => 1,
        }
    }

    /// Element `i` of `raw`, as the reader converts it to f32.
    fn value(self, raw: &[u8], i: usize) -> f32 {
        let w = self.width();
        let b = &raw[i * w..(i + 1) * w];
        match self {
            Storage::Float => f32::from_le_bytes(b.try_into().unwrap()),
            Storage::Int => i32::from_le_bytes(b.try_into().unwrap()) as f32,
            Storage::Double => f64::from_le_bytes(b.try_into().unwrap()) as f32,
            Storage::Long => i64::from_le_bytes(b.try_into().unwrap()) as f32,
            Storage::Byte => f32::from(b[0]),
        }
    }
}

/// One tensor of a state dict: a strided view into a storage of its own.
#[derive(Debug, Clone)]
struct TorchTensor {
    name: String,
    storage: Storage,
    size: Vec<i64>,
    stride: Vec<i64>,
    offset: i64,
    /// Storage elements past the last one the view reaches.
    spare: usize,
    /// How integers are pickled: 0 BININT1/BININT2 where they fit, 1 BININT, 2 LONG1.
    int_form: u8,
    seed: Vec<u8>,
}

impl TorchTensor {
    /// The storage's size: what the view reaches, and at least as many elements as the view has (the reader
    /// refuses views that repeat elements beyond their storage's size), plus `spare`.
    fn numel(&self) -> usize {
        let last: i64 = self.size.iter().zip(&self.stride).map(|(&n, &s)| (n - 1).max(0) * s).sum();
        let empty = self.size.contains(&0);
        let reach = if empty { self.offset } else { self.offset + last + 1 };
        let count: i64 = self.size.iter().product();
        reach.max(count) as usize + self.spare
    }

    fn raw(&self) -> Vec<u8> {
        (0..self.numel() * self.storage.width()).map(|i| self.seed[i % self.seed.len()].wrapping_add(i as u8)).collect()
    }

    /// The values the reader must gather, in row-major order.
    fn expected(&self) -> Vec<f32> {
        let raw = self.raw();
        let count: i64 = self.size.iter().product();
        let mut out = Vec::new();
        let mut index = vec![0i64; self.size.len()];
        for _ in 0..count {
            let at = self.offset + index.iter().zip(&self.stride).map(|(i, s)| i * s).sum::<i64>();
            out.push(self.storage.value(&raw, at as usize));
            for d in (0..self.size.len()).rev() {
                index[d] += 1;
                if index[d] < self.size[d] {
                    break;
                }
                index[d] = 0;
            }
        }
        out
    }
}

fn torch_tensor(names: Vec<&'static str>) -> impl Strategy<Value = TorchTensor> {
    (
        prop_oneof![4 => select(names).prop_map(str::to_owned), 1 => "[a-z_.0-9]{0,12}"],
        select(vec![Storage::Float, Storage::Float, Storage::Double, Storage::Long, Storage::Int, Storage::Byte]),
        prop::collection::vec((0i64..5, prop_oneof![Just(None), (0i64..7).prop_map(Some)]), 0..5),
        0i64..4,
        0usize..3,
        0u8..3,
        prop::collection::vec(any::<u8>(), 1..16),
    )
        .prop_map(|(name, storage, dims, offset, spare, int_form, seed)| {
            let size: Vec<i64> = dims.iter().map(|d| d.0).collect();
            // contiguous strides unless drawn
            let mut stride = vec![0i64; size.len()];
            let mut step = 1;
            for d in (0..size.len()).rev() {
                stride[d] = dims[d].1.unwrap_or(step);
                step *= size[d].max(1);
            }
            TorchTensor { name, storage, size, stride, offset, spare, int_form, seed }
        })
}

fn push_str(f: &mut Vec<u8>, s: &str) {
    f.push(b'X');
    f.extend_from_slice(&(s.len() as u32).to_le_bytes());
    f.extend_from_slice(s.as_bytes());
}

fn push_int(f: &mut Vec<u8>, v: i64, form: u8) {
    match form {
        0 if (0..256).contains(&v) => f.extend_from_slice(&[b'K', v as u8]),
        0 if (0..65536).contains(&v) => {
            f.push(b'M');
            f.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0 | 1 if i32::try_from(v).is_ok() => {
            f.push(b'J');
            f.extend_from_slice(&(v as i32).to_le_bytes());
        }
        _ => {
            f.extend_from_slice(&[0x8a, 8]);
            f.extend_from_slice(&v.to_le_bytes());
        }
    }
}

fn push_tuple(f: &mut Vec<u8>, values: &[i64], form: u8) {
    f.push(b'(');
    for &v in values {
        push_int(f, v, form);
    }
    f.push(b't');
}

/// A legacy `torch.save` file of an `OrderedDict` of `tensors`.
fn torch_file(tensors: &[TorchTensor]) -> Vec<u8> {
    const MAGIC: i128 = 0x1950a86a20f9469cfc6c;
    let mut f = vec![0x80, 2, 0x8a, 10];
    f.extend_from_slice(&MAGIC.to_le_bytes()[..10]);
    f.push(b'.');
    f.extend_from_slice(&[0x80, 2, b'M', 0xe9, 0x03, b'.']);
    f.extend_from_slice(&[0x80, 2, b'}', b'(']);
    push_str(&mut f, "protocol_version");
    push_int(&mut f, 1001, 0);
    push_str(&mut f, "little_endian");
    f.extend_from_slice(&[0x88, b'u', b'.']);
    f.extend_from_slice(&[0x80, 2]);
    f.extend_from_slice(b"ccollections\nOrderedDict\nq\x00)R(");
    for (i, t) in tensors.iter().enumerate() {
        push_str(&mut f, &t.name);
        if i == 0 {
            f.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\nq\x01");
        } else {
            f.extend_from_slice(b"h\x01");
        }
        f.extend_from_slice(b"((");
        push_str(&mut f, "storage");
        f.extend_from_slice(format!("ctorch\n{}\n", t.storage.name()).as_bytes());
        push_str(&mut f, &format!("k{i}"));
        push_str(&mut f, "cpu");
        push_int(&mut f, t.numel() as i64, t.int_form);
        f.extend_from_slice(b"NtQ");
        push_int(&mut f, t.offset, t.int_form);
        push_tuple(&mut f, &t.size, t.int_form);
        push_tuple(&mut f, &t.stride, t.int_form);
        f.extend_from_slice(b"\x89h\x00)RtR");
    }
    f.extend_from_slice(b"u}b.");
    f.extend_from_slice(&[0x80, 2, b']', b'(']);
    for i in 0..tensors.len() {
        push_str(&mut f, &format!("k{i}"));
    }
    f.extend_from_slice(b"e.");
    for t in tensors {
        f.extend_from_slice(&(t.numel() as i64).to_le_bytes());
        f.extend_from_slice(&t.raw());
    }
    f
}

/// Weight names of EfficientNet-Lite0's stem and first block, so that the converter gets past its first lookups.
const LITE0_NAMES: &[&str] = &[
    "_conv_stem.weight",
    "_bn0.weight",
    "_bn0.bias",
    "_bn0.running_mean",
    "_bn0.running_var",
    "_blocks.0._depthwise_conv.weight",
    "_blocks.0._bn1.weight",
    "_blocks.0._bn1.bias",
    "_blocks.0._bn1.running_mean",
    "_blocks.0._bn1.running_var",
    "_blocks.0._project_conv.weight",
    "_fc.weight",
    "_fc.bias",
];

fn convert_lite0(file: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state_dict.pth");
    std::fs::write(&path, file).unwrap();
    let _ = convert_efficientnet_lite0(&path);
}

fn check_tfjs_json(model_json: &[u8]) {
    convert_tfjs(model_json, &[], &ConvertOptions::default());
}

// ---------------------------------------------------------------------------------------------
// ONNX graphs for the re-declaration and the folding

/// Tensor names shared by the nodes, initializers and outputs of a generated graph ("" is an omitted input).
const ONNX_NAMES: [&str; 11] = ["x", "w", "b", "s", "three", "six", "zero", "t0", "t1", "t2", ""];
const ONNX_OPS: [&str; 12] =
    ["Conv", "Mul", "Add", "Clip", "Div", "Relu", "Constant", "HardSigmoid", "Sub", "LSTM", "Softmax", "Transpose"];

/// Dimensions (including empty, zero, negative and huge ones) and values (including the ones folding looks for).
fn onnx_tensor() -> impl Strategy<Value = (Vec<i64>, Vec<f32>)> {
    let dim = prop_oneof![Just(0i64), Just(1), Just(2), Just(3), Just(-1), Just(i64::MAX)];
    let value = prop_oneof![any::<f32>(), Just(0.0f32), Just(3.0), Just(6.0), Just(1.0 / 6.0)];
    (prop::collection::vec(dim, 0..5), prop::collection::vec(value, 0..20))
}

fn onnx_node() -> impl Strategy<Value = NodeProto> {
    let names = || prop::collection::vec(select(ONNX_NAMES.to_vec()), 0..4);
    let attributes = (
        prop::option::of((
            select(vec!["pads", "perm", "strides", "kernel_shape"]),
            prop::collection::vec(-1i64..5, 0..5),
        )),
        prop::option::of((any::<f32>(), any::<f32>())),
        prop::option::of(onnx_tensor()),
        prop::option::of((select(vec!["axis", "group"]), -2i64..5)),
    );
    (select(ONNX_OPS.to_vec()), names(), names(), attributes).prop_map(
        |(op, inputs, outputs, (ints, bounds, value, int))| {
            let mut attribute: Vec<AttributeProto> = Vec::new();
            if let Some((name, values)) = ints {
                attribute.push(attr_ints(name, &values));
            }
            if let Some((name, value)) = int {
                attribute.push(reko_convert::onnx::attr_int(name, value));
            }
            if let Some((min, max)) = bounds {
                attribute.push(attr_float("min", min));
                attribute.push(attr_float("max", max));
            }
            if let Some((dims, values)) = value {
                attribute.push(reko_convert::onnx::attr_tensor("value", tensor_f32("", &dims, &values)));
            }
            NodeProto {
                input: inputs.into_iter().map(str::to_owned).collect(),
                output: outputs.into_iter().map(str::to_owned).collect(),
                op_type: op.to_owned(),
                attribute,
                ..Default::default()
            }
        },
    )
}

fn onnx_model() -> impl Strategy<Value = Vec<u8>> {
    let initializers = prop::collection::vec((select(ONNX_NAMES.to_vec()), onnx_tensor()), 0..6);
    let outputs = prop::collection::vec(select(ONNX_NAMES.to_vec()), 0..3);
    (prop::collection::vec(onnx_node(), 0..10), initializers, outputs).prop_map(|(node, initializers, outputs)| {
        let value = |name: &str| reko_convert::onnx::ValueInfoProto {
            name: name.to_owned(),
            r#type: Some(reko_convert::onnx::tensor_type(
                DataType::Float,
                &[Dim::Fixed(1), Dim::Fixed(2), Dim::Fixed(4), Dim::Fixed(4)],
            )),
            doc_string: String::new(),
        };
        let graph = GraphProto {
            node,
            initializer: initializers.iter().map(|(name, (dims, values))| tensor_f32(name, dims, values)).collect(),
            input: vec![value("x")],
            output: outputs.iter().map(|name| value(name)).collect(),
            ..Default::default()
        };
        let model = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 12 }],
            graph: Some(graph),
            ..Default::default()
        };
        reko_convert::onnx::encode_model(&model)
    })
}

/// A graph made of the patterns folding rewrites (a convolution, its scalar scale and shift, a four-op
/// hard-swish, a scale and shift read by a plain and a padded convolution, a softmax over channels read by
/// a one-channel 1 × 1 convolution), then broken at random: nodes dropped, inputs renamed, constants given
/// other values or shapes, opset 12 or 17.
fn onnx_fold_chain() -> impl Strategy<Value = Vec<u8>> {
    let edits = prop::collection::vec((any::<Index>(), any::<Index>(), select(ONNX_NAMES.to_vec())), 0..4);
    let drops = prop::collection::vec(any::<Index>(), 0..3);
    let constants = prop::collection::vec((any::<Index>(), onnx_tensor()), 0..3);
    (edits, drops, constants, any::<bool>(), any::<bool>()).prop_map(|(edits, drops, constants, padded, recent)| {
        let node = |op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>| NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_owned()],
            op_type: op.to_owned(),
            attribute,
            ..Default::default()
        };
        let pads = if padded { vec![attr_ints("pads", &[1, 1, 1, 1])] } else { Vec::new() };
        let mut nodes = vec![
            node("Conv", &["x", "w", "b"], "t0", Vec::new()),
            node("Mul", &["s", "t0"], "t1", Vec::new()),
            node("Add", &["t1", "s"], "t2", Vec::new()),
            node("Add", &["t2", "three"], "p", Vec::new()),
            node("Clip", &["p", "zero", "six"], "c", Vec::new()),
            node("Mul", &["t2", "c"], "m", Vec::new()),
            node("Div", &["m", "six"], "h", Vec::new()),
            node("Mul", &["h", "s"], "a", Vec::new()),
            node("Add", &["s", "a"], "y", Vec::new()),
            node("Conv", &["y", "w2"], "out", Vec::new()),
            node("Conv", &["y", "w2", "b"], "out2", pads),
            node("Transpose", &["x"], "tt", vec![attr_ints("perm", &[0, 2, 1, 3])]),
            node("Softmax", &["tt"], "sm", vec![reko_convert::onnx::attr_int("axis", 1)]),
            node("Conv", &["sm", "w1"], "out3", vec![attr_ints("kernel_shape", &[1, 1])]),
        ];
        for (at, input, name) in edits {
            let n = at.index(nodes.len());
            if !nodes[n].input.is_empty() {
                let i = input.index(nodes[n].input.len());
                nodes[n].input[i] = name.to_owned();
            }
        }
        for at in drops {
            if !nodes.is_empty() {
                nodes.remove(at.index(nodes.len()));
            }
        }
        let mut initializers = vec![
            tensor_f32("w", &[2, 2, 1, 1], &[1.0, -2.0, 0.5, 3.0]),
            tensor_f32("b", &[2], &[0.5, 0.0]),
            tensor_f32("s", &[1], &[2.0]),
            tensor_f32("three", &[], &[3.0]),
            tensor_f32("zero", &[], &[0.0]),
            tensor_f32("six", &[1], &[6.0]),
            tensor_f32("w2", &[2, 2, 3, 3], &[0.25; 36]),
            tensor_f32("w1", &[1, 2, 1, 1], &[0.0, 1.0]),
        ];
        for (at, (dims, values)) in constants {
            let n = at.index(initializers.len());
            let name = initializers[n].name.clone();
            initializers[n] = tensor_f32(&name, &dims, &values);
        }
        let value = |name: &str| reko_convert::onnx::ValueInfoProto {
            name: name.to_owned(),
            r#type: Some(reko_convert::onnx::tensor_type(DataType::Float, &[Dim::Fixed(1), Dim::Fixed(2)])),
            doc_string: String::new(),
        };
        let graph = GraphProto {
            node: nodes,
            initializer: initializers,
            input: vec![value("x")],
            output: vec![value("out"), value("out2"), value("out3")],
            ..Default::default()
        };
        let model = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: if recent { 17 } else { 12 } }],
            graph: Some(graph),
            ..Default::default()
        };
        reko_convert::onnx::encode_model(&model)
    })
}

/// `convert_onnx_bytes` with every combination of options: an error or a model that decodes again.
fn convert_onnx_all_ways(bytes: &[u8]) {
    use prost::Message as _;
    for (dynamic_batch, dynamic_spatial, fold) in [(false, false, true), (true, true, true), (true, true, false)] {
        let options = OnnxOptions { dynamic_batch, dynamic_spatial, fold };
        if let Ok(converted) = convert_onnx_bytes(bytes, &options) {
            assert!(ModelProto::decode(&converted.onnx[..]).is_ok(), "the converted model decodes");
        }
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes, bare or behind a TFLite header (root offset, "TFL3").
    #[test]
    fn tflite_arbitrary_bytes(
        header in prop::option::of((0u32..96, Just(*b"TFL3"))),
        rest in prop::collection::vec(any::<u8>(), 0..256),
        options in tflite_options(),
    ) {
        let mut bytes = Vec::new();
        if let Some((root, id)) = header {
            bytes.extend_from_slice(&root.to_le_bytes());
            bytes.extend_from_slice(&id);
        }
        bytes.extend_from_slice(&rest);
        convert_tflite(&bytes, &options);
    }

    /// Structured TFLite models (random tensors, ops, options and indices, or chains of ops with operands made
    /// for their roles): converted as built and mutated.
    #[test]
    fn tflite_models(
        model in prop_oneof![tflite_model(), tflite_chain()],
        options in tflite_options(),
        mutations in prop::collection::vec(mutation(), 0..3),
    ) {
        let bytes = model.bytes();
        convert_tflite(&bytes, &options);
        if !mutations.is_empty() {
            convert_tflite(&mutated(bytes, &mutations), &options);
        }
    }

    /// TF.js graphs: random nodes, attributes, weights and shards.
    #[test]
    fn tfjs_graphs(case in tfjs_case()) {
        let (model_json, shard, options) = case.files();
        convert_tfjs(&model_json, &shard, &options);
    }

    /// TF.js files with their bytes mutated, and arbitrary bytes as a model.json.
    #[test]
    fn tfjs_mutated_files(
        case in tfjs_case(),
        json_mutations in prop::collection::vec(mutation(), 0..3),
        shard_mutations in prop::collection::vec(mutation(), 0..3),
        garbage in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let (model_json, shard, options) = case.files();
        convert_tfjs(&mutated(model_json, &json_mutations), &mutated(shard, &shard_mutations), &options);
        check_tfjs_json(&garbage);
    }

    /// ONNX graphs of random nodes over shared names (the patterns folding looks for among them), as built
    /// and mutated, and arbitrary bytes: re-declared and folded, errors or models, never panics.
    #[test]
    fn onnx_graphs(
        model in prop_oneof![onnx_model(), onnx_fold_chain()],
        mutations in prop::collection::vec(mutation(), 0..3),
        garbage in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        convert_onnx_all_ways(&model);
        if !mutations.is_empty() {
            convert_onnx_all_ways(&mutated(model, &mutations));
        }
        convert_onnx_all_ways(&garbage);
    }

    /// Legacy PyTorch files built like torch.save writes them read back exactly, through their strides.
    #[test]
    fn pytorch_files_read_back(tensors in prop::collection::vec(torch_tensor(vec!["w", "b", "x.y"]), 0..4)) {
        let file = torch_file(&tensors);
        let read = reko_convert::read_legacy_state_dict(&file);
        prop_assert!(read.is_ok(), "{:?}", read.err());
        let read = read.unwrap();
        prop_assert_eq!(read.len(), tensors.len());
        for ((name, tensor), expected) in read.iter().zip(&tensors) {
            prop_assert_eq!(name, &expected.name);
            prop_assert_eq!(&tensor.shape, &expected.size);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&tensor.values), bits(&expected.expected()));
        }
    }

    /// Legacy PyTorch files with mutated bytes, arbitrary bytes, and EfficientNet-Lite0 over state dicts with
    /// its weight names and random shapes: errors, never panics.
    #[test]
    fn pytorch_mutated_files(
        tensors in prop::collection::vec(torch_tensor(LITE0_NAMES.to_vec()), 0..6),
        mutations in prop::collection::vec(mutation(), 1..4),
        garbage in prop::collection::vec(any::<u8>(), 0..128),
    ) {
        let file = torch_file(&tensors);
        convert_lite0(&file);
        let _ = reko_convert::read_legacy_state_dict(&mutated(file, &mutations));
        let _ = reko_convert::read_legacy_state_dict(&garbage);
        let mut pickled = vec![0x80, 2];
        pickled.extend_from_slice(&garbage);
        let _ = reko_convert::read_legacy_state_dict(&pickled);
    }
}

#[test]
fn the_builders_make_files_the_readers_accept() {
    // a one-op TFLite model: input [1, 4] -> RELU -> output [1, 4]
    let tensor = |name: &str| TfliteTensor {
        shape: vec![1, 4],
        signature: None,
        dtype: 0,
        data: None,
        name: name.into(),
        quantized: false,
        variable: false,
    };
    let model = TfliteModel {
        codes: vec![(19, None)],
        tensors: vec![tensor("x"), tensor("y")],
        inputs: vec![0],
        outputs: vec![1],
        ops: vec![TfliteOp { code: 0, inputs: vec![0], outputs: vec![1], options: None, options_2: false }],
        external_buffer: false,
    };
    let converted = convert_tflite_bytes(&model.bytes(), &TfliteOptions::default()).unwrap();
    assert!(converted.report.contains("RELU: 1"), "{}", converted.report);

    // a TF.js graph: input -> Relu
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    let model = json!({
        "format": "graph-model",
        "modelTopology": {"node": [
            {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "-1"}, {"size": "4"}]}}}},
            {"name": "y", "op": "Relu", "input": ["x"]},
        ]},
        "weightsManifest": [],
    });
    write(&path, &serde_json::to_vec(&model).unwrap());
    let converted = convert_tfjs_graph_with(&path, &ConvertOptions::default()).unwrap();
    assert_eq!(converted.outputs[0].name, "y");

    // a PyTorch file with a transposed view
    let t = TorchTensor {
        name: "w".into(),
        storage: Storage::Float,
        size: vec![2, 3],
        stride: vec![1, 2],
        offset: 0,
        spare: 0,
        int_form: 0,
        seed: vec![1, 2, 3],
    };
    let read = reko_convert::read_legacy_state_dict(&torch_file(std::slice::from_ref(&t))).unwrap();
    assert_eq!(read[0].1.values.len(), 6);
    assert_eq!(read[0].1.values, t.expected());
}

/// Found by reading while writing these generators (they rarely reach it): a STRIDED_SLICE over more than 32
/// dimensions shifted an i32 mask by 32 and more (a panic with overflow checks, wrong masks without).
#[test]
fn tflite_strided_slice_of_rank_33_is_no_panic() {
    let rank = 33;
    let tensor = |shape: Vec<i32>, dtype: u8, fill: Option<i32>, name: &str| TfliteTensor {
        shape,
        signature: None,
        dtype,
        data: fill.map(|v| (0..rank).flat_map(|_| v.to_le_bytes()).collect()),
        name: name.into(),
        quantized: false,
        variable: false,
    };
    let model = TfliteModel {
        codes: vec![(45, None)],
        tensors: vec![
            tensor(vec![1; rank], 0, None, "x"),
            tensor(vec![rank as i32], 2, Some(0), "begin"),
            tensor(vec![rank as i32], 2, Some(1), "end"),
            tensor(vec![rank as i32], 2, Some(1), "strides"),
            tensor(vec![1; rank], 0, None, "y"),
        ],
        inputs: vec![0],
        outputs: vec![4],
        ops: vec![TfliteOp {
            code: 0,
            inputs: vec![0, 1, 2, 3],
            outputs: vec![4],
            options: Some((32, vec![(0, Fb::I32(0))])),
            options_2: false,
        }],
        external_buffer: false,
    };
    let converted = convert_tflite_bytes(&model.bytes(), &TfliteOptions::default()).unwrap();
    assert_eq!(converted.outputs[0].shape, vec![1; rank]);
}

/// Found by reading: a StridedSlice shrinking a shape tensor at an index past its end indexed out of bounds.
#[test]
fn tfjs_shrinking_a_shape_out_of_range_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.json");
    let model = json!({
        "format": "graph-model",
        "modelTopology": {"node": [
            {"name": "x", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [{"size": "-1"}, {"size": "4"}]}}}},
            {"name": "shape", "op": "Shape", "input": ["x"]},
            {"name": "begin", "op": "Const"},
            {"name": "end", "op": "Const"},
            {"name": "strides", "op": "Const"},
            {"name": "y", "op": "StridedSlice", "input": ["shape", "begin", "end", "strides"],
             "attr": {"shrink_axis_mask": {"i": "1"}}},
        ]},
        "weightsManifest": [{"paths": ["w.bin"], "weights": [
            {"name": "begin", "shape": [1], "dtype": "int32"},
            {"name": "end", "shape": [1], "dtype": "int32"},
            {"name": "strides", "shape": [1], "dtype": "int32"},
        ]}],
    });
    write(&path, &serde_json::to_vec(&model).unwrap());
    write(&dir.path().join("w.bin"), &[5i32, 6, 1].iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
    let err = convert_tfjs_graph_with(&path, &ConvertOptions::default()).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}
