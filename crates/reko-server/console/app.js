// The console's shell: the keys, the pages (one module each) and which one shows.

import { loadCredentials, saveCredentials } from "./api.js";
import { refreshCollections, setUpCollections } from "./collections.js";
import { refreshProjects, setUpCustomLabels } from "./custom.js";
import { setUpCompare, setUpTry } from "./faces.js";
import { $, run } from "./ui.js";
import { setUpVideo } from "./video.js";

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
    run(null, async () => {
      const page = (location.hash || "#try").slice(1);
      if (page === "collections") await refreshCollections();
      if (page === "custom") await refreshProjects();
    });
  });
  if (!devMode && !stored.accessKeyId) form.closest("details").open = true;
}

// ---- pages ------------------------------------------------------------------------------------------------

function showPage() {
  const page = (location.hash || "#try").slice(1);
  for (const section of document.querySelectorAll("main > section")) section.hidden = section.id !== page;
  for (const link of document.querySelectorAll("nav a")) {
    link.setAttribute("aria-current", link.getAttribute("href") === `#${page}` ? "page" : "false");
  }
  if (page === "collections") run(null, refreshCollections);
  if (page === "custom" && loadCredentials().accessKeyId) run(null, refreshProjects);
}

async function start() {
  await setUpCredentials();
  setUpTry();
  setUpCompare();
  setUpCollections();
  setUpVideo();
  setUpCustomLabels();
  window.addEventListener("hashchange", showPage);
  showPage();
  document.body.dataset.ready = "true";
}

start();
