// Writes golden outputs of TF.js graph models for the reko-convert tests.
//
// For each case: load <model>.json + shards from disk (no network), take a real photo from
// /work/shared/eval, crop it (fixed coordinates), resize with tf.image.resizeBilinear to the model's
// input size, round/clamp to uint8, normalise (x = u8 * scale + offset), run model.execute on the
// pure-JS CPU backend and write crates/reko-convert/tests/golden/<model>.json.
//
// Inputs larger than 128 px are stored at 1/upsample resolution (upsample the smallest integer
// factor giving <= 128 px) and replicated (nearest, integer
// factor) to the model size, so both sides rebuild the same pixels exactly and each golden stays
// under 200 KB.
//
// Usage: (cd tools/golden && npm install && node tfjs_golden.mjs [model ...])
// Models are read from $REKO_TEST_TFJS_DIR (default /tmp/npmdl/hm/package/models).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import jpeg from 'jpeg-js';

const here = path.dirname(fileURLToPath(import.meta.url));
const MODELS = process.env.REKO_TEST_TFJS_DIR || '/tmp/npmdl/hm/package/models';
const OUT = path.join(here, '../../crates/reko-convert/tests/golden');
const EVAL = process.env.REKO_EVAL_DIR || '/work/shared/eval';
const SAMPLE = 2000;

const PORTRAIT = 'deepface_unit/img1.jpg'; // 1382x1868, one frontal face
const WHOLE_TOP = [0, 0, 1382, 1382]; // square top of the portrait, face inside
const FACE = [300, 220, 800, 800]; // the face, chin to forehead
const EYE = [490, 430, 180, 180]; // the subject's right eye (image left)
const UNIT = { scale: 1 / 255, offset: 0 }; // float 0..1
const SIGNED = { scale: 1 / 127.5, offset: -1 }; // float -1..1 (BlazeFace family)

// model, image, crop [x, y, w, h], channels, normalisation, optional explicit outputs
const CASES = [
  { model: 'blazeface-back', image: PORTRAIT, crop: WHOLE_TOP, norm: SIGNED },
  { model: 'blazeface-front', image: PORTRAIT, crop: WHOLE_TOP, norm: SIGNED },
  { model: 'facemesh', image: PORTRAIT, crop: FACE, norm: UNIT },
  { model: 'iris', image: PORTRAIT, crop: EYE, norm: UNIT },
  { model: 'emotion', image: PORTRAIT, crop: FACE, gray: true, norm: { scale: 2 / 255, offset: -1 } },
  { model: 'faceres', image: PORTRAIT, crop: FACE, norm: UNIT },
  { model: 'selfie', image: PORTRAIT, crop: WHOLE_TOP, norm: UNIT },
  { model: 'facemesh-detection-full', image: PORTRAIT, crop: WHOLE_TOP, norm: SIGNED },
  { model: 'facemesh-detection-short', image: PORTRAIT, crop: WHOLE_TOP, norm: SIGNED },
  {
    model: 'centernet',
    image: 'coco_val2017_first128/images/000000000139.jpg',
    crop: null,
    norm: UNIT,
    outputs: ['tower_0/wh', 'tower_0/keypoints'],
  },
  { model: 'age', image: PORTRAIT, crop: FACE, norm: UNIT },
  { model: 'gender', image: PORTRAIT, crop: FACE, gray: true, norm: UNIT },
  { model: 'antispoof', image: PORTRAIT, crop: FACE, norm: UNIT },
];

function loadModelArtifacts(name) {
  const file = path.join(MODELS, `${name}.json`);
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const weightSpecs = [];
  const buffers = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(MODELS, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    signature: json.signature,
    userDefinedMetadata: json.userDefinedMetadata,
    weightSpecs,
    weightData,
  };
}

function decodeImage(rel) {
  const raw = jpeg.decode(fs.readFileSync(path.join(EVAL, rel)), {
    useTArray: true,
    formatAsRGBA: false,
    maxMemoryUsageInMB: 2048,
  });
  return tf.tensor3d(raw.data, [raw.height, raw.width, 3], 'int32');
}

