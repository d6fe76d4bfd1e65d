//! ONNX models shipped with a fixed interface, re-declared so that ONNX Runtime runs them at any size:
//! initializers listed as graph inputs (IR < 4 style, which also keeps ONNX Runtime from folding them)
//! are taken out of the inputs, and the batch and spatial dimensions of 4-D inputs and outputs become
//! symbolic. Nodes and weights are copied unchanged, unless [`OnnxOptions::fold`] asks for
//! [`crate::fold`]'s rewrites.
//!
//! The file is read with [`crate::onnx`]'s message structs, which declare only some of `onnx.proto`'s
//! fields; a model using any other field would lose it, so the file's wire format is walked first and
//! every field in it must be a declared one ([`undeclared_field`]), and only the ops of [`KNOWN_OPS`] are
//! accepted.

use std::collections::HashSet;
use std::path::Path;

use prost::Message;

use crate::onnx::{Dimension, ModelProto, NodeProto, ValueInfoProto};
use crate::{ConvertError, Converted, TensorInfo};

/// The ops whose attributes and semantics this re-declaration has been checked with (their
/// shape inference follows symbolic sizes).
pub const KNOWN_OPS: &[&str] =
    &["Conv", "ConvTranspose", "Relu", "Add", "BatchNormalization", "Sigmoid", "Concat", "MaxPool", "Mul"];

/// Which dimensions of the 4-D (NCHW) inputs and outputs become symbolic, and whether the graph is folded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnnxOptions {
    pub dynamic_batch: bool,
    pub dynamic_spatial: bool,
    /// Apply [`crate::fold`]'s rewrites (the same function, fewer passes over the feature maps).
    pub fold: bool,
}

/// Re-declares the ONNX model at `path` (see the module documentation).
pub fn convert_onnx(path: &Path, options: &OnnxOptions) -> Result<Converted, ConvertError> {
    let bytes = std::fs::read(path).map_err(|source| ConvertError::Io { path: path.to_owned(), source })?;
    convert_onnx_bytes(&bytes, options)
}

/// [`convert_onnx`] on the bytes of a model.
pub fn convert_onnx_bytes(bytes: &[u8], options: &OnnxOptions) -> Result<Converted, ConvertError> {
    let mut model = ModelProto::decode(bytes).map_err(|e| ConvertError::BadModel(format!("not an ONNX model: {e}")))?;
    if let Some(field) = undeclared_field(bytes, Proto::Model) {
        return Err(ConvertError::BadModel(format!("the model uses {field}, which this reader does not declare")));
    }
    let opset =
        model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(1, |o| o.version);
    let graph = model.graph.as_mut().ok_or_else(|| ConvertError::BadModel("no graph".into()))?;
    // Symbolic sizes are only safe for ops whose shape inference has been checked with them; folding
    // rewrites its own patterns and copies every other node.
    let redeclaring = options.dynamic_batch || options.dynamic_spatial;
    let unknown = |n: &&NodeProto| !n.domain.is_empty() || !KNOWN_OPS.contains(&n.op_type.as_str());
    if let Some(node) = graph.node.iter().find(unknown).filter(|_| redeclaring) {
        return Err(ConvertError::UnsupportedOp {
            op: format!("{}{}", node.domain, node.op_type),
            node: node.name.clone(),
        });
    }
    let folded = options.fold.then(|| crate::fold::fold(graph, opset));
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let before = graph.input.len();
    graph.input.retain(|input| !initializers.contains(input.name.as_str()));
    let hidden = before - graph.input.len();
    // Shapes inferred for the fixed size would contradict the new ones.
    graph.value_info.clear();
    for (i, input) in graph.input.iter_mut().enumerate() {
        redeclare(input, options, &format!("input{i}"));
    }
    for (i, output) in graph.output.iter_mut().enumerate() {
        redeclare(output, options, &format!("output{i}"));
    }
    // Initializers that are not inputs need IR version 4 or later.
    model.ir_version = model.ir_version.max(4);
    let graph = model.graph.as_ref().expect("checked above");
    let folded = folded.map_or(String::new(), |f| {
        format!(
            "; folded {} scalar ops into the convolutions before them, {} into those after, {} hard-swishes, \
             {} channel expectations",
            f.into_producer, f.into_consumers, f.hard_swish, f.channel_expectations
        )
    });
    let report = format!(
        "{} nodes, {} initializers ({hidden} taken out of the inputs), inputs {:?}, outputs {:?}{folded}",
        graph.node.len(),
        graph.initializer.len(),
        graph.input.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
        graph.output.iter().map(|o| o.name.as_str()).collect::<Vec<_>>()
    );
    Ok(Converted {
        inputs: graph.input.iter().map(info).collect(),
        outputs: graph.output.iter().map(info).collect(),
        onnx: model.encode_to_vec(),
        report,
    })
}

