//! Folding of exported graphs whose element-wise layers cost ONNX Runtime more than their convolutions:
//! PP-OCRv4's networks (PP-LCNetV3, as paddle2onnx writes them) put a learnable scalar scale and shift
//! after every convolution and every activation, and spell hard-swish as `x · clip(x + 3, 0, 6) / 6` in
//! four ops. Each of those ops is a pass over the whole feature map, and each keeps ONNX Runtime from
//! running the convolutions in its blocked (NCHWc) layout, so that half of the detector's time went on
//! them (BENCHMARKS.md). Three rewrites, each the same function up to float rounding:
//!
//! - a convolution's lone `· a` or `+ c` by a scalar goes into its weights and bias
//!   ([`Folded::into_producer`]);
//! - a scalar `· a` (and a following `+ b`) whose consumers are all convolutions goes into their
//!   weights (and biases); a convolution that pads its input keeps the shift as `+ b / a`, because
//!   its padding zeros were never shifted ([`Folded::into_consumers`]);
//! - the four ops of hard-swish become `x · HardSigmoid(x)` (alpha 1/6, beta 1/2), which ONNX Runtime
//!   fuses into the convolution before it ([`Folded::hard_swish`]);
//! - a softmax over the channels of a transposed tensor read by a 1 × 1 convolution to one channel (an
//!   expectation over a distribution, YOLOv8's box regression "DFL") is taken over the last axis
//!   instead, where ONNX Runtime does not transpose around it, the convolution becoming a `MatMul`
//!   ([`Folded::channel_expectations`]; NudeNet).
//!
//! Everything else is copied unchanged; the golden test (`tests/onnx_golden.rs`) runs the folded models
//! against the originals.

use std::collections::{HashMap, HashSet};

use crate::onnx::{
    AttributeProto, DataType, GraphProto, NodeProto, TensorProto, attr_float, attr_int, attr_ints, tensor_f32,
};

/// How many rewrites of each kind [`fold`] made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Folded {
    /// Scalar multiplications and additions folded into the convolution that produces their input.
    pub into_producer: usize,
    /// Scalar multiplications (with their additions) folded into the convolutions that consume them.
    pub into_consumers: usize,
    /// Four-op hard-swishes rewritten as `x · HardSigmoid(x)`.
    pub hard_swish: usize,
    /// Softmaxes over channels read by a one-channel 1 × 1 convolution, moved to the last axis.
    pub channel_expectations: usize,
}

/// A float constant of the graph: an initializer or a `Constant` node's value.
#[derive(Debug, Clone)]
struct Constant {
    dims: Vec<i64>,
    values: Vec<f32>,
}

impl Constant {
    /// The value of a one-element constant of rank 0 or 1, whose broadcast never changes another
    /// operand's shape.
    fn scalar(&self) -> Option<f32> {
        (self.values.len() == 1 && self.dims.len() <= 1).then(|| self.values[0])
    }
}

/// The values of a float tensor stored in the file (not external data), or `None`.
fn float_values(tensor: &TensorProto) -> Option<Vec<f32>> {
    if tensor.data_type != DataType::Float as i32 {
        return None;
    }
    let count = tensor.dims.iter().try_fold(1i64, |n, &d| n.checked_mul(d))?;
    let values: Vec<f32> = if !tensor.raw_data.is_empty() {
        tensor.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    } else {
        tensor.float_data.clone()
    };
    (usize::try_from(count).ok() == Some(values.len())).then_some(values)
}

/// The graph being folded: its nodes, its constants and the names it must keep.
struct Folder<'g> {
    graph: &'g mut GraphProto,
    /// The default domain's opset (Softmax's `axis` means one axis from opset 13 on).
    opset: i64,
    constants: HashMap<String, Constant>,
    kept: HashSet<String>,
    names: HashSet<String>,
    added: Vec<TensorProto>,
}

