//! A minimal ONNX writer: the protobuf messages of `onnx.proto` (hand-written `prost` structs with the
//! official field numbers) and a small graph builder that every converter (TF.js, TFLite, weights-only)
//! shares.
//!
//! Only the fields a converter writes are declared; a reader that needs more should extend these
//! structs with the field numbers from the official `onnx.proto`. Repeated scalar fields that
//! `onnx.proto` (proto2) leaves unpacked are declared `packed = "false"`, matching the reference
//! serializer byte for byte; protobuf parsers accept either form.

use std::collections::HashSet;

use prost::Message;

/// The IR version written into every model (ONNX 1.10+ readers accept it).
pub const IR_VERSION: i64 = 8;
/// The default-domain opset written into every model.
pub const OPSET_VERSION: i64 = 17;

/// `onnx.ModelProto`.
#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    #[prost(string, tag = "2")]
    pub producer_name: String,
    #[prost(string, tag = "3")]
    pub producer_version: String,
    #[prost(string, tag = "4")]
    pub domain: String,
    #[prost(int64, tag = "5")]
    pub model_version: i64,
    #[prost(string, tag = "6")]
    pub doc_string: String,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "14")]
    pub metadata_props: Vec<StringStringEntryProto>,
}

/// `onnx.OperatorSetIdProto`.
#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

/// `onnx.StringStringEntryProto`.
#[derive(Clone, PartialEq, Message)]
pub struct StringStringEntryProto {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `onnx.GraphProto`.
#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(string, tag = "10")]
    pub doc_string: String,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "13")]
    pub value_info: Vec<ValueInfoProto>,
}

/// `onnx.NodeProto`.
#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub op_type: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
    #[prost(string, tag = "6")]
    pub doc_string: String,
    #[prost(string, tag = "7")]
    pub domain: String,
}

/// `onnx.AttributeProto.AttributeType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AttributeType {
    Undefined = 0,
    Float = 1,
    Int = 2,
    String = 3,
    Tensor = 4,
    Graph = 5,
    Floats = 6,
    Ints = 7,
    Strings = 8,
    Tensors = 9,
    Graphs = 10,
}

/// `onnx.AttributeProto`. The proto2 scalars `f`, `i` and `s` keep their presence (an int attribute of
/// value 0 is still written), as ONNX checkers require exactly one value field.
#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "21")]
    pub ref_attr_name: String,
    #[prost(string, tag = "13")]
    pub doc_string: String,
    #[prost(enumeration = "AttributeType", tag = "20")]
    pub r#type: i32,
    #[prost(float, optional, tag = "2")]
    pub f: Option<f32>,
    #[prost(int64, optional, tag = "3")]
    pub i: Option<i64>,
    #[prost(bytes = "vec", optional, tag = "4")]
    pub s: Option<Vec<u8>>,
    #[prost(message, optional, tag = "5")]
    pub t: Option<TensorProto>,
    #[prost(message, optional, tag = "6")]
    pub g: Option<GraphProto>,
    #[prost(float, repeated, packed = "false", tag = "7")]
    pub floats: Vec<f32>,
    #[prost(int64, repeated, packed = "false", tag = "8")]
    pub ints: Vec<i64>,
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub strings: Vec<Vec<u8>>,
    #[prost(message, repeated, tag = "10")]
    pub tensors: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    pub graphs: Vec<GraphProto>,
}

/// `onnx.TensorProto.DataType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum DataType {
    Undefined = 0,
    Float = 1,
    Uint8 = 2,
    Int8 = 3,
    Uint16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    Uint32 = 12,
    Uint64 = 13,
}

/// `onnx.TensorProto`. Converters write values into `raw_data` (little-endian).
#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    #[prost(int64, repeated, packed = "false", tag = "1")]
    pub dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    #[prost(float, repeated, tag = "4")]
    pub float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    pub int32_data: Vec<i32>,
    #[prost(int64, repeated, tag = "7")]
    pub int64_data: Vec<i64>,
    #[prost(string, tag = "8")]
    pub name: String,
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
    #[prost(string, tag = "12")]
    pub doc_string: String,
}

/// `onnx.ValueInfoProto`.
#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
    #[prost(string, tag = "3")]
    pub doc_string: String,
}

/// `onnx.TypeProto`; only the `tensor_type` member of its `value` oneof is declared.
#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TypeProtoTensor>,
    #[prost(string, tag = "6")]
    pub denotation: String,
}

