// The Custom Labels page: projects, their datasets (from Ground Truth manifests in the object store), model
// versions (train, evaluation, start, stop, delete) and DetectCustomLabels on a photo. It refreshes itself
// every 2 s while a dataset is being read or a version trains.

import { base64, call } from "./api.js";
import { drawImage, loadImage } from "./draw.js";
import { $, chosenFile, el, fileBytes, pct, run, showCall } from "./ui.js";

let project = null; // { arn, name }
let refreshing = null;

const nameOf = (arn) => arn.split("/")[1];
const versionOf = (arn) => arn.split("/")[3];

export async function refreshProjects() {
  const { ProjectDescriptions: projects } = await call("DescribeProjects", {});
  $("#project-list").replaceChildren(
    ...projects.map((p) =>
      el(
        "li",
        {},
        el("button", { type: "button", class: "link", onclick: (e) => run(e.currentTarget, () => selectProject(p.ProjectArn)) }, nameOf(p.ProjectArn)),
        " ",
        el("button", { type: "button", class: "danger", "aria-label": `Delete project ${nameOf(p.ProjectArn)}`, onclick: (e) => run(e.currentTarget, () => deleteProject(p.ProjectArn)) }, "Delete"),
      ),
    ),
  );
  if (!projects.length) $("#project-list").append(el("li", {}, "No project yet."));
}

async function deleteProject(arn) {
  if (!confirm(`Delete project ${nameOf(arn)} and its datasets?`)) return;
  const response = await call("DeleteProject", { ProjectArn: arn });
  showCall("custom", "DeleteProject", { ProjectArn: arn }, {}, response);
  if (project && project.arn === arn) {
    project = null;
    $("#project").hidden = true;
  }
  await refreshProjects();
}

async function selectProject(arn) {
  project = { arn, name: nameOf(arn) };
  const [{ ProjectDescriptions: [description] }, { ProjectVersionDescriptions: versions }] = await Promise.all([
    call("DescribeProjects", { ProjectNames: [project.name] }),
    call("DescribeProjectVersions", { ProjectArn: arn }),
  ]);
  const datasets = await Promise.all(
    (description ? description.Datasets : []).map(async (d) => ({ ...d, ...(await call("DescribeDataset", { DatasetArn: d.DatasetArn })).DatasetDescription })),
  );
  $("#project-title").textContent = project.name;
  $("#dataset-rows").replaceChildren(
    ...datasets.map((d) =>
      el(
        "tr",
        { "data-type": d.DatasetType },
        el("td", {}, d.DatasetType),
        el("td", { class: "status" }, d.Status),
        el("td", {}, `${d.DatasetStats.TotalEntries} entries, ${d.DatasetStats.LabeledEntries} labeled, ${d.DatasetStats.TotalLabels} labels, ${d.DatasetStats.ErrorEntries} with errors`),
        el("td", {}, d.StatusMessage || ""),
      ),
    ),
  );
  if (!datasets.length) $("#dataset-rows").append(el("tr", {}, el("td", { colspan: "4" }, "No dataset yet.")));
  $("#version-rows").replaceChildren(
    ...versions.map((v) => {
      const arn = v.ProjectVersionArn;
      const action = (label, operation, params) =>
        el("button", { type: "button", onclick: (e) => run(e.currentTarget, () => versionAction(operation, { ProjectVersionArn: arn, ...params })) }, label);
      const actions = [];
      if (["TRAINING_COMPLETED", "STOPPED"].includes(v.Status)) actions.push(action("Start", "StartProjectVersion", { MinInferenceUnits: 1 }));
      if (v.Status === "RUNNING") actions.push(action("Stop", "StopProjectVersion", {}));
      if (!["RUNNING", "TRAINING_IN_PROGRESS"].includes(v.Status)) actions.push(action("Delete", "DeleteProjectVersion", {}));
      return el(
        "tr",
        { "data-version": versionOf(arn) },
        el("td", {}, versionOf(arn)),
        el("td", { class: "status" }, v.Status),
        el("td", {}, v.EvaluationResult ? v.EvaluationResult.F1Score.toFixed(3) : "—"),
        el("td", {}, v.StatusMessage || ""),
        el("td", {}, actions),
      );
    }),
  );
  if (!versions.length) $("#version-rows").append(el("tr", {}, el("td", { colspan: "5" }, "No model version yet.")));
  const running = versions.filter((v) => v.Status === "RUNNING");
  $("#detect-version").replaceChildren(...running.map((v) => el("option", { value: v.ProjectVersionArn }, versionOf(v.ProjectVersionArn))));
  $("#project").hidden = false;
  const busy = datasets.some((d) => d.Status.endsWith("IN_PROGRESS")) || versions.some((v) => v.Status === "TRAINING_IN_PROGRESS");
  clearTimeout(refreshing);
  if (busy) refreshing = setTimeout(() => project && project.arn === arn && run(null, () => selectProject(arn)), 2000);
}

async function versionAction(operation, params) {
  const response = await call(operation, params);
  showCall("custom", operation, params, {}, response);
  await selectProject(project.arn);
}

export function setUpCustomLabels() {
  $("#project-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(event.submitter, async () => {
      const params = { ProjectName: $("#project-name").value.trim() };
      const response = await call("CreateProject", params);
      $("#project-name").value = "";
      showCall("custom", "CreateProject", params, {}, response);
      await refreshProjects();
      await selectProject(response.ProjectArn);
    });
  });
  $("#dataset-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(event.submitter, async () => {
      const params = {
        ProjectArn: project.arn,
        DatasetType: $("#dataset-type").value,
        DatasetSource: {
          GroundTruthManifest: { S3Object: { Bucket: $("#dataset-bucket").value.trim(), Name: $("#dataset-manifest").value.trim() } },
        },
      };
      const response = await call("CreateDataset", params);
      showCall("custom", "CreateDataset", params, {}, response);
      await selectProject(project.arn);
    });
  });
  $("#train-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(event.submitter, async () => {
      const prefix = $("#train-prefix").value.trim();
      const params = {
        ProjectArn: project.arn,
        VersionName: $("#train-version").value.trim(),
        OutputConfig: { S3Bucket: $("#train-bucket").value.trim(), ...(prefix ? { S3KeyPrefix: prefix } : {}) },
      };
      const response = await call("CreateProjectVersion", params);
      showCall("custom", "CreateProjectVersion", params, {}, response);
      await selectProject(project.arn);
    });
  });
  $("#detect-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(event.submitter, async () => {
      const file = chosenFile($("#detect-file"));
      if (!$("#detect-version").value) throw new Error("Start a model version first.");
      const params = { ProjectVersionArn: $("#detect-version").value, MinConfidence: Number($("#detect-min").value || 0) };
      const response = await call("DetectCustomLabels", { ...params, Image: { Bytes: base64(await fileBytes(file)) } });
      drawImage($("#detect-canvas"), await loadImage(file), 360);
      const labels = response.CustomLabels.map((l) => el("li", { class: "custom-label" }, `${l.Name}: ${pct(l.Confidence)}`));
      $("#detect-results").replaceChildren(...(labels.length ? labels : [el("li", {}, "No label at this confidence.")]));
      showCall("custom", "DetectCustomLabels", params, { Image: file.name }, response);
    });
  });
}
