// Writes golden outputs of the weights-only face-api nets (@vladmandic/face-api 1.7.15) for the
// reko-convert tests (crates/reko-convert/tests/faceapi_golden.rs).
//
// face-api's own code runs the nets: its ESM build without bundled TF.js
// (dist/face-api.esm-nobundle.js) is loaded on top of this folder's @tensorflow/tfjs (pure-JS CPU
// backend); the WebGL/WASM backends it imports are stubbed by a module-resolution hook. Weights come
// from <name>-weights_manifest.json + shards on disk (tf.io.decodeWeights, no network) and are loaded
// with net.loadFromWeightMap, exactly as face-api's loadFromUri/loadFromDisk do.
//
// For each net: a real photo from /work/shared/eval is cropped (fixed coordinates), resized with
// tf.image.resizeBilinear, rounded to uint8 and handed to face-api as an int32 [H, W, 3] tensor of the
// net's input size, so face-api's toBatchTensor neither pads nor resizes and its forward pass applies
// its own normalisation. Inputs above 128 px (SSD's 512) are stored at 1/upsample resolution and
// replicated nearest-neighbour, so both sides rebuild the same pixels and each golden stays < 200 KB.
//
// Usage: (cd tools/golden && npm install && node faceapi_golden.mjs [model ...])
// Models are read from $REKO_TEST_FACEAPI_DIR (default /tmp/faceapi/package/model).

import fs from 'node:fs';
import path from 'node:path';
import { register } from 'node:module';
import { fileURLToPath } from 'node:url';
import jpeg from 'jpeg-js';

// face-api.esm-nobundle.js imports '@tensorflow/tfjs/dist/index.js' (a bundler-only ESM entry) and the
// WebGL/WASM backends: map the first to the package's Node entry and stub the backends.
const hook = `export async function resolve(s, c, next) {
  if (s.startsWith('@tensorflow/tfjs-backend-wasm') || s.startsWith('@tensorflow/tfjs-backend-webgl')) {
    return { url: 'data:text/javascript,export {}', shortCircuit: true };
  }
  if (s === '@tensorflow/tfjs/dist/index.js') return next('@tensorflow/tfjs', c);
  return next(s, c);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`, import.meta.url);
const tf = await import('@tensorflow/tfjs');
const faceapi = await import('@vladmandic/face-api/dist/face-api.esm-nobundle.js');

const here = path.dirname(fileURLToPath(import.meta.url));
const MODELS = process.env.REKO_TEST_FACEAPI_DIR || '/tmp/faceapi/package/model';
const OUT = path.join(here, '../../crates/reko-convert/tests/golden_faceapi');
const EVAL = process.env.REKO_EVAL_DIR || '/work/shared/eval';
const SAMPLE = 2000;

const PORTRAIT = 'deepface_unit/img1.jpg'; // 1382x1868, one frontal face
const FACE = [300, 220, 800, 800]; // the face, chin to forehead [x, y, w, h]
const COUPLE = 'deepface_unit/couple.jpg'; // 2280x1588, two faces
const COUPLE_SQUARE = [346, 0, 1588, 1588];
const MEAN_RGB = { mode: 'mean_div', mean: [122.782, 117.001, 104.298], div: 255, sub: 0 };
const SIGNED = { mode: 'div_sub', mean: [0, 0, 0], div: 127.5, sub: 1 };

const CASES = [
  { model: 'face_recognition_model', net: () => new faceapi.FaceRecognitionNet(), size: 150, image: PORTRAIT, crop: FACE, norm: MEAN_RGB },
  { model: 'ssd_mobilenetv1_model', net: () => new faceapi.SsdMobilenetv1(), size: 512, image: COUPLE, crop: COUPLE_SQUARE, norm: SIGNED },
  { model: 'face_landmark_68_model', net: () => new faceapi.FaceLandmark68Net(), size: 112, image: PORTRAIT, crop: FACE, norm: MEAN_RGB },
  { model: 'face_landmark_68_tiny_model', net: () => new faceapi.FaceLandmark68TinyNet(), size: 112, image: PORTRAIT, crop: FACE, norm: MEAN_RGB },
  { model: 'age_gender_model', net: () => new faceapi.AgeGenderNet(), size: 112, image: PORTRAIT, crop: FACE, norm: MEAN_RGB },
  { model: 'face_expression_model', net: () => new faceapi.FaceExpressionNet(), size: 112, image: PORTRAIT, crop: FACE, norm: MEAN_RGB },
];

function loadWeightMap(name) {
  const manifest = JSON.parse(fs.readFileSync(path.join(MODELS, `${name}-weights_manifest.json`), 'utf8'));
  const map = {};
  for (const group of manifest) {
    const all = Buffer.concat(group.paths.map((p) => fs.readFileSync(path.join(MODELS, p))));
    const data = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
    Object.assign(map, tf.io.decodeWeights(data, group.weights));
  }
  return map;
}