/// The `onnx.proto` messages [`crate::onnx`] declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Model,
    OpsetId,
    StringEntry,
    Graph,
    Node,
    Attribute,
    Tensor,
    ValueInfo,
    Type,
    TypeTensor,
    Shape,
    Dimension,
}

impl Proto {
    /// The declared fields: number, and the message type of a message field.
    fn fields(self) -> &'static [(u64, Option<Proto>)] {
        use Proto::*;
        match self {
            Model => &[
                (1, None),
                (2, None),
                (3, None),
                (4, None),
                (5, None),
                (6, None),
                (7, Some(Graph)),
                (8, Some(OpsetId)),
                (14, Some(StringEntry)),
            ],
            OpsetId | StringEntry => &[(1, None), (2, None)],
            Graph => &[
                (1, Some(Node)),
                (2, None),
                (5, Some(Tensor)),
                (10, None),
                (11, Some(ValueInfo)),
                (12, Some(ValueInfo)),
                (13, Some(ValueInfo)),
            ],
            Node => &[(1, None), (2, None), (3, None), (4, None), (5, Some(Attribute)), (6, None), (7, None)],
            Attribute => &[
                (1, None),
                (2, None),
                (3, None),
                (4, None),
                (5, Some(Tensor)),
                (6, Some(Graph)),
                (7, None),
                (8, None),
                (9, None),
                (10, Some(Tensor)),
                (11, Some(Graph)),
                (13, None),
                (20, None),
                (21, None),
            ],
            Tensor => &[(1, None), (2, None), (4, None), (5, None), (7, None), (8, None), (9, None), (12, None)],
            ValueInfo => &[(1, None), (2, Some(Type)), (3, None)],
            Type => &[(1, Some(TypeTensor)), (6, None)],
            TypeTensor => &[(1, None), (2, Some(Shape))],
            Shape => &[(1, Some(Dimension))],
            Dimension => &[(1, None), (2, None), (3, None)],
        }
    }
}

/// The first field in `bytes` (a `message` in protobuf's wire format) that [`crate::onnx`] does not
/// declare, as "Message field N"; a message that does not parse counts as one.
fn undeclared_field(bytes: &[u8], message: Proto) -> Option<String> {
    fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *bytes.get(*at)?;
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Some(value);
            }
        }
        None
    }
    let malformed = || Some(format!("a malformed {message:?} message"));
    let mut at = 0;
    while at < bytes.len() {
        let Some(key) = varint(bytes, &mut at) else { return malformed() };
        let (number, wire) = (key >> 3, key & 7);
        let Some(&(_, child)) = message.fields().iter().find(|f| f.0 == number) else {
            return Some(format!("{message:?} field {number}"));
        };
        let skip = match wire {
            0 => varint(bytes, &mut at).map(|_| 0),
            1 => Some(8),
            5 => Some(4),
            2 => varint(bytes, &mut at).and_then(|len| usize::try_from(len).ok()),
            _ => None,
        };
        let Some(skip) = skip.filter(|s| at + s <= bytes.len()) else { return malformed() };
        if let (2, Some(child)) = (wire, child)
            && let Some(field) = undeclared_field(&bytes[at..at + skip], child)
        {
            return Some(field);
        }
        at += skip;
    }
    None
}