/// `onnx.TypeProto.Tensor`.
#[derive(Clone, PartialEq, Message)]
pub struct TypeProtoTensor {
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

/// `onnx.TensorShapeProto`.
#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// `onnx.TensorShapeProto.Dimension`: exactly one of `dim_value` / `dim_param` is set.
#[derive(Clone, PartialEq, Message)]
pub struct Dimension {
    #[prost(int64, optional, tag = "1")]
    pub dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    pub dim_param: Option<String>,
    #[prost(string, tag = "3")]
    pub denotation: String,
}

/// One dimension of a graph input or output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// A fixed size.
    Fixed(i64),
    /// A symbolic size, e.g. `"batch"`.
    Symbolic(String),
}

/// A tensor type with a (possibly symbolic) shape.
pub fn tensor_type(elem_type: DataType, dims: &[Dim]) -> TypeProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Dim::Fixed(v) => Dimension { dim_value: Some(*v), ..Default::default() },
            Dim::Symbolic(p) => Dimension { dim_param: Some(p.clone()), ..Default::default() },
        })
        .collect();
    TypeProto {
        tensor_type: Some(TypeProtoTensor { elem_type: elem_type as i32, shape: Some(TensorShapeProto { dim }) }),
        denotation: String::new(),
    }
}

/// A float32 tensor with its values in `raw_data`.
pub fn tensor_f32(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        name: name.to_string(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An int64 tensor with its values in `raw_data`.
pub fn tensor_i64(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto {
        dims: dims.to_vec(),
        data_type: DataType::Int64 as i32,
        name: name.to_string(),
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// An int attribute.
pub fn attr_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.to_string(), r#type: AttributeType::Int as i32, i: Some(value), ..Default::default() }
}

/// A list-of-ints attribute.
pub fn attr_ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// A float attribute.
pub fn attr_float(name: &str, value: f32) -> AttributeProto {
    AttributeProto { name: name.to_string(), r#type: AttributeType::Float as i32, f: Some(value), ..Default::default() }
}

/// A list-of-floats attribute.
pub fn attr_floats(name: &str, values: &[f32]) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Floats as i32,
        floats: values.to_vec(),
        ..Default::default()
    }
}

/// A string attribute.
pub fn attr_string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::String as i32,
        s: Some(value.as_bytes().to_vec()),
        ..Default::default()
    }
}

/// A tensor attribute (e.g. `Constant.value`).
pub fn attr_tensor(name: &str, value: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Tensor as i32,
        t: Some(value),
        ..Default::default()
    }
}

/// Builds one ONNX graph: unique names, initializers, nodes, graph inputs and outputs.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    name: String,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    used_names: HashSet<String>,
    counter: usize,
}

impl GraphBuilder {
    /// An empty graph called `name`.
    pub fn new(name: &str) -> Self {
        Self { name: name.to_string(), ..Default::default() }
    }

    /// Reserves `name` exactly; false if it was already taken.
    pub fn reserve_name(&mut self, name: &str) -> bool {
        self.used_names.insert(name.to_string())
    }

    /// A name not used before in this graph, derived from `hint`.
    pub fn fresh_name(&mut self, hint: &str) -> String {
        if self.used_names.insert(hint.to_string()) {
            return hint.to_string();
        }
        loop {
            self.counter += 1;
            let candidate = format!("{hint}__{}", self.counter);
            if self.used_names.insert(candidate.clone()) {
                return candidate;
            }
        }
    }

    /// Adds a graph input with an exact name.
    pub fn add_input(&mut self, name: &str, elem_type: DataType, dims: &[Dim]) {
        self.used_names.insert(name.to_string());
        self.inputs.push(ValueInfoProto {
            name: name.to_string(),
            r#type: Some(tensor_type(elem_type, dims)),
            doc_string: String::new(),
        });
    }

    /// Declares an existing tensor as a graph output.
    pub fn add_output(&mut self, name: &str, elem_type: DataType, dims: &[Dim]) {
        self.outputs.push(ValueInfoProto {
            name: name.to_string(),
            r#type: Some(tensor_type(elem_type, dims)),
            doc_string: String::new(),
        });
    }