/** The model input as uint8 HWC pixels at 1/upsample resolution. */
function preparePixels(image, crop, height, width, channels, upsample) {
  return tf.tidy(() => {
    const cropped = crop ? tf.slice(image, [crop[1], crop[0], 0], [crop[3], crop[2], 3]) : image;
    const resized = tf.image.resizeBilinear(cropped.toFloat(), [height / upsample, width / upsample]);
    let pixels = tf.clipByValue(tf.round(resized), 0, 255);
    if (channels === 1) {
      const [r, g, b] = tf.split(pixels, 3, 2);
      pixels = tf.clipByValue(tf.round(r.mul(0.299).add(g.mul(0.587)).add(b.mul(0.114))), 0, 255);
    }
    return Uint8Array.from(pixels.dataSync());
  });
}

function replicate(small, height, width, channels, upsample) {
  const out = new Uint8Array(height * width * channels);
  const sw = width / upsample;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const src = (Math.floor(y / upsample) * sw + Math.floor(x / upsample)) * channels;
      out.set(small.subarray(src, src + channels), (y * width + x) * channels);
    }
  }
  return out;
}

function summarise(name, tensor) {
  const values = Array.from(tensor.dataSync());
  const entry = { name, shape: tensor.shape };
  if (values.length <= SAMPLE) {
    entry.values = values;
  } else {
    const stride = Math.ceil(values.length / SAMPLE);
    entry.sample_indices = [];
    for (let i = 0; i < values.length; i += stride) entry.sample_indices.push(i);
    if (entry.sample_indices.at(-1) !== values.length - 1) entry.sample_indices.push(values.length - 1);
    entry.sample_values = entry.sample_indices.map((i) => values[i]);
  }
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (const v of values) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    sum += v;
  }
  Object.assign(entry, { min, max, mean: sum / values.length });
  return entry;
}

async function run(spec) {
  const model = await tf.loadGraphModel(tf.io.fromMemory(loadModelArtifacts(spec.model)));
  const inputShape = model.inputs[0].shape.map((d) => (d == null || d < 0 ? 1 : d));
  const [, height, width, channels] = inputShape;
  // smallest integer factor that brings the stored image to <= 128 px
  let upsample = 1;
  while (height / upsample > 128 || height % upsample || width % upsample) upsample++;
  const image = decodeImage(spec.image);
  const small = preparePixels(image, spec.crop, height, width, channels, upsample);
  image.dispose();
  const pixels = replicate(small, height, width, channels, upsample);
  const input = tf.tidy(() =>
    tf.tensor4d(Float32Array.from(pixels), inputShape).mul(spec.norm.scale).add(spec.norm.offset),
  );
  const names = spec.outputs ?? model.outputNodes;
  let results = model.execute(input, spec.outputs);
  if (!Array.isArray(results)) results = [results];
  const golden = {
    model: spec.model,
    image: spec.image,
    crop: spec.crop,
    input_name: model.inputNodes[0],
    input_shape: inputShape,
    input_upsample: upsample,
    input_uint8_base64: Buffer.from(small).toString('base64'),
    normalisation: spec.norm,
    tfjs_version: tf.version.tfjs,
    backend: tf.getBackend(),
    outputs: results.map((t, i) => summarise(names[i], t)),
  };
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, `${spec.model}.json`);
  fs.writeFileSync(file, `${JSON.stringify(golden)}\n`);
  console.log(
    `${spec.model}: ${golden.outputs.map((o) => `${o.name}[${o.shape}]`).join(', ')} -> ${file} (${fs.statSync(file).size} bytes)`,
  );
  tf.dispose([input, ...results]);
  model.dispose();
}

await tf.setBackend('cpu');
const wanted = process.argv.slice(2);
for (const spec of CASES) {
  if (wanted.length && !wanted.includes(spec.model)) continue;
  await run(spec);
}