function decodeImage(rel) {
  const raw = jpeg.decode(fs.readFileSync(path.join(EVAL, rel)), { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048 });
  return tf.tensor3d(raw.data, [raw.height, raw.width, 3], 'int32');
}

function preparePixels(image, crop, side) {
  return tf.tidy(() => {
    const cropped = tf.slice(image, [crop[1], crop[0], 0], [crop[3], crop[2], 3]);
    const resized = tf.image.resizeBilinear(cropped.toFloat(), [side, side]);
    return Uint8Array.from(tf.clipByValue(tf.round(resized), 0, 255).dataSync());
  });
}

function replicate(small, size, upsample) {
  const out = new Uint8Array(size * size * 3);
  const sw = size / upsample;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const src = (Math.floor(y / upsample) * sw + Math.floor(x / upsample)) * 3;
      out.set(small.subarray(src, src + 3), (y * size + x) * 3);
    }
  }
  return out;
}

/** All values up to SAMPLE, else a strided sample plus `extra` indices, with min/max/mean. */
function summarise(name, tensor, extra = []) {
  const values = Array.from(tensor.dataSync());
  const entry = { name, shape: tensor.shape };
  if (values.length <= SAMPLE) {
    entry.values = values;
  } else {
    const stride = Math.ceil(values.length / SAMPLE);
    const set = new Set(extra);
    for (let i = 0; i < values.length; i += stride) set.add(i);
    set.add(values.length - 1);
    entry.sample_indices = [...set].sort((a, b) => a - b);
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
  const net = spec.net();
  net.loadFromWeightMap(loadWeightMap(spec.model));
  let upsample = 1;
  while (spec.size / upsample > 128 || spec.size % upsample) upsample++;
  if (spec.size === 150) upsample = 1; // 150x150x3 fits the size budget as is
  const image = decodeImage(spec.image);
  const small = preparePixels(image, spec.crop, spec.size / upsample);
  image.dispose();
  const pixels = replicate(small, spec.size, upsample);
  const input = tf.tensor3d(Int32Array.from(pixels), [spec.size, spec.size, 3], 'int32');
  const netInput = await faceapi.toNetInput(input);
  let outputs;
  if (spec.model === 'ssd_mobilenetv1_model') {
    const { boxes, scores } = net.forwardInput(netInput);
    // the top anchors (the faces) are always in the sample
    const s = Array.from(scores[0].dataSync());
    const top = s.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, 50).map(([, i]) => i);
    const b2 = boxes[0].expandDims(0);
    const s2 = scores[0].expandDims(0);
    outputs = [summarise('boxes', b2, top.flatMap((i) => [4 * i, 4 * i + 1, 4 * i + 2, 4 * i + 3])), summarise('scores', s2, top)];
    console.log(`  top scores: ${top.slice(0, 5).map((i) => `${i}:${s[i].toFixed(4)}`).join(' ')}`);
  } else if (spec.model === 'face_landmark_68_model' || spec.model === 'face_landmark_68_tiny_model') {
    outputs = [summarise('landmarks', net.runNet(netInput))];
  } else if (spec.model === 'age_gender_model') {
    const { age, gender } = net.forwardInput(netInput);
    outputs = [summarise('age', age), summarise('gender', gender)];
  } else if (spec.model === 'face_expression_model') {
    outputs = [summarise('expressions', net.forwardInput(netInput)), summarise('logits', net.runNet(netInput))];
  } else {
    outputs = [summarise('descriptor', net.forwardInput(netInput))];
  }
  const golden = {
    model: spec.model,
    image: spec.image,
    crop: spec.crop,
    input_shape: [1, spec.size, spec.size, 3],
    input_upsample: upsample,
    input_uint8_base64: Buffer.from(small).toString('base64'),
    normalisation: spec.norm,
    face_api_version: '1.7.15',
    tfjs_version: tf.version.tfjs,
    backend: tf.getBackend(),
    outputs,
  };
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, `${spec.model}.json`);
  fs.writeFileSync(file, `${JSON.stringify(golden)}\n`);
  console.log(`${spec.model}: ${outputs.map((o) => `${o.name}[${o.shape}]`).join(', ')} -> ${file} (${fs.statSync(file).size} bytes)`);
  input.dispose();
  net.dispose();
}

await tf.setBackend('cpu');
await tf.ready();
const wanted = process.argv.slice(2);
for (const spec of CASES) {
  if (wanted.length && !wanted.includes(spec.model)) continue;
  await run(spec);
}