impl<'g> Folder<'g> {
    fn new(graph: &'g mut GraphProto, opset: i64) -> Self {
        let mut constants = HashMap::new();
        for tensor in &graph.initializer {
            if let Some(values) = float_values(tensor) {
                constants.insert(tensor.name.clone(), Constant { dims: tensor.dims.clone(), values });
            }
        }
        for node in graph.node.iter().filter(|n| n.op_type == "Constant" && n.domain.is_empty()) {
            let value = node.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref());
            if let (Some(tensor), Some(output)) = (value, node.output.first())
                && let Some(values) = float_values(tensor)
            {
                constants.insert(output.clone(), Constant { dims: tensor.dims.clone(), values });
            }
        }
        // Graph inputs and outputs keep their names and values.
        let kept = graph.input.iter().chain(&graph.output).map(|v| v.name.clone()).collect();
        let names = graph
            .node
            .iter()
            .flat_map(|n| n.input.iter().chain(&n.output))
            .chain(graph.initializer.iter().map(|t| &t.name))
            .cloned()
            .collect();
        Self { graph, opset, constants, kept, names, added: Vec::new() }
    }

    /// A tensor name not yet in the graph, derived from `hint`.
    fn fresh(&mut self, hint: &str) -> String {
        let mut name = format!("{hint}.folded");
        let mut counter = 0;
        while self.names.contains(&name) {
            counter += 1;
            name = format!("{hint}.folded{counter}");
        }
        self.names.insert(name.clone());
        name
    }

    /// A new float initializer named after `hint`; returns its name.
    fn add_constant(&mut self, hint: &str, dims: &[i64], values: Vec<f32>) -> String {
        let name = self.fresh(hint);
        self.added.push(tensor_f32(&name, dims, &values));
        self.constants.insert(name.clone(), Constant { dims: dims.to_vec(), values });
        name
    }

    /// The indices of the nodes that read `tensor`.
    fn consumers(&self, tensor: &str) -> Vec<usize> {
        let nodes = self.graph.node.iter().enumerate();
        nodes.filter(|(_, n)| n.input.iter().any(|i| i == tensor)).map(|(i, _)| i).collect()
    }

    /// For a binary `op` node with one scalar constant operand: the other operand and the scalar.
    fn scalar_operand(&self, node: &NodeProto, op: &str) -> Option<(String, f32)> {
        if node.op_type != op || !node.domain.is_empty() || node.input.len() != 2 || node.output.len() != 1 {
            return None;
        }
        let (a, b) = (&node.input[0], &node.input[1]);
        match (self.constants.get(a), self.constants.get(b)) {
            (None, Some(c)) => Some((a.clone(), c.scalar()?)),
            (Some(c), None) => Some((b.clone(), c.scalar()?)),
            _ => None,
        }
    }

    /// A convolution's weights and bias (zeros when it has none), if both are constants.
    fn conv_parameters(&self, node: &NodeProto) -> Option<(Constant, Vec<f32>)> {
        if node.op_type != "Conv" || !node.domain.is_empty() || node.output.len() != 1 {
            return None;
        }
        let weights = self.constants.get(node.input.get(1)?)?.clone();
        let out_channels = usize::try_from(*weights.dims.first()?).ok()?;
        let (count, dims) = (weights.values.len(), weights.dims.len());
        if dims < 3 || out_channels == 0 || count == 0 || count % out_channels != 0 {
            return None;
        }
        let bias = match node.input.get(2).filter(|b| !b.is_empty()) {
            Some(name) => self.constants.get(name)?.values.clone(),
            None => vec![0.0; out_channels],
        };
        (bias.len() == out_channels).then_some((weights, bias))
    }

    /// Gives the convolution at `index` new weights and bias.
    fn set_conv_parameters(&mut self, index: usize, weights: &Constant, bias: Vec<f32>) {
        let hint = self.graph.node[index].output[0].clone();
        let w = self.add_constant(&format!("{hint}.w"), &weights.dims, weights.values.clone());
        let b = self.add_constant(&format!("{hint}.b"), &[bias.len() as i64], bias);
        let node = &mut self.graph.node[index];
        node.input[1] = w;
        node.input.truncate(2);
        node.input.push(b);
    }

    /// One `Conv → · a` or `Conv → + c` folded into the convolution, if there is one.
    fn fold_into_producer(&mut self) -> bool {
        for index in 0..self.graph.node.len() {
            let Some((mut weights, mut bias)) = self.conv_parameters(&self.graph.node[index]) else { continue };
            let output = self.graph.node[index].output[0].clone();
            let consumers = self.consumers(&output);
            if self.kept.contains(&output) || consumers.len() != 1 {
                continue;
            }
            let next = &self.graph.node[consumers[0]];
            if let Some((_, a)) = self.scalar_operand(next, "Mul").filter(|(x, _)| *x == output) {
                weights.values.iter_mut().for_each(|w| *w *= a);
                bias.iter_mut().for_each(|b| *b *= a);
            } else if let Some((_, c)) = self.scalar_operand(next, "Add").filter(|(x, _)| *x == output) {
                bias.iter_mut().for_each(|b| *b += c);
            } else {
                continue;
            }
            let renamed = next.output[0].clone();
            self.set_conv_parameters(index, &weights, bias);
            self.graph.node[index].output[0] = renamed;
            self.graph.node.remove(consumers[0]);
            return true;
        }
        false
    }

    /// One `x → · a [→ + b]` whose consumers are all convolutions folded into them, if there is one.
    fn fold_into_consumers(&mut self) -> bool {
        for index in 0..self.graph.node.len() {
            let Some((x, a)) = self.scalar_operand(&self.graph.node[index], "Mul") else { continue };
            if a == 0.0 || !a.is_finite() || self.constants.contains_key(&x) {
                continue;
            }
            let scaled = self.graph.node[index].output[0].clone();
            let after_scale = self.consumers(&scaled);
            if self.kept.contains(&scaled) || after_scale.is_empty() {
                continue;
            }
            // The shift, when the scale's one consumer adds a scalar.
            let shift = match after_scale[..] {
                [only] => self.scalar_operand(&self.graph.node[only], "Add").map(|(_, b)| (only, b)),
                _ => None,
            };
            let output = shift.map_or(scaled.clone(), |(add, _)| self.graph.node[add].output[0].clone());
            let convs = self.consumers(&output);
            let all_convs = !convs.is_empty()
                && convs.iter().all(|&c| {
                    let node = &self.graph.node[c];
                    node.input[0] == output
                        && node.input[1..].iter().all(|i| *i != output)
                        && self.conv_parameters(node).is_some()
                });
            if self.kept.contains(&output) || !all_convs {
                continue;
            }
            let mut keep_shift = false;
            for &c in &convs {
                let (mut weights, mut bias) = self.conv_parameters(&self.graph.node[c]).expect("checked above");
                let padded = pads(&self.graph.node[c]);
                if let (Some((_, b)), false) = (shift, padded) {
                    let per_channel = weights.values.len() / bias.len();
                    for (bias, kernel) in bias.iter_mut().zip(weights.values.chunks_exact(per_channel)) {
                        *bias += b * kernel.iter().sum::<f32>();
                    }
                }
                weights.values.iter_mut().for_each(|w| *w *= a);
                self.set_conv_parameters(c, &weights, bias);
                if shift.is_none() || !padded {
                    self.graph.node[c].input[0] = x.clone();
                } else {
                    keep_shift = true;
                }
            }
            let mut removed = vec![index];
            match shift {
                Some((add, b)) if keep_shift => {
                    // Padded convolutions read `x + b / a`: scaled by `a` in their weights, it is `a·x + b`.
                    let name = self.add_constant(&format!("{output}.shift"), &[1], vec![b / a]);
                    self.graph.node[add].input = vec![x.clone(), name];
                }
                Some((add, _)) => removed.push(add),
                None => {}
            }
            removed.sort_unstable();
            for i in removed.into_iter().rev() {
                self.graph.node.remove(i);
            }
            return true;
        }
        false
    }

    /// The value of the constant `name` if it is a scalar equal to `want`.
    fn is_scalar(&self, name: &str, want: f32) -> bool {
        self.constants.get(name).and_then(Constant::scalar) == Some(want)
    }

    /// One `x · clip(x + 3, 0, 6) / 6` rewritten as `x · HardSigmoid(x)`, if there is one.
    fn rewrite_hard_swish(&mut self) -> bool {
        for index in 0..self.graph.node.len() {
            let Some((x, three)) = self.scalar_operand(&self.graph.node[index], "Add") else { continue };
            if three != 3.0 {
                continue;
            }
            let Some(clip) = self.single_consumer(index) else { continue };
            let node = &self.graph.node[clip];
            let bounds = match (node.input.get(1), node.input.get(2), attribute(node, "min"), attribute(node, "max")) {
                (Some(min), Some(max), None, None) => self.is_scalar(min, 0.0) && self.is_scalar(max, 6.0),
                (None, None, Some(min), Some(max)) => min.f == Some(0.0) && max.f == Some(6.0),
                _ => false,
            };
            if node.op_type != "Clip" || !node.domain.is_empty() || !bounds {
                continue;
            }
            let Some(times) = self.single_consumer(clip) else { continue };
            let node = &self.graph.node[times];
            let clipped = &self.graph.node[clip].output[0];
            let operands = [x.as_str(), clipped.as_str()];
            if node.op_type != "Mul" || !node.domain.is_empty() || node.input.len() != 2 {
                continue;
            }
            if !(node.input[0] == operands[0] && node.input[1] == operands[1]
                || node.input[0] == operands[1] && node.input[1] == operands[0])
            {
                continue;
            }
            let Some(divide) = self.single_consumer(times) else { continue };
            let node = &self.graph.node[divide];
            let by_six = node.op_type == "Div"
                && node.domain.is_empty()
                && node.input.len() == 2
                && node.output.len() == 1
                && node.input[0] == self.graph.node[times].output[0]
                && self.is_scalar(&node.input[1], 6.0);
            if !by_six {
                continue;
            }
            let output = node.output[0].clone();
            let gate = self.fresh(&format!("{output}.gate"));
            let hard_sigmoid = NodeProto {
                input: vec![x.clone()],
                output: vec![gate.clone()],
                name: format!("{output}.HardSigmoid"),
                op_type: "HardSigmoid".into(),
                attribute: vec![attr_float("alpha", 1.0 / 6.0), attr_float("beta", 0.5)],
                ..Default::default()
            };
            let product = NodeProto {
                input: vec![x, gate],
                output: vec![output.clone()],
                name: format!("{output}.Mul"),
                op_type: "Mul".into(),
                ..Default::default()
            };
            // The Add becomes the HardSigmoid, the Div the product; the Clip and the first Mul go.
            self.graph.node[index] = hard_sigmoid;
            self.graph.node[divide] = product;
            let (first, second) = (clip.max(times), clip.min(times));
            self.graph.node.remove(first);
            self.graph.node.remove(second);
            return true;
        }
        false
    }

    /// One `Transpose → Softmax (axis 1) → Conv 1 × 1 to one channel` rewritten as `Transpose (the softmax's
    /// axis last) → Softmax (last axis) → MatMul [→ + bias] → Transpose` back to the convolution's shape, if
    /// there is one.
    fn rewrite_channel_expectation(&mut self) -> bool {
        if self.opset < 13 {
            return false;
        }
        for index in 0..self.graph.node.len() {
            let node = &self.graph.node[index];
            let one_to_one = node.input.len() == 1 && node.output.len() == 1;
            if node.op_type != "Softmax" || !node.domain.is_empty() || !one_to_one {
                continue;
            }
            if attribute(node, "axis").and_then(|a| a.i) != Some(1) {
                continue;
            }
            let Some(transpose) = self.graph.node.iter().position(|n| n.output.contains(&node.input[0])) else {
                continue;
            };
            let t = &self.graph.node[transpose];
            let perm = attribute(t, "perm").map(|a| a.ints.clone()).filter(|p| p.len() == 4);
            let alone = t.output.len() == 1 && self.single_consumer(transpose) == Some(index);
            let (Some(perm), true, "Transpose", true) = (perm, alone, t.op_type.as_str(), t.domain.is_empty()) else {
                continue;
            };
            let Some(conv) = self.single_consumer(index) else { continue };
            let c = &self.graph.node[conv];
            let Some((weights, bias)) = self.conv_parameters(c) else { continue };
            let plain = c.attribute.iter().all(|a| match a.name.as_str() {
                "kernel_shape" | "strides" | "dilations" | "group" => a.ints.iter().chain(&a.i).all(|&v| v == 1),
                "pads" => a.ints.iter().all(|&v| v == 0),
                "auto_pad" => matches!(a.s.as_deref(), Some(b"NOTSET" | b"VALID")),
                _ => false,
            });
            let single_channel = weights.dims.len() == 4 && weights.dims[0] == 1 && weights.dims[2..] == [1, 1];
            if !plain || !single_channel || c.input[0] != node.output[0] {
                continue;
            }
            let output = c.output[0].clone();
            let k = weights.dims[1];
            let name = c.name.clone();
            let probabilities = node.output[0].clone();
            let column = self.add_constant(&format!("{output}.column"), &[k, 1], weights.values);
            let product = self.fresh(&format!("{output}.expectation"));
            let mut added = vec![NodeProto {
                input: vec![probabilities, column],
                output: vec![product.clone()],
                name: format!("{name}/MatMul"),
                op_type: "MatMul".into(),
                ..Default::default()
            }];
            let mut last = product;
            if bias[0] != 0.0 {
                let b = self.add_constant(&format!("{output}.bias"), &[1], bias);
                let shifted = self.fresh(&format!("{output}.shifted"));
                added.push(NodeProto {
                    input: vec![last, b],
                    output: vec![shifted.clone()],
                    name: format!("{name}/Add"),
                    op_type: "Add".into(),
                    ..Default::default()
                });
                last = shifted;
            }
            added.push(NodeProto {
                input: vec![last],
                output: vec![output],
                name: format!("{name}/Transpose"),
                op_type: "Transpose".into(),
                attribute: vec![attr_ints("perm", &[0, 3, 1, 2])],
                ..Default::default()
            });
            let t = &mut self.graph.node[transpose];
            t.attribute.retain(|a| a.name != "perm");
            t.attribute.push(attr_ints("perm", &[perm[0], perm[2], perm[3], perm[1]]));
            let softmax = &mut self.graph.node[index];
            softmax.attribute.retain(|a| a.name != "axis");
            softmax.attribute.push(attr_int("axis", 3));
            self.graph.node.splice(conv..=conv, added);
            return true;
        }
        false
    }

    /// The one node that reads the single output of the node at `index`, if its output is internal.
    fn single_consumer(&self, index: usize) -> Option<usize> {
        let output = self.graph.node[index].output.first()?;
        let consumers = self.consumers(output);
        (consumers.len() == 1 && !self.kept.contains(output)).then(|| consumers[0])
    }

    /// Drops the constants no node reads any more and adds the new ones.
    fn finish(self) {
        let graph = self.graph;
        let read: HashSet<String> = graph.node.iter().flat_map(|n| n.input.iter()).chain(&self.kept).cloned().collect();
        let unused_constant =
            |n: &NodeProto| n.op_type == "Constant" && n.output.len() == 1 && !read.contains(&n.output[0]);
        graph.node.retain(|n| !unused_constant(n));
        graph.initializer.retain(|t| read.contains(&t.name));
        graph.initializer.extend(self.added.into_iter().filter(|t| read.contains(&t.name)));
        // Shapes recorded for tensors that are gone would mislead a reader.
        graph.value_info.clear();
    }
}

