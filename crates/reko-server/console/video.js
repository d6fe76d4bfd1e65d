// The video page: start a job on a video of the object store, follow its status, and see its results on a
// timeline (one row per label, person, face or text; a mark at each time it was seen). Rekognition has no
// call that lists jobs, so the page remembers the jobs started in this tab.

import { call } from "./api.js";
import { $, el, pct, run, showCall } from "./ui.js";

/** Each analysis: its Start and Get operations (Start + name, Get + name), extra start parameters, and the timeline rows of a result page. */
const ANALYSES = {
  LabelDetection: {
    start: () => ({ MinConfidence: 50 }),
    items: (r) => (r.Labels || []).map((d) => ({ row: d.Label.Name, at: d.Timestamp, confidence: d.Label.Confidence })),
  },
  FaceDetection: {
    start: () => ({}),
    items: (r) => (r.Faces || []).map((d) => ({ row: "Face", at: d.Timestamp, confidence: d.Face.Confidence })),
  },
  PersonTracking: {
    start: () => ({}),
    items: (r) => (r.Persons || []).map((d) => ({ row: `Person ${d.Person.Index}`, at: d.Timestamp })),
  },
  TextDetection: {
    start: () => ({}),
    items: (r) =>
      (r.TextDetections || [])
        .filter((d) => d.TextDetection.Type === "LINE")
        .map((d) => ({ row: d.TextDetection.DetectedText, at: d.Timestamp, confidence: d.TextDetection.Confidence })),
  },
  ContentModeration: {
    start: () => ({}),
    items: (r) => (r.ModerationLabels || []).map((d) => ({ row: d.ModerationLabel.Name, at: d.Timestamp, confidence: d.ModerationLabel.Confidence })),
  },
  SegmentDetection: {
    start: () => ({ SegmentTypes: ["SHOT", "TECHNICAL_CUE"] }),
    items: (r) =>
      (r.Segments || []).map((d) => ({
        row: d.Type === "SHOT" ? "Shots" : d.TechnicalCueSegment.Type,
        at: d.StartTimestampMillis,
        until: d.EndTimestampMillis,
      })),
  },
  FaceSearch: {
    start: () => {
      const collection = $("#video-collection").value.trim();
      if (!collection) throw new Error("FaceSearch needs the collection to search.");
      return { CollectionId: collection };
    },
    items: (r) =>
      (r.Persons || []).flatMap((d) =>
        (d.FaceMatches || []).map((m) => ({ row: m.Face.ExternalImageId || m.Face.FaceId, at: d.Timestamp, confidence: m.Similarity })),
      ),
  },
};

const JOBS = "reko-console-video-jobs";

function jobs() {
  try {
    return JSON.parse(sessionStorage.getItem(JOBS)) || [];
  } catch {
    return [];
  }
}

function remember(job) {
  sessionStorage.setItem(JOBS, JSON.stringify([job, ...jobs().filter((j) => j.JobId !== job.JobId)].slice(0, 50)));
}

/** Every page of a job's results (Get* until no NextToken). */
async function results(job) {
  let response = await call(`Get${job.analysis}`, { JobId: job.JobId, MaxResults: 1000 });
  const first = response;
  const items = ANALYSES[job.analysis].items(response);
  while (response.JobStatus === "SUCCEEDED" && response.NextToken) {
    response = await call(`Get${job.analysis}`, { JobId: job.JobId, MaxResults: 1000, NextToken: response.NextToken });
    items.push(...ANALYSES[job.analysis].items(response));
  }
  return { first, items };
}

