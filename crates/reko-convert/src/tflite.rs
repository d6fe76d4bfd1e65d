//! TFLite flatbuffer models to ONNX ([`convert_tflite`]): float32 graphs only (quantized tensors are
//! refused), NHWC kept at the interface with Transposes around Conv/Pool, TFLite's SAME padding
//! reproduced exactly (the extra pixel at the end), shapes re-derived per op and checked against the
//! model's own, optional dynamic batch / spatial dims, and every unsupported op or option refused by
//! name.

mod flatbuf;
mod model;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use crate::onnx::{self, DataType, Dim, GraphBuilder, attr_float, attr_int, attr_ints, attr_string};
use crate::{ConvertError, Converted, TensorInfo};
use flatbuf::Table;
use model::{BOOL, FLOAT16, FLOAT32, INT32, INT64, Model, Operator};

/// How to convert a TFLite model.
#[derive(Clone, Debug, Default)]
pub struct TfliteOptions {
    /// Make dimension 0 of the inputs (and of everything derived from it) dynamic. Fails when the
    /// graph mixes the batch with other dimensions (e.g. a reshape that folds it away).
    pub dynamic_batch: bool,
    /// Make H and W of rank-4 NHWC inputs dynamic (fully convolutional models).
    pub dynamic_spatial: bool,
}

/// Converts the TFLite model at `model` to ONNX.
pub fn convert_tflite(model: &Path, options: &TfliteOptions) -> Result<Converted, ConvertError> {
    let bytes = std::fs::read(model).map_err(|source| ConvertError::Io { path: model.to_path_buf(), source })?;
    convert_tflite_bytes(&bytes, options)
}

/// Converts a TFLite model held in memory.
pub fn convert_tflite_bytes(bytes: &[u8], options: &TfliteOptions) -> Result<Converted, ConvertError> {
    let model = model::parse(bytes).map_err(|e| ConvertError::BadModel(format!("tflite flatbuffer: {e}")))?;
    Converter::new(&model, options)?.run()
}

/// A dimension: `None` is dynamic.
type Shape = Vec<Option<i64>>;

/// The name of a builtin operator code (the ones this converter knows of; others by number).
fn builtin_name(code: i32) -> String {
    let name = match code {
        0 => "ADD",
        1 => "AVERAGE_POOL_2D",
        2 => "CONCATENATION",
        3 => "CONV_2D",
        4 => "DEPTHWISE_CONV_2D",
        6 => "DEQUANTIZE",
        9 => "FULLY_CONNECTED",
        14 => "LOGISTIC",
        17 => "MAX_POOL_2D",
        18 => "MUL",
        19 => "RELU",
        20 => "RELU_N1_TO_1",
        21 => "RELU6",
        22 => "RESHAPE",
        25 => "SOFTMAX",
        28 => "TANH",
        32 => "CUSTOM",
        34 => "PAD",
        39 => "TRANSPOSE",
        40 => "MEAN",
        41 => "SUB",
        42 => "DIV",
        43 => "SQUEEZE",
        45 => "STRIDED_SLICE",
        47 => "EXP",
        53 => "CAST",
        54 => "PRELU",
        55 => "MAXIMUM",
        57 => "MINIMUM",
        58 => "LESS",
        59 => "NEG",
        61 => "GREATER",
        62 => "GREATER_EQUAL",
        74 => "SUM",
        82 => "REDUCE_MAX",
        89 => "REDUCE_MIN",
        98 => "LEAKY_RELU",
        101 => "ABS",
        117 => "HARD_SWISH",
        _ => return format!("BUILTIN_{code}"),
    };
    name.to_string()
}

/// TFLite's output size and (begin, end) padding of one spatial dimension under SAME padding:
/// `out = ceil(in / stride)`, the total padding split with the odd pixel at the end.
pub fn same_padding(input: i64, kernel: i64, stride: i64, dilation: i64) -> (i64, i64, i64) {
    let effective = (kernel - 1) * dilation + 1;
    let out = (input + stride - 1) / stride;
    let total = ((out - 1) * stride + effective - input).max(0);
    (out, total / 2, total - total / 2)
}

/// TFLite's output size under VALID padding, `None` when the window does not fit.
pub fn valid_output(input: i64, kernel: i64, stride: i64, dilation: i64) -> Option<i64> {
    let effective = (kernel - 1) * dilation + 1;
    (input >= effective).then(|| (input - effective) / stride + 1)
}

enum ConstData {
    F32(Vec<f32>),
    I32(Vec<i32>),
    F16(Vec<u16>),
}

enum Value {
    /// Not produced (yet).
    Unset,
    Const {
        dims: Vec<i64>,
        data: ConstData,
    },
    Dyn {
        name: String,
        shape: Shape,
    },
}

/// Window geometry of a Conv/Pool op.
struct Window {
    kernel: [i64; 2],
    strides: [i64; 2],
    dilations: [i64; 2],
    same: bool,
}

struct Converter<'m, 'a> {
    m: &'m Model<'a>,
    options: &'m TfliteOptions,
    g: GraphBuilder,
    values: Vec<Value>,
    initializers: HashMap<usize, String>,
    output_names: HashMap<usize, String>,
    op_counts: BTreeMap<String, usize>,
    parameters: usize,
    /// Index and name of the op being converted, for messages.
    current: (usize, String),
}

fn bad(msg: impl Into<String>) -> ConvertError {
    ConvertError::BadModel(msg.into())
}

fn numel(dims: &[i64]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| usize::try_from(d).ok().and_then(|d| acc.checked_mul(d)))
}

fn known(shape: &[Option<i64>]) -> Option<Vec<i64>> {
    shape.iter().copied().collect()
}

fn fmt_shape(shape: &[Option<i64>]) -> String {
    let dims: Vec<String> = shape.iter().map(|d| d.map_or("?".to_string(), |v| v.to_string())).collect();
    format!("[{}]", dims.join(","))
}

/// NumPy broadcasting of two shapes (`None` against a fixed size takes the fixed size unless it is 1).
fn broadcast(a: &[Option<i64>], b: &[Option<i64>]) -> Option<Shape> {
    let rank = a.len().max(b.len());
    let mut out = vec![None; rank];
    for (i, slot) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= rank { a[i + a.len() - rank] } else { Some(1) };
        let db = if i + b.len() >= rank { b[i + b.len() - rank] } else { Some(1) };
        *slot = match (da, db) {
            (Some(1), d) | (d, Some(1)) => d,
            (Some(x), Some(y)) if x == y => Some(x),
            (Some(_), Some(_)) => return None,
            (None, d) | (d, None) => d,
        };
    }
    Some(out)
}

