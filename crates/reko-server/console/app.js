// The console's pages: try an image (DetectFaces, DetectLabels, DetectText, DetectModerationLabels),
// compare faces, and collections (list, create, delete, browse, index, search). Every action is one call
// of the public API (api.js); what it answered is drawn, listed, and shown as JSON with the equivalent
// AWS CLI and boto3 call.

import { ApiError, base64, call, equivalents, loadCredentials, saveCredentials } from "./api.js";
import { COLOURS, drawBox, drawImage, drawPoint, drawPolygon, loadImage } from "./draw.js";

const $ = (selector) => document.querySelector(selector);

/** An element with attributes and children (strings become text: nothing is parsed as HTML). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

const pct = (value) => `${Number(value).toFixed(1)}%`;

// ---- status and errors --------------------------------------------------------------------------------

function showError(error) {
  const box = $("#error");
  if (error instanceof ApiError) {
    box.textContent = `${error.type}: ${error.message}`;
  } else {
    box.textContent = String(error && error.message ? error.message : error);
  }
  box.hidden = false;
}

function clearError() {
  $("#error").hidden = true;
  $("#error").textContent = "";
}

/** Runs an action with the page marked busy; errors are shown, never thrown. */
async function run(button, action) {
  clearError();
  const buttons = document.querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  document.body.classList.add("busy");
  try {
    await action();
  } catch (error) {
    showError(error);
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    document.body.classList.remove("busy");
    if (button) button.focus();
  }
}

/** Shows a call's response and its CLI/boto3 equivalents in a page's panels. */
function showCall(prefix, operation, params, images, response) {
  const { cli, boto3 } = equivalents(operation, params, images);
  $(`#${prefix}-json`).textContent = JSON.stringify(response, null, 2);
  $(`#${prefix}-cli`).textContent = cli;
  $(`#${prefix}-boto3`).textContent = boto3;
  $(`#${prefix}-call`).hidden = false;
}

async function fileBytes(file) {
  return new Uint8Array(await file.arrayBuffer());
}

function chosenFile(input) {
  const file = input.files && input.files[0];
  if (!file) throw new Error("Choose a photo first.");
  return file;
}

// ---- credentials ----------------------------------------------------------------------------------------

async function setUpCredentials() {
  const form = $("#credentials");
  const stored = loadCredentials();
  let devMode = false;
  try {
    devMode = (await (await fetch("/console/config.json")).json()).devMode;
  } catch {
    devMode = false;
  }
  $("#mode").textContent = devMode ? "dev mode: any key works" : "signed with your keys";
  form.accessKeyId.value = stored.accessKeyId || (devMode ? "dev" : "");
  form.secretAccessKey.value = stored.secretAccessKey || (devMode ? "dev" : "");
  form.region.value = stored.region || "us-east-1";
  const save = () =>
    saveCredentials({
      accessKeyId: form.accessKeyId.value.trim(),
      secretAccessKey: form.secretAccessKey.value,
      region: form.region.value.trim() || "us-east-1",
    });
  save();
  form.addEventListener("input", save);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
    run(null, refreshCollections);
  });
  if (!devMode && !stored.accessKeyId) form.closest("details").open = true;
}

// ---- try an image -----------------------------------------------------------------------------------------

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

