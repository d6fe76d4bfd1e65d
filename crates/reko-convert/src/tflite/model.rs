//! The parts of the TFLite schema (`tensorflow/lite/schema/schema.fbs`, identifier "TFL3") the
//! converter reads: model, operator codes, the main subgraph, tensors, operators and buffers.
//! Field ids are those of schema.fbs; builtin options stay as raw tables, read per op.

use super::flatbuf::{FbError, FbResult, Table};

/// `TensorType` values used here.
pub const FLOAT32: u8 = 0;
pub const FLOAT16: u8 = 1;
pub const INT32: u8 = 2;
pub const INT64: u8 = 4;
pub const BOOL: u8 = 6;

/// Name of a `TensorType`, for error messages.
pub fn type_name(t: u8) -> &'static str {
    const NAMES: [&str; 19] = [
        "FLOAT32",
        "FLOAT16",
        "INT32",
        "UINT8",
        "INT64",
        "STRING",
        "BOOL",
        "INT16",
        "COMPLEX64",
        "INT8",
        "FLOAT64",
        "COMPLEX128",
        "UINT64",
        "RESOURCE",
        "VARIANT",
        "UINT32",
        "UINT16",
        "INT4",
        "BFLOAT16",
    ];
    NAMES.get(t as usize).copied().unwrap_or("UNKNOWN")
}

#[derive(Debug)]
pub struct Model<'a> {
    pub version: u32,
    /// Builtin code per operator code (`max(deprecated_builtin_code, builtin_code)`), with the
    /// custom code name when there is one.
    pub operator_codes: Vec<(i32, Option<String>)>,
    pub subgraph_count: usize,
    pub tensors: Vec<Tensor>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub operators: Vec<Operator<'a>>,
    /// Buffer contents (empty for tensors without constant data).
    pub buffers: Vec<&'a [u8]>,
}

#[derive(Debug)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<i32>,
    /// `shape_signature` when present (-1 marks a dynamic dimension).
    pub shape_signature: Option<Vec<i32>>,
    pub dtype: u8,
    pub buffer: u32,
    /// True when the tensor carries quantization scales (or a custom quantization).
    pub quantized: bool,
    pub is_variable: bool,
    pub sparse: bool,
}

#[derive(Debug)]
pub struct Operator<'a> {
    pub opcode_index: u32,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    /// `builtin_options`: the union type and its table.
    pub options: Option<(u8, Table<'a>)>,
    pub has_options_2: bool,
}

fn need<T>(value: Option<T>, what: &str) -> FbResult<T> {
    value.ok_or_else(|| FbError(format!("missing {what}")))
}

fn ints(t: &Table<'_>, id: usize) -> FbResult<Vec<i32>> {
    Ok(match t.vector(id, 4)? {
        Some(v) => v.i32s()?,
        None => Vec::new(),
    })
}

/// Parses a TFLite flatbuffer (the first subgraph is the model's main graph).
pub fn parse(bytes: &[u8]) -> FbResult<Model<'_>> {
    let root = Table::root(bytes, Some(b"TFL3"))?;
    let version = root.u32(0, 0)?;

    let mut operator_codes = Vec::new();
    if let Some(codes) = root.vector(1, 4)? {
        for i in 0..codes.len() {
            let c = codes.table(i)?;
            let deprecated = c.i8(0, 0)? as i32;
            let custom = c.string(1)?.map(str::to_string);
            let builtin = c.i32(3, 0)?;
            operator_codes.push((deprecated.max(builtin), custom));
        }
    }

    let subgraphs = need(root.vector(2, 4)?, "subgraphs")?;
    if subgraphs.is_empty() {
        return Err(FbError("the model has no subgraph".into()));
    }
    let sg = subgraphs.table(0)?;

    let mut tensors = Vec::new();
    if let Some(ts) = sg.vector(0, 4)? {
        for i in 0..ts.len() {
            let t = ts.table(i)?;
            let quantized = match t.table(4)? {
                Some(q) => q.vector(2, 4)?.is_some_and(|s| !s.is_empty()) || q.union(4)?.is_some(),
                None => false,
            };
            let shape_signature = match t.vector(7, 4)? {
                Some(v) => Some(v.i32s()?),
                None => None,
            };
            tensors.push(Tensor {
                name: t.string(3)?.unwrap_or_default().to_string(),
                shape: ints(&t, 0)?,
                shape_signature,
                dtype: t.u8(1, 0)?,
                buffer: t.u32(2, 0)?,
                quantized,
                is_variable: t.bool(5, false)?,
                sparse: t.table(6)?.is_some(),
            });
        }
    }

    let mut operators = Vec::new();
    if let Some(ops) = sg.vector(3, 4)? {
        for i in 0..ops.len() {
            let o = ops.table(i)?;
            operators.push(Operator {
                opcode_index: o.u32(0, 0)?,
                inputs: ints(&o, 1)?,
                outputs: ints(&o, 2)?,
                options: o.union(3)?,
                has_options_2: o.u8(11, 0)? != 0,
            });
        }
    }

    let mut buffers = Vec::new();
    if let Some(bs) = root.vector(4, 4)? {
        for i in 0..bs.len() {
            let b = bs.table(i)?;
            if b.u64(1, 0)? > 1 || b.u64(2, 0)? > 0 {
                return Err(FbError(format!("buffer {i} is stored outside the flatbuffer (offset/size), unsupported")));
            }
            buffers.push(match b.vector(0, 1)? {
                Some(v) => v.bytes()?,
                None => &[][..],
            });
        }
    }

    Ok(Model {
        version,
        operator_codes,
        subgraph_count: subgraphs.len(),
        tensors,
        inputs: ints(&sg, 1)?,
        outputs: ints(&sg, 2)?,
        operators,
        buffers,
    })
}
