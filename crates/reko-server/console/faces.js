// The photo pages: try an image (DetectFaces, DetectLabels, DetectText, DetectModerationLabels drawn over
// it) and compare faces.

import { base64, call } from "./api.js";
import { COLOURS, drawBox, drawImage, drawPoint, drawPolygon, loadImage } from "./draw.js";
import { $, chosenFile, el, fileBytes, pct, run, showCall } from "./ui.js";

let tryImage = null;

async function pickTryImage(file) {
  tryImage = { file, image: await loadImage(file), bytes: await fileBytes(file) };
  drawImage($("#try-canvas"), tryImage.image);
  $("#try-results").replaceChildren();
  $("#try-call").hidden = true;
}

function faceItems(faces) {
  return faces.map((face, i) => {
    const parts = [`Face ${i + 1}: ${pct(face.Confidence)}`];
    if (face.AgeRange) parts.push(`age ${face.AgeRange.Low}–${face.AgeRange.High}`);
    if (face.Gender) parts.push(`${face.Gender.Value} (${pct(face.Gender.Confidence)})`);
    if (face.Emotions && face.Emotions.length) parts.push(`looks ${face.Emotions[0].Type.toLowerCase()}`);
    if (face.Smile) parts.push(face.Smile.Value ? "smiling" : "not smiling");
    if (face.Pose) parts.push(`yaw ${face.Pose.Yaw.toFixed(0)}°, pitch ${face.Pose.Pitch.toFixed(0)}°`);
    return el("li", {}, parts.join(" · "));
  });
}

const ANALYSES = {
  DetectFaces: {
    params: { Attributes: ["ALL"] },
    show(context, response) {
      for (const [i, face] of response.FaceDetails.entries()) {
        drawBox(context, face.BoundingBox, COLOURS.FACE, `Face ${i + 1}`);
        for (const landmark of face.Landmarks || []) drawPoint(context, landmark, COLOURS.LANDMARK);
      }
      return response.FaceDetails.length ? faceItems(response.FaceDetails) : [el("li", {}, "No face found.")];
    },
  },
  DetectLabels: {
    params: { Features: ["GENERAL_LABELS", "IMAGE_PROPERTIES"] },
    show(context, response) {
      const items = [];
      for (const label of response.Labels) {
        for (const instance of label.Instances || []) {
          drawBox(context, instance.BoundingBox, COLOURS.OBJECT, `${label.Name} ${instance.Confidence.toFixed(0)}`);
        }
        const parents = (label.Parents || []).map((p) => p.Name).join(", ");
        items.push(el("li", {}, `${label.Name}: ${pct(label.Confidence)}${parents ? ` (${parents})` : ""}`));
      }
      const colours = (response.ImageProperties && response.ImageProperties.DominantColors) || [];
      if (colours.length) {
        items.push(
          el(
            "li",
            {},
            "Dominant colours: ",
            colours.map((c) =>
              el("span", { class: "swatch", style: `background:${c.HexCode}`, title: `${c.SimplifiedColor} ${pct(c.PixelPercent)}` }),
            ),
          ),
        );
      }
      return items.length ? items : [el("li", {}, "No label.")];
    },
  },
  DetectText: {
    params: {},
    show(context, response) {
      const lines = response.TextDetections.filter((t) => t.Type === "LINE");
      for (const text of response.TextDetections) {
        drawPolygon(context, text.Geometry.Polygon, text.Type === "LINE" ? COLOURS.LINE : COLOURS.WORD, text.Type === "LINE" ? 2 : 1);
      }
      return lines.length ? lines.map((t) => el("li", {}, `${t.DetectedText} (${pct(t.Confidence)})`)) : [el("li", {}, "No text found.")];
    },
  },
  DetectModerationLabels: {
    params: {},
    show(context, response) {
      const labels = response.ModerationLabels;
      return labels.length
        ? labels.map((l) => el("li", {}, `${l.Name}${l.ParentName ? ` (${l.ParentName})` : ""}: ${pct(l.Confidence)}`))
        : [el("li", {}, "Nothing to moderate.")];
    },
  },
};

async function analyse(operation, button) {
  await run(button, async () => {
    if (!tryImage) throw new Error("Choose or drop a photo first.");
    const spec = ANALYSES[operation];
    const params = { Image: { Bytes: base64(tryImage.bytes) }, ...spec.params };
    const response = await call(operation, params);
    const context = drawImage($("#try-canvas"), tryImage.image);
    $("#try-results").replaceChildren(...spec.show(context, response));
    $("#try-canvas").dataset.operation = operation;
    showCall("try", operation, { ...spec.params, Image: null }, { Image: tryImage.file.name }, response);
  });
}

export function setUpTry() {
  const input = $("#try-file");
  input.addEventListener("change", () => input.files[0] && run(null, () => pickTryImage(input.files[0])));
  const zone = $("#try-drop");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const file = event.dataTransfer.files[0];
    if (file) run(null, () => pickTryImage(file));
  });
  for (const operation of Object.keys(ANALYSES)) {
    const button = el("button", { type: "button", onclick: () => analyse(operation, button) }, operation);
    $("#try-actions").append(button);
  }
}

export function setUpCompare() {
  $("#compare-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const button = event.submitter;
    run(button, async () => {
      const source = chosenFile($("#compare-source"));
      const target = chosenFile($("#compare-target"));
      const threshold = Number($("#compare-threshold").value || 80);
      const params = {
        SourceImage: { Bytes: base64(await fileBytes(source)) },
        TargetImage: { Bytes: base64(await fileBytes(target)) },
        SimilarityThreshold: threshold,
      };
      const response = await call("CompareFaces", params);
      const sourceContext = drawImage($("#compare-source-canvas"), await loadImage(source), 360);
      if (response.SourceImageFace) drawBox(sourceContext, response.SourceImageFace.BoundingBox, COLOURS.FACE, "source");
      const targetContext = drawImage($("#compare-target-canvas"), await loadImage(target), 360);
      for (const match of response.FaceMatches) drawBox(targetContext, match.Face.BoundingBox, COLOURS.FACE, pct(match.Similarity));
      for (const face of response.UnmatchedFaces) drawBox(targetContext, face.BoundingBox, COLOURS.MISS);
      $("#compare-results").replaceChildren(
        el("li", {}, `${response.FaceMatches.length} match(es) at ${threshold}% or more, ${response.UnmatchedFaces.length} other face(s)`),
        ...response.FaceMatches.map((m, i) => el("li", {}, `Match ${i + 1}: similarity ${pct(m.Similarity)}`)),
      );
      showCall("compare", "CompareFaces", { SimilarityThreshold: threshold }, { SourceImage: source.name, TargetImage: target.name }, response);
    });
  });
}