    /// Adds a float32 initializer under a fresh name derived from `hint`; returns the name.
    pub fn add_initializer_f32(&mut self, hint: &str, dims: &[i64], values: &[f32]) -> String {
        let name = self.fresh_name(hint);
        self.initializers.push(tensor_f32(&name, dims, values));
        name
    }

    /// Adds an int64 initializer under a fresh name derived from `hint`; returns the name.
    pub fn add_initializer_i64(&mut self, hint: &str, dims: &[i64], values: &[i64]) -> String {
        let name = self.fresh_name(hint);
        self.initializers.push(tensor_i64(&name, dims, values));
        name
    }

    /// Adds a node whose outputs are the given (already reserved or fresh) names.
    pub fn add_node(&mut self, op_type: &str, inputs: &[&str], outputs: &[&str], attributes: Vec<AttributeProto>) {
        let name = self.fresh_name(&format!("{op_type}_{}", self.nodes.len()));
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name,
            op_type: op_type.to_string(),
            attribute: attributes,
            doc_string: String::new(),
            domain: String::new(),
        });
    }

    /// Adds a single-output node; its output gets a fresh name derived from `hint`, which is
    /// returned.
    pub fn op(&mut self, op_type: &str, inputs: &[&str], attributes: Vec<AttributeProto>, hint: &str) -> String {
        let out = self.fresh_name(hint);
        self.add_node(op_type, inputs, &[&out], attributes);
        out
    }

    /// Number of nodes added so far.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The finished graph.
    pub fn into_graph(self) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: self.name,
            initializer: self.initializers,
            doc_string: String::new(),
            input: self.inputs,
            output: self.outputs,
            value_info: Vec::new(),
        }
    }

    /// The finished model (IR 8, default-domain opset 17).
    pub fn into_model(self, producer_name: &str, metadata: &[(&str, &str)]) -> ModelProto {
        ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET_VERSION }],
            producer_name: producer_name.to_string(),
            producer_version: env!("CARGO_PKG_VERSION").to_string(),
            domain: String::new(),
            model_version: 1,
            doc_string: String::new(),
            graph: Some(self.into_graph()),
            metadata_props: metadata
                .iter()
                .map(|(k, v)| StringStringEntryProto { key: k.to_string(), value: v.to_string() })
                .collect(),
        }
    }
}

/// Serializes a model to the ONNX protobuf bytes.
pub fn encode_model(model: &ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_names_never_repeat() {
        let mut graph = GraphBuilder::new("g");
        assert_eq!(graph.fresh_name("x"), "x");
        assert_eq!(graph.fresh_name("x"), "x__1");
        assert_eq!(graph.fresh_name("x"), "x__2");
    }

    #[test]
    fn model_round_trips_through_protobuf() {
        let mut graph = GraphBuilder::new("g");
        graph.add_input("in", DataType::Float, &[Dim::Symbolic("batch".into()), Dim::Fixed(3)]);
        let w = graph.add_initializer_f32("w", &[3], &[1.0, 2.0, 3.0]);
        let out = graph.op("Mul", &["in", &w], vec![attr_ints("unused", &[1, 2])], "out");
        graph.add_output(&out, DataType::Float, &[Dim::Symbolic("batch".into()), Dim::Fixed(3)]);
        let model = graph.into_model("test", &[("k", "v")]);
        let bytes = encode_model(&model);
        let decoded = ModelProto::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded, model);
        assert_eq!(decoded.ir_version, 8);
        assert_eq!(decoded.opset_import[0].version, 17);
        let g = decoded.graph.unwrap();
        assert_eq!(g.initializer[0].raw_data.len(), 12);
        assert_eq!(g.node[0].attribute[0].ints, vec![1, 2]);
    }

    #[test]
    fn field_numbers_match_onnx_proto() {
        // ModelProto.ir_version is field 1 (varint): tag byte 0x08; graph is field 7 (bytes): 0x3a.
        let model = ModelProto { ir_version: 8, graph: Some(GraphProto::default()), ..Default::default() };
        assert_eq!(encode_model(&model), vec![0x08, 0x08, 0x3a, 0x00]);
        // AttributeProto.type is field 20 (varint): tag = (20 << 3) | 0 = 160 = [0xa0, 0x01].
        let attr = attr_int("a", 5);
        let bytes = attr.encode_to_vec();
        assert_eq!(bytes, vec![0x0a, 0x01, b'a', 0x18, 0x05, 0xa0, 0x01, 0x02]);
    }
}