/// Whether a convolution pads its input.
fn pads(node: &NodeProto) -> bool {
    let explicit = attribute(node, "pads").is_some_and(|a| a.ints.iter().any(|&p| p != 0));
    let auto = attribute(node, "auto_pad").and_then(|a| a.s.as_deref()).is_some_and(|s| s.starts_with(b"SAME"));
    explicit || auto
}

fn attribute<'n>(node: &'n NodeProto, name: &str) -> Option<&'n AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// Folds `graph` in place (see the module documentation).
pub fn fold(graph: &mut GraphProto, opset: i64) -> Folded {
    let mut folder = Folder::new(graph, opset);
    let mut folded = Folded::default();
    while folder.fold_into_producer() {
        folded.into_producer += 1;
    }
    while folder.fold_into_consumers() {
        folded.into_consumers += 1;
    }
    while folder.rewrite_hard_swish() {
        folded.hard_swish += 1;
    }
    while folder.rewrite_channel_expectation() {
        folded.channel_expectations += 1;
    }
    folder.finish();
    folded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::{Dim, GraphBuilder, attr_ints};

    fn values(graph: &GraphProto, name: &str) -> Vec<f32> {
        let tensor = graph.initializer.iter().find(|t| t.name == name).expect("initializer");
        float_values(tensor).expect("float values")
    }

    fn ops(graph: &GraphProto) -> Vec<&str> {
        graph.node.iter().map(|n| n.op_type.as_str()).collect()
    }

    /// `x → Conv(w 2×1×1×1, bias) → ·2 → +1 → hard-swish → ·0.5 → +0.25 → {Conv 1×1, Conv 3×3 padded}`.
    fn affine_blocks() -> GraphProto {
        let mut b = GraphBuilder::new("blocks");
        let four = [Dim::Fixed(1), Dim::Fixed(1), Dim::Fixed(4), Dim::Fixed(4)];
        b.add_input("x", DataType::Float, &four);
        let w = b.add_initializer_f32("w", &[2, 1, 1, 1], &[1.0, -2.0]);
        let bias = b.add_initializer_f32("bias", &[2], &[0.5, 0.0]);
        let two = b.add_initializer_f32("two", &[1], &[2.0]);
        let one = b.add_initializer_f32("one", &[1], &[1.0]);
        let three = b.add_initializer_f32("three", &[], &[3.0]);
        let zero = b.add_initializer_f32("zero", &[], &[0.0]);
        let six = b.add_initializer_f32("six", &[], &[6.0]);
        let half = b.add_initializer_f32("half", &[1], &[0.5]);
        let quarter = b.add_initializer_f32("quarter", &[1], &[0.25]);
        let pw = b.add_initializer_f32("pw", &[1, 2, 1, 1], &[1.0, 3.0]);
        let dw = b.add_initializer_f32("dw", &[2, 1, 3, 3], &[1.0; 18]);
        let conv = b.op("Conv", &["x", &w, &bias], Vec::new(), "conv");
        let scaled = b.op("Mul", &[&two, &conv], Vec::new(), "scaled");
        let shifted = b.op("Add", &[&scaled, &one], Vec::new(), "shifted");
        let plus3 = b.op("Add", &[&shifted, &three], Vec::new(), "plus3");
        let clipped = b.op("Clip", &[&plus3, &zero, &six], Vec::new(), "clipped");
        let product = b.op("Mul", &[&shifted, &clipped], Vec::new(), "product");
        let swish = b.op("Div", &[&product, &six], Vec::new(), "swish");
        let scaled2 = b.op("Mul", &[&swish, &half], Vec::new(), "scaled2");
        let shifted2 = b.op("Add", &[&quarter, &scaled2], Vec::new(), "shifted2");
        b.add_node("Conv", &[&shifted2, &pw], &["pointwise"], Vec::new());
        let padded = vec![attr_ints("pads", &[1, 1, 1, 1]), crate::onnx::attr_int("group", 2)];
        b.add_node("Conv", &[&shifted2, &dw], &["depthwise"], padded);
        b.add_output("pointwise", DataType::Float, &four);
        b.add_output("depthwise", DataType::Float, &[Dim::Fixed(1), Dim::Fixed(2), Dim::Fixed(4), Dim::Fixed(4)]);
        b.into_graph()
    }

    #[test]
    fn scalar_affine_layers_go_into_the_convolutions_and_hard_swish_into_two_ops() {
        let mut graph = affine_blocks();
        let folded = fold(&mut graph, 17);
        assert_eq!(folded, Folded { into_producer: 2, into_consumers: 1, hard_swish: 1, channel_expectations: 0 });
        assert_eq!(ops(&graph), ["Conv", "HardSigmoid", "Mul", "Add", "Conv", "Conv"]);
        // The first convolution: weights ·2, bias ·2 + 1, its output renamed to what the Add produced.
        let conv = &graph.node[0];
        assert_eq!(values(&graph, &conv.input[1]), [2.0, -4.0]);
        assert_eq!(values(&graph, &conv.input[2]), [2.0, 1.0]);
        let swish_input = &conv.output[0];
        assert_eq!(&graph.node[1].input[..], std::slice::from_ref(swish_input));
        let alpha = attribute(&graph.node[1], "alpha").and_then(|a| a.f);
        assert_eq!(alpha, Some(1.0 / 6.0));
        // The 1×1 convolution reads the hard-swish directly: weights ·0.5, bias 0.25 · (1 + 3).
        let swish = &graph.node[2].output[0];
        let pointwise = graph.node.iter().find(|n| n.output[0] == "pointwise").unwrap();
        assert_eq!(&pointwise.input[0], swish);
        assert_eq!(values(&graph, &pointwise.input[1]), [0.5, 1.5]);
        assert_eq!(values(&graph, &pointwise.input[2]), [1.0]);
        // The padded one reads swish + 0.25 / 0.5 with weights ·0.5 and no added bias.
        let depthwise = graph.node.iter().find(|n| n.output[0] == "depthwise").unwrap();
        let shift = &graph.node[3];
        assert_eq!(shift.input[0], *swish);
        assert_eq!(values(&graph, &shift.input[1]), [0.5]);
        assert_eq!(depthwise.input[0], shift.output[0]);
        assert_eq!(values(&graph, &depthwise.input[1]), [0.5; 18]);
        assert_eq!(values(&graph, &depthwise.input[2]), [0.0, 0.0]);
        // The constants no node reads are gone.
        let names: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        for gone in ["w", "bias", "two", "one", "three", "zero", "six", "half", "quarter", "pw", "dw"] {
            assert!(!names.contains(&gone), "{gone} is still there: {names:?}");
        }
    }

    #[test]
    fn a_softmax_over_channels_read_by_a_one_channel_convolution_moves_to_the_last_axis() {
        // YOLOv8's DFL: [1, 4, 16, N] → Transpose (0 2 1 3) → Softmax over the 16 bins → Conv 1×1 (0..15).
        let mut b = GraphBuilder::new("dfl");
        b.add_input("x", DataType::Float, &[Dim::Fixed(1), Dim::Fixed(4), Dim::Fixed(16), Dim::Fixed(8)]);
        let bins: Vec<f32> = (0..16).map(|i| i as f32).collect();
        let w = b.add_initializer_f32("w", &[1, 16, 1, 1], &bins);
        let t = b.op("Transpose", &["x"], vec![attr_ints("perm", &[0, 2, 1, 3])], "t");
        let p = b.op("Softmax", &[&t], vec![crate::onnx::attr_int("axis", 1)], "p");
        b.add_node("Conv", &[&p, &w], &["y"], vec![attr_ints("kernel_shape", &[1, 1])]);
        b.add_output("y", DataType::Float, &[Dim::Fixed(1), Dim::Fixed(1), Dim::Fixed(4), Dim::Fixed(8)]);
        let graph = b.into_graph();
        // Before opset 13 a Softmax's axis flattens the rest: left alone.
        let mut old = graph.clone();
        assert_eq!(fold(&mut old, 12), Folded::default());
        let mut graph = graph;
        assert_eq!(fold(&mut graph, 17), Folded { channel_expectations: 1, ..Default::default() });
        assert_eq!(ops(&graph), ["Transpose", "Softmax", "MatMul", "Transpose"]);
        assert_eq!(attribute(&graph.node[0], "perm").unwrap().ints, [0, 1, 3, 2]);
        assert_eq!(attribute(&graph.node[1], "axis").unwrap().i, Some(3));
        let column = graph.initializer.iter().find(|t| t.name == graph.node[2].input[1]).unwrap();
        assert_eq!(column.dims, [16, 1]);
        assert_eq!(float_values(column).unwrap(), bins);
        assert_eq!(attribute(&graph.node[3], "perm").unwrap().ints, [0, 3, 1, 2]);
        assert_eq!(graph.node[3].output, ["y"]);
    }

    #[test]
    fn graph_outputs_and_shared_tensors_are_left_alone() {
        // A convolution whose output is also a graph output, or read twice, keeps its Mul.
        let mut b = GraphBuilder::new("kept");
        let four = [Dim::Fixed(1), Dim::Fixed(1), Dim::Fixed(2), Dim::Fixed(2)];
        b.add_input("x", DataType::Float, &four);
        let w = b.add_initializer_f32("w", &[1, 1, 1, 1], &[1.0]);
        let two = b.add_initializer_f32("two", &[1], &[2.0]);
        let conv = b.op("Conv", &["x", &w], Vec::new(), "conv");
        b.add_node("Mul", &[&conv, &two], &["y"], Vec::new());
        b.add_node("Relu", &[&conv], &["z"], Vec::new());
        b.add_output("y", DataType::Float, &four);
        b.add_output("z", DataType::Float, &four);
        let mut graph = b.into_graph();
        assert_eq!(fold(&mut graph, 17), Folded::default());
        assert_eq!(ops(&graph), ["Conv", "Mul", "Relu"]);
        // A scale by zero cannot be undone for a padded convolution's shift: left as it is.
        let mut b = GraphBuilder::new("zero");
        b.add_input("x", DataType::Float, &four);
        let w = b.add_initializer_f32("w", &[1, 1, 3, 3], &[1.0; 9]);
        let zero = b.add_initializer_f32("zero", &[1], &[0.0]);
        let one = b.add_initializer_f32("one", &[1], &[1.0]);
        let relu = b.op("Relu", &["x"], Vec::new(), "relu");
        let scaled = b.op("Mul", &[&relu, &zero], Vec::new(), "scaled");
        let shifted = b.op("Add", &[&scaled, &one], Vec::new(), "shifted");
        b.add_node("Conv", &[&shifted, &w], &["y"], vec![attr_ints("pads", &[1, 1, 1, 1])]);
        b.add_output("y", DataType::Float, &four);
        let mut graph = b.into_graph();
        assert_eq!(fold(&mut graph, 17), Folded::default());
        assert_eq!(ops(&graph), ["Relu", "Mul", "Add", "Conv"]);
    }
}