impl<'m, 'a> Converter<'m, 'a> {
    fn new(m: &'m Model<'a>, options: &'m TfliteOptions) -> Result<Self, ConvertError> {
        for t in &m.tensors {
            if t.quantized {
                return Err(bad(format!("tensor {:?} is quantized; only float32 models are supported", t.name)));
            }
            if t.sparse {
                return Err(bad(format!("tensor {:?} is sparse; unsupported", t.name)));
            }
            if t.is_variable {
                return Err(bad(format!("tensor {:?} is a variable; unsupported", t.name)));
            }
        }
        let mut values = Vec::with_capacity(m.tensors.len());
        let mut parameters = 0;
        for t in &m.tensors {
            let data = m
                .buffers
                .get(t.buffer as usize)
                .copied()
                .ok_or_else(|| bad(format!("tensor {:?} refers to missing buffer {}", t.name, t.buffer)))?;
            if data.is_empty() {
                values.push(Value::Unset);
                continue;
            }
            let dims: Vec<i64> = t.shape.iter().map(|&d| d as i64).collect();
            let count = numel(&dims).ok_or_else(|| bad(format!("tensor {:?} has a bad shape {dims:?}", t.name)))?;
            let elem = match t.dtype {
                FLOAT32 | INT32 => 4,
                FLOAT16 => 2,
                INT64 => 8,
                other => {
                    return Err(bad(format!(
                        "constant tensor {:?} has type {}; unsupported",
                        t.name,
                        model::type_name(other)
                    )));
                }
            };
            if count.checked_mul(elem) != Some(data.len()) {
                return Err(bad(format!(
                    "constant tensor {:?}: {} bytes for shape {dims:?} of {}",
                    t.name,
                    data.len(),
                    model::type_name(t.dtype)
                )));
            }
            parameters += count;
            let data = match t.dtype {
                FLOAT32 => {
                    ConstData::F32(data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
                }
                INT32 => {
                    ConstData::I32(data.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
                }
                FLOAT16 => ConstData::F16(data.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()),
                _ => {
                    // INT64 constants: kept only if they fit i32 (shapes, axes)
                    let mut v = Vec::with_capacity(count);
                    for c in data.chunks_exact(8) {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(c);
                        let x = i64::from_le_bytes(a);
                        v.push(i32::try_from(x).map_err(|_| bad(format!("int64 constant {:?} overflows", t.name)))?);
                    }
                    ConstData::I32(v)
                }
            };
            values.push(Value::Const { dims, data });
        }
        Ok(Self {
            m,
            options,
            g: GraphBuilder::new("tflite"),
            values,
            initializers: HashMap::new(),
            output_names: HashMap::new(),
            op_counts: BTreeMap::new(),
            parameters,
            current: (0, String::new()),
        })
    }

    fn tensor_index(&self, t: i32) -> Result<usize, ConvertError> {
        usize::try_from(t)
            .ok()
            .filter(|&i| i < self.m.tensors.len())
            .ok_or_else(|| self.op_error(format!("tensor index {t} out of range")))
    }

    fn tensor_name(&self, t: usize) -> String {
        let name = &self.m.tensors[t].name;
        if name.is_empty() { format!("t{t}") } else { name.clone() }
    }

    fn op_error(&self, msg: impl std::fmt::Display) -> ConvertError {
        bad(format!("op #{} {}: {msg}", self.current.0, self.current.1))
    }

    fn unsupported(&self, what: impl std::fmt::Display) -> ConvertError {
        ConvertError::UnsupportedOp { op: format!("{} ({what})", self.current.1), node: format!("#{}", self.current.0) }
    }

    /// Input `k` of `op` (which must be present).
    fn input(&self, op: &Operator<'_>, k: usize) -> Result<usize, ConvertError> {
        let t = *op.inputs.get(k).ok_or_else(|| self.op_error(format!("missing input {k}")))?;
        self.tensor_index(t)
    }

    /// Optional input `k` of `op` (absent or -1).
    fn optional_input(&self, op: &Operator<'_>, k: usize) -> Result<Option<usize>, ConvertError> {
        match op.inputs.get(k) {
            None | Some(-1) => Ok(None),
            Some(&t) => self.tensor_index(t).map(Some),
        }
    }

    /// A float operand: a computed tensor, or a float32 constant as an initializer.
    fn operand(&mut self, t: usize) -> Result<(String, Shape), ConvertError> {
        self.operand_of(t, FLOAT32)
    }

    /// An operand of TFLite type `dtype` (constants must be float32).
    fn operand_of(&mut self, t: usize, dtype: u8) -> Result<(String, Shape), ConvertError> {
        match &self.values[t] {
            Value::Dyn { .. } if self.m.tensors[t].dtype != dtype => Err(self.unsupported(format!(
                "operand {:?} of type {}, expected {}",
                self.tensor_name(t),
                model::type_name(self.m.tensors[t].dtype),
                model::type_name(dtype)
            ))),
            Value::Dyn { name, shape } => Ok((name.clone(), shape.clone())),
            Value::Const { dims, data: ConstData::F32(v) } => {
                let shape = dims.iter().map(|&d| Some(d)).collect();
                if let Some(name) = self.initializers.get(&t) {
                    return Ok((name.clone(), shape));
                }
                let (dims, v) = (dims.clone(), v.clone());
                let name = self.g.add_initializer_f32(&self.tensor_name(t), &dims, &v);
                self.initializers.insert(t, name.clone());
                Ok((name, shape))
            }
            Value::Const { .. } => Err(self.op_error(format!(
                "operand {:?} is a {} constant, expected float32",
                self.tensor_name(t),
                model::type_name(self.m.tensors[t].dtype)
            ))),
            Value::Unset => {
                Err(self.op_error(format!("tensor {:?} is used before it is computed", self.tensor_name(t))))
            }
        }
    }

    fn const_f32(&self, t: usize) -> Result<(Vec<i64>, Vec<f32>), ConvertError> {
        match &self.values[t] {
            Value::Const { dims, data: ConstData::F32(v) } => Ok((dims.clone(), v.clone())),
            _ => Err(self.unsupported(format!("{:?} must be a float32 constant", self.tensor_name(t)))),
        }
    }

    fn const_i32(&self, t: usize) -> Result<(Vec<i64>, Vec<i32>), ConvertError> {
        match &self.values[t] {
            Value::Const { dims, data: ConstData::I32(v) } => Ok((dims.clone(), v.clone())),
            _ => Err(self.unsupported(format!("{:?} must be an int32 constant", self.tensor_name(t)))),
        }
    }

    /// The builtin options table, checking its union type; `None` when absent (all defaults).
    fn options_table(&self, op: &Operator<'a>, expected: u8) -> Result<Option<Table<'a>>, ConvertError> {
        match op.options {
            None => Ok(None),
            Some((kind, t)) if kind == expected => Ok(Some(t)),
            Some((kind, _)) => Err(self.op_error(format!("builtin options of type {kind}, expected {expected}"))),
        }
    }

    fn fb<T>(&self, r: flatbuf::FbResult<T>) -> Result<T, ConvertError> {
        r.map_err(|e| self.op_error(format!("options: {e}")))
    }

    /// The single float32 output tensor of `op`.
    fn output(&self, op: &Operator<'_>) -> Result<usize, ConvertError> {
        self.output_of(op, FLOAT32)
    }

    /// The single output tensor of `op`, of TFLite type `dtype`.
    fn output_of(&self, op: &Operator<'_>, dtype: u8) -> Result<usize, ConvertError> {
        if op.outputs.len() != 1 {
            return Err(self.op_error(format!("{} outputs, expected 1", op.outputs.len())));
        }
        let t = self.tensor_index(op.outputs[0])?;
        if self.m.tensors[t].dtype != dtype {
            return Err(self.unsupported(format!("output of type {}", model::type_name(self.m.tensors[t].dtype))));
        }
        if !matches!(self.values[t], Value::Unset) {
            return Err(self.op_error(format!("tensor {:?} is written twice", self.tensor_name(t))));
        }
        Ok(t)
    }

    /// The ONNX name for tensor `t`: exact for graph outputs, else fresh.
    fn out_name(&mut self, t: usize) -> String {
        match self.output_names.get(&t) {
            Some(n) => n.clone(),
            None => {
                let hint = self.tensor_name(t);
                self.g.fresh_name(&hint)
            }
        }
    }

    /// Checks a derived shape against the one the model declares, then records `t`.
    fn set(&mut self, t: usize, name: String, shape: Shape) -> Result<(), ConvertError> {
        let tensor = &self.m.tensors[t];
        let declared = tensor.shape_signature.as_ref().unwrap_or(&tensor.shape);
        if declared.len() != shape.len() {
            return Err(self.op_error(format!(
                "derived shape {} has rank {}, the model declares {:?} for {:?}",
                fmt_shape(&shape),
                shape.len(),
                declared,
                tensor.name
            )));
        }
        for (d, (&ours, &theirs)) in shape.iter().zip(declared).enumerate() {
            if let Some(v) = ours
                && theirs >= 0
                && v != theirs as i64
            {
                return Err(self.op_error(format!(
                    "derived shape {} differs from the declared {:?} of {:?} at dim {d}",
                    fmt_shape(&shape),
                    declared,
                    tensor.name
                )));
            }
        }
        self.values[t] = Value::Dyn { name, shape };
        Ok(())
    }

    fn scalar(&mut self, hint: &str, v: f32) -> String {
        self.g.add_initializer_f32(hint, &[], &[v])
    }

    /// Emits `x -> activation -> out`.
    fn emit_activation(&mut self, x: &str, act: u8, out: &str) -> Result<(), ConvertError> {
        match act {
            1 => self.g.add_node("Relu", &[x], &[out], vec![]),
            2 | 3 => {
                let (lo, hi) = if act == 2 { (-1.0, 1.0) } else { (0.0, 6.0) };
                let lo = self.scalar("clip_min", lo);
                let hi = self.scalar("clip_max", hi);
                self.g.add_node("Clip", &[x, &lo, &hi], &[out], vec![]);
            }
            4 => self.g.add_node("Tanh", &[x], &[out], vec![]),
            other => return Err(self.unsupported(format!("fused activation {other}"))),
        }
        Ok(())
    }

    /// Emits the op's last node, then its fused activation, into the output tensor `t`.
    fn finish(
        &mut self,
        t: usize,
        op_type: &str,
        inputs: &[&str],
        attributes: Vec<onnx::AttributeProto>,
        act: u8,
        shape: Shape,
    ) -> Result<(), ConvertError> {
        if act > 4 {
            return Err(self.unsupported(format!("fused activation {act}")));
        }
        let out = self.out_name(t);
        if act == 0 {
            self.g.add_node(op_type, inputs, &[&out], attributes);
        } else {
            let mid = self.g.op(op_type, inputs, attributes, &format!("{out}_preact"));
            self.emit_activation(&mid, act, &out)?;
        }
        self.set(t, out, shape)
    }

    fn run(mut self) -> Result<Converted, ConvertError> {
        let m = self.m;
        // Only control-flow ops reference further subgraphs; those ops are refused by name below.
        // graph inputs
        let mut inputs = Vec::new();
        for &ti in &m.inputs {
            let t = self.tensor_index(ti)?;
            let tensor = &m.tensors[t];
            if tensor.dtype != FLOAT32 {
                return Err(bad(format!(
                    "input {:?} has type {}; only float32 is supported",
                    tensor.name,
                    model::type_name(tensor.dtype)
                )));
            }
            if !matches!(self.values[t], Value::Unset) {
                return Err(bad(format!("input {:?} has constant data", tensor.name)));
            }
            let declared = tensor.shape_signature.as_ref().unwrap_or(&tensor.shape);
            let mut shape: Shape = declared.iter().map(|&d| (d >= 0).then_some(d as i64)).collect();
            if self.options.dynamic_batch && !shape.is_empty() {
                shape[0] = None;
            }
            if self.options.dynamic_spatial && shape.len() == 4 {
                shape[1] = None;
                shape[2] = None;
            }
            let dims: Vec<Dim> = shape
                .iter()
                .enumerate()
                .map(|(d, v)| match v {
                    Some(v) => Dim::Fixed(*v),
                    None => Dim::Symbolic(
                        match (d, shape.len()) {
                            (0, _) => "batch",
                            (1, 4) => "height",
                            (2, 4) => "width",
                            _ => "dim",
                        }
                        .to_string(),
                    ),
                })
                .collect();
            let name = self.tensor_name(t);
            if !self.g.reserve_name(&name) {
                return Err(bad(format!("input name {name:?} is used twice")));
            }
            self.g.add_input(&name, DataType::Float, &dims);
            inputs.push(TensorInfo { name: name.clone(), shape: shape.iter().map(|d| d.unwrap_or(-1)).collect() });
            self.values[t] = Value::Dyn { name, shape };
        }
        // graph output names are reserved exactly
        for &to in &m.outputs {
            let t = self.tensor_index(to)?;
            let name = self.tensor_name(t);
            if !self.g.reserve_name(&name) {
                return Err(bad(format!("output {name:?} repeats an input or output name")));
            }
            self.output_names.insert(t, name);
        }

        for (i, op) in m.operators.iter().enumerate() {
            let (code, custom) = m
                .operator_codes
                .get(op.opcode_index as usize)
                .ok_or_else(|| bad(format!("op #{i}: opcode index {} out of range", op.opcode_index)))?;
            let name = match custom {
                Some(c) if *code == 32 => format!("CUSTOM:{c}"),
                _ => builtin_name(*code),
            };
            self.current = (i, name.clone());
            if op.has_options_2 {
                return Err(self.unsupported("builtin_options_2"));
            }
            self.convert_op(*code, op)?;
            *self.op_counts.entry(name).or_default() += 1;
        }

        let mut outputs = Vec::new();
        for &to in &m.outputs {
            let t = self.tensor_index(to)?;
            let name = self.output_names[&t].clone();
            let Value::Dyn { name: produced, shape } = &self.values[t] else {
                return Err(bad(format!("output {name:?} is never computed")));
            };
            if *produced != name {
                return Err(bad(format!("output {name:?} is a graph input; unsupported")));
            }
            let shape = shape.clone();
            let dims: Vec<Dim> = shape
                .iter()
                .enumerate()
                .map(|(d, v)| match v {
                    Some(v) => Dim::Fixed(*v),
                    None if d == 0 && self.options.dynamic_batch => Dim::Symbolic("batch".into()),
                    None => Dim::Symbolic(format!("{name}_dim{d}")),
                })
                .collect();
            self.g.add_output(&name, DataType::Float, &dims);
            outputs.push(TensorInfo { name, shape: shape.iter().map(|d| d.unwrap_or(-1)).collect() });
        }

        let mut report = String::new();
        let _ = writeln!(report, "TFLite model (schema version {}): {} ops converted", m.version, m.operators.len());
        for (op, count) in &self.op_counts {
            let _ = writeln!(report, "  {op}: {count}");
        }
        let _ = writeln!(report, "subgraphs: {} (the first is converted)", m.subgraph_count);
        let _ = writeln!(report, "constant values: {}", self.parameters);
        let _ = writeln!(
            report,
            "dynamic batch: {}, dynamic spatial: {}",
            self.options.dynamic_batch, self.options.dynamic_spatial
        );
        let _ = writeln!(report, "ONNX nodes: {}", self.g.node_count());
        let model = self.g.into_model("reko-convert (tflite)", &[("source_format", "tflite")]);
        Ok(Converted { onnx: onnx::encode_model(&model), inputs, outputs, report })
    }

    fn convert_op(&mut self, code: i32, op: &Operator<'a>) -> Result<(), ConvertError> {
        match code {
            0 => self.binary(op, "Add", 11),
            41 => self.binary(op, "Sub", 28),
            18 => self.binary(op, "Mul", 21),
            42 => self.binary(op, "Div", 29),
            3 => self.conv(op, false),
            4 => self.conv(op, true),
            17 => self.pool(op, "MaxPool"),
            1 => self.pool(op, "AveragePool"),
            9 => self.fully_connected(op),
            22 => self.reshape(op),
            82 => self.reduce(op, "ReduceMax"),
            89 => self.reduce(op, "ReduceMin"),
            74 => self.reduce(op, "ReduceSum"),
            40 => self.reduce(op, "ReduceMean"),
            19 => self.unary(op, "Relu", 0),
            20 => self.unary(op, "Identity", 2),
            21 => self.unary(op, "Identity", 3),
            28 => self.unary(op, "Tanh", 0),
            14 => self.unary(op, "Sigmoid", 0),
            101 => self.unary(op, "Abs", 0),
            59 => self.unary(op, "Neg", 0),
            47 => self.unary(op, "Exp", 0),
            98 => self.leaky_relu(op),
            25 => self.softmax(op),
            2 => self.concatenation(op),
            6 => self.dequantize(op),
            45 => self.strided_slice(op),
            62 => self.compare(op, "GreaterOrEqual"),
            61 => self.compare(op, "Greater"),
            58 => self.compare(op, "Less"),
            53 => self.cast(op),
            _ => Err(self.unsupported("op not supported by the converter")),
        }
    }

    /// One-input elementwise op (with an optional activation applied after it: RELU6 and
    /// RELU_N1_TO_1 are an Identity followed by the matching clip).
    fn unary(&mut self, op: &Operator<'a>, onnx_op: &str, act: u8) -> Result<(), ConvertError> {
        if op.inputs.len() != 1 {
            return Err(self.op_error(format!("{} inputs, expected 1", op.inputs.len())));
        }
        let x = self.input(op, 0)?;
        let (x, shape) = self.operand(x)?;
        let t = self.output(op)?;
        if onnx_op == "Identity" && act != 0 {
            let out = self.out_name(t);
            self.emit_activation(&x, act, &out)?;
            return self.set(t, out, shape);
        }
        self.finish(t, onnx_op, &[&x], vec![], act, shape)
    }

    fn binary(&mut self, op: &Operator<'a>, onnx_op: &str, options_type: u8) -> Result<(), ConvertError> {
        if op.inputs.len() != 2 {
            return Err(self.op_error(format!("{} inputs, expected 2", op.inputs.len())));
        }
        let act = match self.options_table(op, options_type)? {
            Some(o) => self.fb(o.u8(0, 0))?,
            None => 0,
        };
        let (a, b) = (self.input(op, 0)?, self.input(op, 1)?);
        let (a, sa) = self.operand(a)?;
        let (b, sb) = self.operand(b)?;
        let shape = broadcast(&sa, &sb).ok_or_else(|| {
            self.op_error(format!("shapes {} and {} do not broadcast", fmt_shape(&sa), fmt_shape(&sb)))
        })?;
        let t = self.output(op)?;
        self.finish(t, onnx_op, &[&a, &b], vec![], act, shape)
    }

    fn leaky_relu(&mut self, op: &Operator<'a>) -> Result<(), ConvertError> {
        let alpha = match self.options_table(op, 75)? {
            Some(o) => self.fb(o.f32(0, 0.0))?,
            None => 0.0,
        };
        let x = self.input(op, 0)?;
        let (x, shape) = self.operand(x)?;
        let t = self.output(op)?;
        self.finish(t, "LeakyRelu", &[&x], vec![attr_float("alpha", alpha)], 0, shape)
    }

    fn softmax(&mut self, op: &Operator<'a>) -> Result<(), ConvertError> {
        let beta = match self.options_table(op, 9)? {
            Some(o) => self.fb(o.f32(0, 0.0))?,
            None => 0.0,
        };
        let x = self.input(op, 0)?;
        let (mut x, shape) = self.operand(x)?;
        if beta != 1.0 {
            let b = self.scalar("softmax_beta", beta);
            x = self.g.op("Mul", &[&x, &b], vec![], "softmax_scaled");
        }
        let t = self.output(op)?;
        self.finish(t, "Softmax", &[&x], vec![attr_int("axis", -1)], 0, shape)
    }

    fn concatenation(&mut self, op: &Operator<'a>) -> Result<(), ConvertError> {
        let (axis, act) = match self.options_table(op, 10)? {
            Some(o) => (self.fb(o.i32(0, 0))?, self.fb(o.u8(1, 0))?),
            None => (0, 0),
        };
        let mut names = Vec::new();
        let mut shapes: Vec<Shape> = Vec::new();
        for k in 0..op.inputs.len() {
            let t = self.input(op, k)?;
            let (n, s) = self.operand(t)?;
            names.push(n);
            shapes.push(s);
        }
        let Some(first) = shapes.first().cloned() else { return Err(self.op_error("no inputs")) };
        let rank = first.len() as i64;
        let axis = if axis < 0 { axis as i64 + rank } else { axis as i64 };
        if axis < 0 || axis >= rank {
            return Err(self.op_error(format!("axis {axis} out of range for rank {rank}")));
        }
        let a = axis as usize;
        let mut shape = first.clone();
        for s in &shapes[1..] {
            if s.len() != first.len() {
                return Err(self.op_error("inputs of different ranks"));
            }
            shape[a] = match (shape[a], s[a]) {
                (Some(x), Some(y)) => Some(x + y),
                _ => None,
            };
            for d in 0..s.len() {
                if d != a
                    && let (Some(x), Some(y)) = (shape[d], s[d])
                    && x != y
                {
                    return Err(self.op_error("inputs differ outside the concatenation axis"));
                }
            }
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let t = self.output(op)?;
        self.finish(t, "Concat", &refs, vec![attr_int("axis", axis)], act, shape)
    }

    /// A float comparison with a boolean result (broadcasting).
    fn compare(&mut self, op: &Operator<'a>, onnx_op: &str) -> Result<(), ConvertError> {
        if op.inputs.len() != 2 {
            return Err(self.op_error(format!("{} inputs, expected 2", op.inputs.len())));
        }
        let (a, b) = (self.input(op, 0)?, self.input(op, 1)?);
        let (a, sa) = self.operand(a)?;
        let (b, sb) = self.operand(b)?;
        let shape = broadcast(&sa, &sb).ok_or_else(|| {
            self.op_error(format!("shapes {} and {} do not broadcast", fmt_shape(&sa), fmt_shape(&sb)))
        })?;
        let t = self.output_of(op, BOOL)?;
        self.finish(t, onnx_op, &[&a, &b], vec![], 0, shape)
    }

    /// CAST from bool to float32 (the only cast float graphs need).
    fn cast(&mut self, op: &Operator<'a>) -> Result<(), ConvertError> {
        let x = self.input(op, 0)?;
        if self.m.tensors[x].dtype != BOOL {
            return Err(self.unsupported(format!("cast from {}", model::type_name(self.m.tensors[x].dtype))));
        }
        let (x, shape) = self.operand_of(x, BOOL)?;
        let t = self.output(op)?;
        self.finish(t, "Cast", &[&x], vec![attr_int("to", DataType::Float as i64)], 0, shape)
    }

    /// STRIDED_SLICE with constant begin/end/strides, begin/end/shrink masks (no ellipsis, new axis
    /// or offset). Sliced axes must have a known size; a dynamic axis may only be taken whole.
    fn strided_slice(&mut self, op: &Operator<'a>) -> Result<(), ConvertError> {
        let Some(o) = self.options_table(op, 32)? else { return Err(self.op_error("missing options")) };
        let begin_mask = self.fb(o.i32(0, 0))?;
        let end_mask = self.fb(o.i32(1, 0))?;
        let (ellipsis, new_axis) = (self.fb(o.i32(2, 0))?, self.fb(o.i32(3, 0))?);
        let shrink = self.fb(o.i32(4, 0))?;
        if ellipsis != 0 || new_axis != 0 || self.fb(o.bool(5, false))? {
            return Err(self.unsupported("ellipsis_mask, new_axis_mask or offset"));
        }
        let x = self.input(op, 0)?;
        let (x, xs) = self.operand(x)?;
        let (b, e, st) = (self.input(op, 1)?, self.input(op, 2)?, self.input(op, 3)?);
        let (begin, end, strides) = (self.const_i32(b)?.1, self.const_i32(e)?.1, self.const_i32(st)?.1);
        if begin.len() != end.len() || begin.len() != strides.len() || begin.len() > xs.len() {
            return Err(self.op_error(format!("begin {begin:?}, end {end:?}, strides {strides:?}")));
        }
        let (mut starts, mut ends, mut axes, mut steps, mut squeeze) = (vec![], vec![], vec![], vec![], vec![]);
        let mut shape = Vec::new();
        for (d, &dim) in xs.iter().enumerate() {
            if d >= begin.len() {
                shape.push(dim);
                continue;
            }
            // an i32 mask has no bit for dimension 32 and up (a wider shift would overflow)
            let bit = |m: i32| d < 32 && m >> d & 1 == 1;
            let s = strides[d] as i64;
            if s == 0 {
                return Err(self.op_error("stride 0"));
            }
            let whole = bit(begin_mask) && bit(end_mask) && s == 1 && !bit(shrink);
            let Some(n) = dim else {
                if whole {
                    shape.push(None);
                    continue;
                }
                return Err(self.op_error(format!("slicing dynamic dim {d} of {}", fmt_shape(&xs))));
            };
            let wrap = |v: i64| if v < 0 { v + n } else { v };
            let (first, last, step) = if bit(shrink) {
                let first = match (bit(begin_mask), s > 0) {
                    (true, true) => 0,
                    (true, false) => n - 1,
                    (false, _) => wrap(begin[d] as i64),
                };
                if first < 0 || first >= n {
                    return Err(self.op_error(format!("shrink index {} out of range for {n}", begin[d])));
                }
                squeeze.push(d as i64);
                (first, first + 1, 1)
            } else if s > 0 {
                let first = if bit(begin_mask) { 0 } else { wrap(begin[d] as i64).clamp(0, n) };
                let last = if bit(end_mask) { n } else { wrap(end[d] as i64).clamp(0, n) };
                shape.push(Some(((last - first + s - 1) / s).max(0)));
                (first, last, s)
            } else {
                let first = if bit(begin_mask) { n - 1 } else { wrap(begin[d] as i64).clamp(-1, n - 1) };
                let last = if bit(end_mask) { -1 } else { wrap(end[d] as i64).clamp(-1, n - 1) };
                shape.push(Some(((first - last + (-s) - 1) / -s).max(0)));
                // ONNX reads a negative end as counted from the back: "before index 0" is i64::MIN
                (first, if last < 0 { i64::MIN } else { last }, s)
            };
            if !(first == 0 && last == n && step == 1) {
                starts.push(first);
                ends.push(last);
                axes.push(d as i64);
                steps.push(step);
            }
        }
        let t = self.output(op)?;
        let mut y = x;
        if !axes.is_empty() {
            let k = axes.len() as i64;
            let ins = [
                self.g.add_initializer_i64("slice_starts", &[k], &starts),
                self.g.add_initializer_i64("slice_ends", &[k], &ends),
                self.g.add_initializer_i64("slice_axes", &[k], &axes),
                self.g.add_initializer_i64("slice_steps", &[k], &steps),
            ];
            if squeeze.is_empty() {
                return self.finish(t, "Slice", &[&y, &ins[0], &ins[1], &ins[2], &ins[3]], vec![], 0, shape);
            }
            y = self.g.op("Slice", &[&y, &ins[0], &ins[1], &ins[2], &ins[3]], vec![], "slice");
        }
        if squeeze.is_empty() {
            return self.finish(t, "Identity", &[&y], vec![], 0, shape);
        }
        let sq = self.g.add_initializer_i64("squeeze_axes", &[squeeze.len() as i64], &squeeze);
        self.finish(t, "Squeeze", &[&y, &sq], vec![], 0, shape)
    }

    /// DEQUANTIZE of a float16 constant folds into a float32 constant.
    fn dequantize(&mut self, op: &Operator<'a>) -> Result<(), ConvertError> {
        let x = self.input(op, 0)?;
        let Value::Const { dims, data: ConstData::F16(v) } = &self.values[x] else {
            return Err(self.unsupported("only float16 constants are dequantized"));
        };
        let values: Vec<f32> = v.iter().map(|&h| f16_to_f32(h)).collect();
        let dims = dims.clone();
        let t = self.output(op)?;
        self.values[t] = Value::Const { dims, data: ConstData::F32(values) };
        Ok(())
    }

    /// Geometry and padding attributes for NCHW Conv/Pool, plus the NHWC output H and W.
    fn window_attrs(
        &self,
        w: &Window,
        h_in: Option<i64>,
        w_in: Option<i64>,
    ) -> Result<(Vec<onnx::AttributeProto>, [Option<i64>; 2]), ConvertError> {
        if w.strides.iter().chain(&w.dilations).chain(&w.kernel).any(|&v| v < 1) {
            return Err(self.op_error(format!(
                "bad window: kernel {:?}, strides {:?}, dilations {:?}",
                w.kernel, w.strides, w.dilations
            )));
        }
        let mut attrs = vec![attr_ints("kernel_shape", &w.kernel), attr_ints("strides", &w.strides)];
        let ins = [h_in, w_in];
        let mut outs = [None, None];
        if w.same {
            if let (Some(h), Some(wd)) = (h_in, w_in) {
                let (oh, ht, hb) = same_padding(h, w.kernel[0], w.strides[0], w.dilations[0]);
                let (ow, wl, wr) = same_padding(wd, w.kernel[1], w.strides[1], w.dilations[1]);
                attrs.push(attr_ints("pads", &[ht, wl, hb, wr]));
                outs = [Some(oh), Some(ow)];
            } else {
                attrs.push(attr_string("auto_pad", "SAME_UPPER"));
                for d in 0..2 {
                    outs[d] = ins[d].map(|v| (v + w.strides[d] - 1) / w.strides[d]);
                }
            }
        } else {
            attrs.push(attr_ints("pads", &[0, 0, 0, 0]));
            for d in 0..2 {
                outs[d] = match ins[d] {
                    Some(v) => Some(valid_output(v, w.kernel[d], w.strides[d], w.dilations[d]).ok_or_else(|| {
                        self.op_error(format!("VALID window {} does not fit input size {v}", w.kernel[d]))
                    })?),
                    None => None,
                };
            }
        }
        Ok((attrs, outs))
    }

    fn padding_flag(&self, padding: u8) -> Result<bool, ConvertError> {
        match padding {
            0 => Ok(true),
            1 => Ok(false),
            other => Err(self.unsupported(format!("padding {other}"))),
        }
    }

    fn nhwc_input(&mut self, op: &Operator<'a>) -> Result<(String, Shape), ConvertError> {
        let x = self.input(op, 0)?;
        let (x, shape) = self.operand(x)?;
        if shape.len() != 4 {
            return Err(self.op_error(format!("input shape {} is not NHWC", fmt_shape(&shape))));
        }
        Ok((x, shape))
    }

    fn conv(&mut self, op: &Operator<'a>, depthwise: bool) -> Result<(), ConvertError> {
        let o = self.options_table(op, if depthwise { 2 } else { 1 })?;
        let (padding, sw, sh, act, dw, dh) = match o {
            Some(o) if depthwise => (
                self.fb(o.u8(0, 0))?,
                self.fb(o.i32(1, 0))?,
                self.fb(o.i32(2, 0))?,
                self.fb(o.u8(4, 0))?,
                self.fb(o.i32(5, 1))?,
                self.fb(o.i32(6, 1))?,
            ),
            Some(o) => (
                self.fb(o.u8(0, 0))?,
                self.fb(o.i32(1, 0))?,
                self.fb(o.i32(2, 0))?,
                self.fb(o.u8(3, 0))?,
                self.fb(o.i32(4, 1))?,
                self.fb(o.i32(5, 1))?,
            ),
            None => return Err(self.op_error("missing options")),
        };
        if !depthwise && let Some(o) = o {
            let bias_type = self.fb(o.u8(6, 0))?;
            if bias_type != 0 {
                return Err(self.unsupported(format!("quantized_bias_type {bias_type}")));
            }
        }
        let same = self.padding_flag(padding)?;
        let (x, xs) = self.nhwc_input(op)?;
        let w_t = self.input(op, 1)?;
        let (wd, w) = self.const_f32(w_t)?;
        if wd.len() != 4 {
            return Err(self.op_error(format!("filter shape {wd:?} is not 4-D")));
        }
        let c = xs[3].ok_or_else(|| self.op_error("input channels must be known"))?;
        let (out_channels, kh, kw) = if depthwise { (wd[3], wd[1], wd[2]) } else { (wd[0], wd[1], wd[2]) };
        let (group, onnx_w) = if depthwise {
            // [1, KH, KW, C*M] -> [C*M, 1, KH, KW]; the multiplier comes from the shapes
            if wd[0] != 1 || c == 0 || out_channels % c != 0 {
                return Err(self.op_error(format!("depthwise filter {wd:?} does not fit {c} input channels")));
            }
            let mut t = vec![0f32; w.len()];
            let (kh_u, kw_u, oc_u) = (kh as usize, kw as usize, out_channels as usize);
            for y in 0..kh_u {
                for x in 0..kw_u {
                    for o in 0..oc_u {
                        t[(o * kh_u + y) * kw_u + x] = w[(y * kw_u + x) * oc_u + o];
                    }
                }
            }
            (c, t)
        } else {
            // OHWI -> OIHW, grouped when the filter has fewer input channels than the input
            let i = wd[3];
            if i == 0 || c % i != 0 {
                return Err(self.op_error(format!("filter {wd:?} does not fit {c} input channels")));
            }
            let (o_u, kh_u, kw_u, i_u) = (wd[0] as usize, kh as usize, kw as usize, i as usize);
            let mut t = vec![0f32; w.len()];
            for o in 0..o_u {
                for y in 0..kh_u {
                    for x in 0..kw_u {
                        for ci in 0..i_u {
                            t[((o * i_u + ci) * kh_u + y) * kw_u + x] = w[((o * kh_u + y) * kw_u + x) * i_u + ci];
                        }
                    }
                }
            }
            (c / i, t)
        };
        let onnx_dims = [out_channels, if depthwise { 1 } else { wd[3] }, kh, kw];
        let w_name = self.g.add_initializer_f32(&format!("{}_oihw", self.tensor_name(w_t)), &onnx_dims, &onnx_w);
        let mut conv_inputs = vec![String::new(), w_name];
        if let Some(b) = self.optional_input(op, 2)? {
            let (bd, _) = self.const_f32(b)?;
            if bd != [out_channels] {
                return Err(self.op_error(format!("bias shape {bd:?}, expected [{out_channels}]")));
            }
            conv_inputs.push(self.operand(b)?.0);
        }
        let window =
            Window { kernel: [kh, kw], strides: [sh as i64, sw as i64], dilations: [dh as i64, dw as i64], same };
        let (mut attrs, [oh, ow]) = self.window_attrs(&window, xs[1], xs[2])?;
        attrs.push(attr_ints("dilations", &window.dilations));
        attrs.push(attr_int("group", group));
        conv_inputs[0] = self.g.op("Transpose", &[&x], vec![attr_ints("perm", &[0, 3, 1, 2])], "nchw");
        let refs: Vec<&str> = conv_inputs.iter().map(String::as_str).collect();
        let y = self.g.op("Conv", &refs, attrs, "conv");
        let t = self.output(op)?;
        self.finish(
            t,
            "Transpose",
            &[&y],
            vec![attr_ints("perm", &[0, 2, 3, 1])],
            act,
            vec![xs[0], oh, ow, Some(out_channels)],
        )
    }

    fn pool(&mut self, op: &Operator<'a>, onnx_op: &str) -> Result<(), ConvertError> {
        let Some(o) = self.options_table(op, 5)? else { return Err(self.op_error("missing options")) };
        let padding = self.fb(o.u8(0, 0))?;
        let (sw, sh) = (self.fb(o.i32(1, 0))?, self.fb(o.i32(2, 0))?);
        let (fw, fh) = (self.fb(o.i32(3, 0))?, self.fb(o.i32(4, 0))?);
        let act = self.fb(o.u8(5, 0))?;
        let same = self.padding_flag(padding)?;
        let (x, xs) = self.nhwc_input(op)?;
        let window =
            Window { kernel: [fh as i64, fw as i64], strides: [sh as i64, sw as i64], dilations: [1, 1], same };
        let (mut attrs, [oh, ow]) = self.window_attrs(&window, xs[1], xs[2])?;
        if onnx_op == "AveragePool" {
            // TFLite averages over the valid (unpadded) pixels only
            attrs.push(attr_int("count_include_pad", 0));
        }
        let nchw = self.g.op("Transpose", &[&x], vec![attr_ints("perm", &[0, 3, 1, 2])], "nchw");
        let y = self.g.op(onnx_op, &[&nchw], attrs, "pool");
        let t = self.output(op)?;
        self.finish(t, "Transpose", &[&y], vec![attr_ints("perm", &[0, 2, 3, 1])], act, vec![xs[0], oh, ow, xs[3]])
    }

    fn fully_connected(&mut self, op: &Operator<'a>) -> Result<(), ConvertError> {
        let (act, format, keep) = match self.options_table(op, 8)? {
            Some(o) => {
                let bias_type = self.fb(o.u8(4, 0))?;
                if bias_type != 0 {
                    return Err(self.unsupported(format!("quantized_bias_type {bias_type}")));
                }
                (self.fb(o.u8(0, 0))?, self.fb(o.u8(1, 0))?, self.fb(o.bool(2, false))?)
            }
            None => (0, 0, false),
        };
        if format != 0 {
            return Err(self.unsupported(format!("weights_format {format}")));
        }
        let x = self.input(op, 0)?;
        let (x, xs) = self.operand(x)?;
        let w_t = self.input(op, 1)?;
        let (wd, w) = self.const_f32(w_t)?;
        let [out, inp] = wd[..] else { return Err(self.op_error(format!("weights shape {wd:?} is not [out, in]"))) };
        let bias = match self.optional_input(op, 2)? {
            Some(b) => {
                let (bd, _) = self.const_f32(b)?;
                if bd != [out] {
                    return Err(self.op_error(format!("bias shape {bd:?}, expected [{out}]")));
                }
                Some(self.operand(b)?.0)
            }
            None => None,
        };
        let t = self.output(op)?;
        if keep {
            if xs.last().copied().flatten() != Some(inp) {
                return Err(self.op_error(format!("input {} does not end in {inp}", fmt_shape(&xs))));
            }
            let (o_u, i_u) = (out as usize, inp as usize);
            let mut wt = vec![0f32; w.len()];
            for o in 0..o_u {
                for i in 0..i_u {
                    wt[i * o_u + o] = w[o * i_u + i];
                }
            }
            let wt = self.g.add_initializer_f32(&format!("{}_t", self.tensor_name(w_t)), &[inp, out], &wt);
            let mut shape = xs.clone();
            *shape.last_mut().expect("rank >= 1") = Some(out);
            return match bias {
                Some(b) => {
                    let mm = self.g.op("MatMul", &[&x, &wt], vec![], "fc");
                    self.finish(t, "Add", &[&mm, &b], vec![], act, shape)
                }
                None => self.finish(t, "MatMul", &[&x, &wt], vec![], act, shape),
            };
        }
        // [.., in] flattened to [rows, in]; rows stay dynamic only when the rest is exactly `in`
        let rows = match known(&xs) {
            Some(dims) => {
                let n = numel(&dims).unwrap_or(0) as i64;
                if inp == 0 || n % inp != 0 {
                    return Err(self.op_error(format!("input {dims:?} does not flatten to rows of {inp}")));
                }
                Some(n / inp)
            }
            None => {
                let rest = known(&xs[1..]).and_then(|r| numel(&r));
                if xs[0].is_some() || rest != Some(inp as usize) {
                    return Err(self.op_error(format!(
                        "cannot flatten {} to [-1, {inp}] without mixing the dynamic dims",
                        fmt_shape(&xs)
                    )));
                }
                None
            }
        };
        let x2 = if xs.len() == 2 && xs[1] == Some(inp) {
            x
        } else {
            let target = self.g.add_initializer_i64("fc_shape", &[2], &[-1, inp]);
            self.g.op("Reshape", &[&x, &target], vec![], "fc_in")
        };
        let mut ins = vec![x2, self.operand(w_t)?.0];
        ins.extend(bias);
        let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
        self.finish(t, "Gemm", &refs, vec![attr_int("transB", 1)], act, vec![rows, Some(out)])
    }

    fn reshape(&mut self, op: &Operator<'a>) -> Result<(), ConvertError> {
        let x_t = self.input(op, 0)?;
        let (x, xs) = self.operand(x_t)?;
        let target: Vec<i64> = match self.optional_input(op, 1)? {
            Some(s) => {
                let (sd, v) = self.const_i32(s)?;
                if sd.len() > 1 {
                    return Err(self.op_error(format!("shape tensor of shape {sd:?}")));
                }
                v.iter().map(|&d| d as i64).collect()
            }
            None => match self.options_table(op, 17)? {
                Some(o) => match self.fb(o.vector(0, 4))? {
                    Some(v) => self.fb(v.i32s())?.iter().map(|&d| d as i64).collect(),
                    None => return Err(self.op_error("no new shape")),
                },
                None => return Err(self.op_error("no new shape")),
            },
        };
        if target.iter().any(|&d| d == 0 || d < -1) || target.iter().filter(|&&d| d == -1).count() > 1 {
            return Err(self.unsupported(format!("new shape {target:?}")));
        }
        // resolve against the model's static input shape
        let declared: Vec<i64> = self.m.tensors[x_t].shape.iter().map(|&d| d as i64).collect();
        let static_in: Vec<i64> = xs.iter().zip(&declared).map(|(d, &s)| d.unwrap_or(s)).collect();
        if xs.len() != declared.len() {
            return Err(self.op_error("input rank differs from the declared one"));
        }
        let total = numel(&static_in).ok_or_else(|| self.op_error("bad input shape"))? as i64;
        // products that overflow cannot equal the input's element count
        let Some(known_part) = target.iter().filter(|&&d| d != -1).try_fold(1i64, |acc, &d| acc.checked_mul(d)) else {
            return Err(self.op_error(format!("cannot reshape {static_in:?} to {target:?}")));
        };
        let mut resolved = target.clone();
        if let Some(p) = resolved.iter().position(|&d| d == -1) {
            if known_part == 0 || total % known_part != 0 {
                return Err(self.op_error(format!("cannot reshape {static_in:?} to {target:?}")));
            }
            resolved[p] = total / known_part;
        }
        if resolved.iter().try_fold(1i64, |acc, &d| acc.checked_mul(d)) != Some(total) {
            return Err(self.op_error(format!("cannot reshape {static_in:?} to {target:?}")));
        }
        let (onnx_target, shape): (Vec<i64>, Shape) = if known(&xs).is_some() {
            (resolved.clone(), resolved.iter().map(|&d| Some(d)).collect())
        } else {
            // only a dynamic batch survives: dim 0 kept as is, the rest fixed
            let rest_in = known(&xs[1..]).and_then(|r| numel(&r));
            let rest_out = numel(&resolved[1.min(resolved.len())..]);
            if xs[0].is_some() || resolved.first() != declared.first() || rest_in.is_none() || rest_in != rest_out {
                return Err(self.op_error(format!(
                    "reshape of {} to {target:?} mixes the dynamic dims; convert without dynamic dims",
                    fmt_shape(&xs)
                )));
            }
            let mut t = resolved.clone();
            t[0] = -1;
            let mut s: Shape = resolved.iter().map(|&d| Some(d)).collect();
            s[0] = None;
            (t, s)
        };
        let shape_name = self.g.add_initializer_i64("reshape_shape", &[onnx_target.len() as i64], &onnx_target);
        let t = self.output(op)?;
        self.finish(t, "Reshape", &[&x, &shape_name], vec![], 0, shape)
    }

    fn reduce(&mut self, op: &Operator<'a>, onnx_op: &str) -> Result<(), ConvertError> {
        let keep = match self.options_table(op, 27)? {
            Some(o) => self.fb(o.bool(0, false))?,
            None => false,
        };
        let x = self.input(op, 0)?;
        let (x, xs) = self.operand(x)?;
        let a = self.input(op, 1)?;
        let (ad, axes) = self.const_i32(a)?;
        if ad.len() > 1 || axes.is_empty() {
            return Err(self.unsupported(format!("axes {axes:?} of shape {ad:?}")));
        }
        let rank = xs.len() as i64;
        let mut norm = Vec::new();
        for &ax in &axes {
            let v = if ax < 0 { ax as i64 + rank } else { ax as i64 };
            if v < 0 || v >= rank {
                return Err(self.op_error(format!("axis {ax} out of range for rank {rank}")));
            }
            if !norm.contains(&v) {
                norm.push(v);
            }
        }
        norm.sort_unstable();
        let mut shape = Vec::new();
        for (d, &dim) in xs.iter().enumerate() {
            if norm.contains(&(d as i64)) {
                if keep {
                    shape.push(Some(1));
                }
            } else {
                shape.push(dim);
            }
        }
        let t = self.output(op)?;
        let keepdims = attr_int("keepdims", keep as i64);
        if onnx_op == "ReduceSum" {
            let axes_name = self.g.add_initializer_i64("axes", &[norm.len() as i64], &norm);
            self.finish(t, onnx_op, &[&x, &axes_name], vec![keepdims], 0, shape)
        } else {
            self.finish(t, onnx_op, &[&x], vec![attr_ints("axes", &norm), keepdims], 0, shape)
        }
    }
}

/// IEEE 754 half to single precision.
fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let mant = (h & 0x3ff) as u32;
    let bits = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // subnormal: normalise
            let mut e = 127 - 15 + 1;
            let mut m = m;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_puts_the_odd_pixel_at_the_end() {
        // 112 -> 56 with a 3x3 stride-2 window: one pixel of padding, at the end
        assert_eq!(same_padding(112, 3, 2, 1), (56, 0, 1));
        // 22 -> 11 with 3x3 stride 2 (MTCNN rnet pool1)
        assert_eq!(same_padding(22, 3, 2, 1), (11, 0, 1));
        // stride 1: (k - 1) split evenly, the odd one at the end
        assert_eq!(same_padding(10, 3, 1, 1), (10, 1, 1));
        assert_eq!(same_padding(10, 4, 1, 1), (10, 1, 2));
        // odd input, stride 2, 3x3: out 4, total = 3*2 + 3 - 7 = 2
        assert_eq!(same_padding(7, 3, 2, 1), (4, 1, 1));
        // dilation widens the window: effective 5
        assert_eq!(same_padding(8, 3, 1, 2), (8, 2, 2));
        // window smaller than the stride: no padding needed
        assert_eq!(same_padding(8, 1, 2, 1), (4, 0, 0));
        // 7x7 on a 7x7 input with stride 1
        assert_eq!(same_padding(7, 7, 1, 1), (7, 3, 3));
    }

    #[test]
    fn valid_output_sizes() {
        assert_eq!(valid_output(48, 3, 1, 1), Some(46));
        assert_eq!(valid_output(46, 3, 2, 1), Some(22));
        assert_eq!(valid_output(9, 3, 2, 1), Some(4));
        assert_eq!(valid_output(8, 3, 1, 4), None);
        assert_eq!(valid_output(2, 3, 1, 1), None);
    }

    #[test]
    fn broadcasting_with_dynamic_dims() {
        assert_eq!(broadcast(&[None, Some(56), Some(64)], &[Some(64)]), Some(vec![None, Some(56), Some(64)]));
        assert_eq!(broadcast(&[None, Some(2)], &[None, Some(1)]), Some(vec![None, Some(2)]));
        assert_eq!(broadcast(&[Some(3)], &[Some(4)]), None);
    }

    #[test]
    fn half_floats() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    /// A one-op model: input tensor 0 [1, 4], output tensor 1 [1, 4], the op's builtin `code`.
    fn one_op_model(code: i32, quantized: bool) -> Model<'static> {
        let tensor = |name: &str| model::Tensor {
            name: name.to_string(),
            shape: vec![1, 4],
            shape_signature: None,
            dtype: FLOAT32,
            buffer: 0,
            quantized,
            is_variable: false,
            sparse: false,
        };
        Model {
            version: 3,
            operator_codes: vec![(code, None)],
            subgraph_count: 1,
            tensors: vec![tensor("x"), tensor("y")],
            inputs: vec![0],
            outputs: vec![1],
            operators: vec![Operator {
                opcode_index: 0,
                inputs: vec![0],
                outputs: vec![1],
                options: None,
                has_options_2: false,
            }],
            buffers: vec![&[]],
        }
    }

    fn convert(m: &Model<'_>, options: &TfliteOptions) -> Result<Converted, ConvertError> {
        Converter::new(m, options)?.run()
    }

    #[test]
    fn unsupported_ops_are_refused_by_name() {
        let err = convert(&one_op_model(39, false), &TfliteOptions::default()).unwrap_err();
        assert!(matches!(&err, ConvertError::UnsupportedOp { op, .. } if op.starts_with("TRANSPOSE")), "{err}");
        let err = convert(&one_op_model(250, false), &TfliteOptions::default()).unwrap_err();
        assert!(err.to_string().contains("BUILTIN_250"), "{err}");
    }

    #[test]
    fn quantized_tensors_are_refused() {
        let err = convert(&one_op_model(19, true), &TfliteOptions::default()).unwrap_err();
        assert!(matches!(&err, ConvertError::BadModel(m) if m.contains("quantized")), "{err}");
    }

    #[test]
    fn a_supported_op_converts_with_a_dynamic_batch() {
        let c =
            convert(&one_op_model(19, false), &TfliteOptions { dynamic_batch: true, dynamic_spatial: false }).unwrap();
        assert_eq!(c.inputs, vec![TensorInfo { name: "x".into(), shape: vec![-1, 4] }]);
        assert_eq!(c.outputs, vec![TensorInfo { name: "y".into(), shape: vec![-1, 4] }]);
        assert!(c.report.contains("RELU: 1"), "{}", c.report);
    }

    #[test]
    fn bad_indices_and_input_counts_are_errors() {
        let mut m = one_op_model(19, false);
        m.operators[0].inputs = vec![0, 5];
        let err = convert(&m, &TfliteOptions::default()).unwrap_err();
        assert!(err.to_string().contains("2 inputs, expected 1"), "{err}");
        let mut m = one_op_model(19, false);
        m.operators[0].inputs = vec![7];
        let err = convert(&m, &TfliteOptions::default()).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
    }

    #[test]
    fn garbage_is_a_bad_model_error() {
        for bytes in [&b""[..], b"\x08\0\0\0TFL3", b"\x04\0\0\0XXXX\0\0\0\0"] {
            let err = convert_tflite_bytes(bytes, &TfliteOptions::default()).unwrap_err();
            assert!(matches!(err, ConvertError::BadModel(_)), "{err}");
        }
    }
}