/** Draws the timeline: a row per name (the 20 seen most), a mark (or a bar for a span) per sighting. */
function drawTimeline(canvas, items, durationMillis) {
  const counts = new Map();
  for (const item of items) counts.set(item.row, (counts.get(item.row) || 0) + 1);
  const rows = [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([row]) => row);
  const labelWidth = 170;
  const rowHeight = 20;
  canvas.width = 760;
  canvas.height = Math.max(1, rows.length) * rowHeight + 24;
  const context = canvas.getContext("2d");
  const style = getComputedStyle(document.body);
  context.font = "12px system-ui, sans-serif";
  context.fillStyle = style.color;
  const span = Math.max(1, durationMillis || Math.max(1, ...items.map((i) => i.until || i.at)));
  const x = (ms) => labelWidth + (ms / span) * (canvas.width - labelWidth - 10);
  rows.forEach((row, i) => {
    const y = i * rowHeight;
    context.fillStyle = style.color;
    context.fillText(row.length > 24 ? `${row.slice(0, 23)}…` : row, 4, y + 14);
    context.fillStyle = "#3fa9f5";
    for (const item of items.filter((it) => it.row === row)) {
      const width = item.until !== undefined ? Math.max(2, x(item.until) - x(item.at)) : 3;
      context.fillRect(x(item.at), y + 4, width, rowHeight - 8);
    }
  });
  context.fillStyle = style.color;
  const axis = rows.length * rowHeight + 16;
  for (let t = 0; t <= 4; t++) {
    const ms = (span * t) / 4;
    context.fillText(`${(ms / 1000).toFixed(1)} s`, Math.min(x(ms), canvas.width - 40), axis);
  }
  return rows;
}

async function show(job) {
  const { first, items } = await results(job);
  $("#video-status").textContent =
    `${job.analysis} of s3://${job.bucket}/${job.name}: ${first.JobStatus}` + (first.StatusMessage ? ` (${first.StatusMessage})` : "");
  $("#video-status").dataset.status = first.JobStatus;
  if (first.JobStatus === "SUCCEEDED") {
    const duration = (Array.isArray(first.VideoMetadata) ? first.VideoMetadata[0] : first.VideoMetadata || {}).DurationMillis;
    const rows = drawTimeline($("#video-timeline"), items, duration);
    $("#video-findings").replaceChildren(
      el("li", {}, `${items.length} finding(s) in ${((duration || 0) / 1000).toFixed(1)} s of video`),
      ...rows.map((row) => {
        const seen = items.filter((i) => i.row === row);
        const best = Math.max(...seen.map((i) => i.confidence || 0));
        return el("li", {}, `${row}: ${seen.length} time(s)${best ? `, up to ${pct(best)}` : ""}`);
      }),
    );
  } else {
    $("#video-findings").replaceChildren();
  }
  showCall("video", `Get${job.analysis}`, { JobId: job.JobId }, {}, first);
  return first.JobStatus;
}

let following = null;

/** Shows a job, and again every 2 s while it is not finished. */
async function follow(job) {
  following = job.JobId;
  const status = await show(job);
  if (status === "IN_PROGRESS" && following === job.JobId) {
    setTimeout(() => following === job.JobId && run(null, () => follow(job)), 2000);
  }
}

function listJobs() {
  $("#video-jobs").replaceChildren(
    ...jobs().map((job) =>
      el(
        "li",
        {},
        el("button", { type: "button", class: "link", onclick: (e) => run(e.currentTarget, () => follow(job)) }, `${job.analysis} ${job.JobId}`),
        ` s3://${job.bucket}/${job.name}`,
      ),
    ),
  );
}

export function setUpVideo() {
  const select = $("#video-analysis");
  select.replaceChildren(...Object.keys(ANALYSES).map((name) => el("option", { value: name }, name)));
  listJobs();
  $("#video-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(event.submitter, async () => {
      const analysis = select.value;
      const bucket = $("#video-bucket").value.trim();
      const name = $("#video-name").value.trim();
      const params = { Video: { S3Object: { Bucket: bucket, Name: name } }, ...ANALYSES[analysis].start() };
      const response = await call(`Start${analysis}`, params);
      const job = { JobId: response.JobId, analysis, bucket, name };
      remember(job);
      listJobs();
      showCall("video", `Start${analysis}`, params, {}, response);
      await follow(job);
    });
  });
}