/// The dimensions of a value's declared shape.
fn dims(value: &mut ValueInfoProto) -> Option<&mut Vec<Dimension>> {
    Some(&mut value.r#type.as_mut()?.tensor_type.as_mut()?.shape.as_mut()?.dim)
}

/// Makes the batch and/or spatial dimensions of a 4-D value symbolic, named after `prefix`.
fn redeclare(value: &mut ValueInfoProto, options: &OnnxOptions, prefix: &str) {
    let Some(dims) = dims(value).filter(|d| d.len() == 4) else { return };
    let symbolic = |name: String| Dimension { dim_param: Some(name), ..Default::default() };
    if options.dynamic_batch {
        dims[0] = symbolic("batch".into());
    }
    if options.dynamic_spatial {
        dims[2] = symbolic(format!("{prefix}_height"));
        dims[3] = symbolic(format!("{prefix}_width"));
    }
}

fn info(value: &ValueInfoProto) -> TensorInfo {
    let shape = value
        .r#type
        .as_ref()
        .and_then(|t| t.tensor_type.as_ref())
        .and_then(|t| t.shape.as_ref())
        .map(|s| s.dim.iter().map(|d| d.dim_value.unwrap_or(-1)).collect())
        .unwrap_or_default();
    TensorInfo { name: value.name.clone(), shape }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{DataType, Dim, GraphBuilder};

    /// A one-Relu model whose weights-free graph declares a fixed [2, 3, 8, 8] input, plus an initializer
    /// listed as an input as old exporters did.
    fn fixed_model(op: &str) -> Vec<u8> {
        let mut builder = GraphBuilder::new("fixed");
        let fixed = [Dim::Fixed(2), Dim::Fixed(3), Dim::Fixed(8), Dim::Fixed(8)];
        builder.add_input("x", DataType::Float, &fixed);
        let bias = builder.add_initializer_f32("bias", &[1], &[0.5]);
        builder.add_input(&bias, DataType::Float, &[Dim::Fixed(1)]);
        builder.add_node(op, &["x"], &["y"], Vec::new());
        builder.add_output("y", DataType::Float, &fixed);
        builder.into_model("test", &[]).encode_to_vec()
    }

    #[test]
    fn initializers_leave_the_inputs_and_sizes_become_symbolic() {
        let options = OnnxOptions { dynamic_batch: true, dynamic_spatial: true, fold: false };
        let converted = convert_onnx_bytes(&fixed_model("Relu"), &options).unwrap();
        assert_eq!(converted.inputs, [TensorInfo { name: "x".into(), shape: vec![-1, 3, -1, -1] }]);
        assert_eq!(converted.outputs, [TensorInfo { name: "y".into(), shape: vec![-1, 3, -1, -1] }]);
        let model = ModelProto::decode(&converted.onnx[..]).unwrap();
        assert_eq!(model.graph.unwrap().initializer.len(), 1, "the weights stay");
        let batch_only = OnnxOptions { dynamic_batch: true, ..Default::default() };
        let converted = convert_onnx_bytes(&fixed_model("Relu"), &batch_only).unwrap();
        assert_eq!(converted.inputs[0].shape, [-1, 3, 8, 8]);
    }

    #[test]
    fn a_field_the_reader_does_not_declare_is_refused() {
        let mut bytes = fixed_model("Relu");
        assert_eq!(undeclared_field(&bytes, Proto::Model), None);
        // ModelProto field 20 (`functions` in onnx.proto), an empty message.
        bytes.extend([(20 << 3 | 2) as u8 | 0x80, 1, 0]);
        assert_eq!(undeclared_field(&bytes, Proto::Model).as_deref(), Some("Model field 20"));
        let error = convert_onnx_bytes(&bytes, &OnnxOptions::default()).unwrap_err();
        assert!(error.to_string().contains("Model field 20"), "{error}");
    }

    #[test]
    fn unknown_ops_and_garbage_are_refused() {
        let options = OnnxOptions { dynamic_spatial: true, ..Default::default() };
        let error = convert_onnx_bytes(&fixed_model("LSTM"), &options).unwrap_err();
        assert!(matches!(error, ConvertError::UnsupportedOp { ref op, .. } if op == "LSTM"), "{error}");
        assert!(convert_onnx_bytes(b"not a model at all", &options).is_err());
        // Folding alone copies the ops it does not rewrite, whatever they are.
        let fold = OnnxOptions { fold: true, ..Default::default() };
        assert!(convert_onnx_bytes(&fixed_model("LSTM"), &fold).is_ok());
    }
}