function setUpTry() {
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

// ---- compare faces ----------------------------------------------------------------------------------------

function setUpCompare() {
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

// ---- collections ------------------------------------------------------------------------------------------

let selected = null;

async function refreshCollections() {
  if (!loadCredentials().accessKeyId) {
    $("#collection-list").replaceChildren(el("li", {}, "Enter your keys (Keys, at the top) to see your collections."));
    return;
  }
  const listed = await call("ListCollections", {});
  const list = $("#collection-list");
  list.replaceChildren(
    ...listed.CollectionIds.map((id) =>
      el(
        "li",
        {},
        el("button", { type: "button", class: "link", "data-collection": id, onclick: (e) => run(e.currentTarget, () => selectCollection(id)) }, id),
        " ",
        el("button", { type: "button", class: "danger", "aria-label": `Delete ${id}`, onclick: (e) => run(e.currentTarget, () => deleteCollection(id)) }, "Delete"),
      ),
    ),
  );
  if (!listed.CollectionIds.length) list.append(el("li", {}, "No collection yet."));
  if (selected && !listed.CollectionIds.includes(selected)) {
    selected = null;
    $("#collection").hidden = true;
  }
}

async function deleteCollection(id) {
  if (!confirm(`Delete collection ${id} and all its faces?`)) return;
  await call("DeleteCollection", { CollectionId: id });
  await refreshCollections();
}

async function selectCollection(id) {
  selected = id;
  const [described, faces] = await Promise.all([
    call("DescribeCollection", { CollectionId: id }),
    call("ListFaces", { CollectionId: id, MaxResults: 100 }),
  ]);
  $("#collection-title").textContent = id;
  $("#collection-facts").textContent =
    `${described.FaceCount} face(s), ${described.UserCount} user(s), face model ${described.FaceModelVersion}, ${described.CollectionARN}`;
  const rows = faces.Faces.map((f) =>
    el(
      "tr",
      {},
      el("td", {}, f.FaceId),
      el("td", {}, f.ExternalImageId || "—"),
      el("td", {}, f.UserId || "—"),
      el("td", {}, pct(f.Confidence)),
      el("td", {}, ["Left", "Top", "Width", "Height"].map((k) => f.BoundingBox[k].toFixed(2)).join(", ")),
    ),
  );
  $("#face-rows").replaceChildren(...rows);
  if (!rows.length) $("#face-rows").append(el("tr", {}, el("td", { colspan: "5" }, "No face indexed yet.")));
  $("#collection").hidden = false;
  $("#search-results").replaceChildren();
}

function setUpCollections() {
  $("#create-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(event.submitter, async () => {
      const id = $("#create-id").value.trim();
      const response = await call("CreateCollection", { CollectionId: id });
      $("#create-id").value = "";
      await refreshCollections();
      await selectCollection(id);
      showCall("collection", "CreateCollection", { CollectionId: id }, {}, response);
    });
  });
  $("#index-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(event.submitter, async () => {
      const file = chosenFile($("#index-file"));
      const external = $("#index-external").value.trim();
      const params = { CollectionId: selected, ...(external ? { ExternalImageId: external } : {}) };
      const response = await call("IndexFaces", { ...params, Image: { Bytes: base64(await fileBytes(file)) } });
      await selectCollection(selected);
      $("#search-results").replaceChildren(
        el("li", {}, `Indexed ${response.FaceRecords.length} face(s); ${response.UnindexedFaces.length} not indexed` +
          (response.UnindexedFaces.length ? ` (${[...new Set(response.UnindexedFaces.flatMap((u) => u.Reasons))].join(", ")})` : "")),
      );
      showCall("collection", "IndexFaces", params, { Image: file.name }, response);
    });
  });
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(event.submitter, async () => {
      const file = chosenFile($("#search-file"));
      const params = { CollectionId: selected, FaceMatchThreshold: Number($("#search-threshold").value || 80), MaxFaces: 10 };
      const response = await call("SearchFacesByImage", { ...params, Image: { Bytes: base64(await fileBytes(file)) } });
      const context = drawImage($("#search-canvas"), await loadImage(file), 360);
      drawBox(context, response.SearchedFaceBoundingBox, COLOURS.FACE, "searched");
      const matches = response.FaceMatches.map((m) =>
        el("li", { class: "match" }, `${m.Face.ExternalImageId || m.Face.FaceId}: similarity ${pct(m.Similarity)}`),
      );
      $("#search-results").replaceChildren(...(matches.length ? matches : [el("li", {}, "No match.")]));
      showCall("collection", "SearchFacesByImage", params, { Image: file.name }, response);
    });
  });
}

// ---- pages ------------------------------------------------------------------------------------------------

function showPage() {
  const page = (location.hash || "#try").slice(1);
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== page;
  for (const link of document.querySelectorAll("nav a")) {
    link.setAttribute("aria-current", link.getAttribute("href") === `#${page}` ? "page" : "false");
  }
  if (page === "collections") run(null, refreshCollections);
}

async function start() {
  await setUpCredentials();
  setUpTry();
  setUpCompare();
  setUpCollections();
  window.addEventListener("hashchange", showPage);
  showPage();
  document.body.dataset.ready = "true";
}

start();
