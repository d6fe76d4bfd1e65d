// The collections page: list, create and delete collections; a collection's faces and users; IndexFaces,
// SearchFacesByImage, CreateUser, AssociateFaces, SearchUsersByImage.

import { base64, call, loadCredentials } from "./api.js";
import { COLOURS, drawBox, drawImage, loadImage } from "./draw.js";
import { $, chosenFile, el, fileBytes, pct, run, showCall } from "./ui.js";

let selected = null;

export async function refreshCollections() {
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
  const [described, faces, users] = await Promise.all([
    call("DescribeCollection", { CollectionId: id }),
    call("ListFaces", { CollectionId: id, MaxResults: 100 }),
    call("ListUsers", { CollectionId: id, MaxResults: 100 }),
  ]);
  $("#collection-title").textContent = id;
  $("#collection-facts").textContent =
    `${described.FaceCount} face(s), ${described.UserCount} user(s), face model ${described.FaceModelVersion}, ${described.CollectionARN}`;
  const rows = faces.Faces.map((f) =>
    el(
      "tr",
      {},
      el("td", {}, el("input", { type: "checkbox", class: "face-pick", value: f.FaceId, "aria-label": `Select face ${f.FaceId}` })),
      el("td", {}, f.FaceId),
      el("td", {}, f.ExternalImageId || "—"),
      el("td", {}, f.UserId || "—"),
      el("td", {}, pct(f.Confidence)),
      el("td", {}, ["Left", "Top", "Width", "Height"].map((k) => f.BoundingBox[k].toFixed(2)).join(", ")),
    ),
  );
  $("#face-rows").replaceChildren(...rows);
  if (!rows.length) $("#face-rows").append(el("tr", {}, el("td", { colspan: "6" }, "No face indexed yet.")));
  $("#user-list").replaceChildren(
    ...users.Users.map((u) => el("li", {}, `${u.UserId} (${u.UserStatus})`)),
  );
  if (!users.Users.length) $("#user-list").append(el("li", {}, "No user yet."));
  $("#associate-user").replaceChildren(...users.Users.map((u) => el("option", { value: u.UserId }, u.UserId)));
  $("#collection").hidden = false;
  $("#search-results").replaceChildren();
}

function setUpUsers() {
  $("#user-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(event.submitter, async () => {
      const params = { CollectionId: selected, UserId: $("#user-id").value.trim() };
      const response = await call("CreateUser", params);
      $("#user-id").value = "";
      await selectCollection(selected);
      showCall("collection", "CreateUser", params, {}, response);
    });
  });
  $("#associate-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(event.submitter, async () => {
      const faceIds = [...document.querySelectorAll(".face-pick:checked")].map((box) => box.value);
      if (!faceIds.length) throw new Error("Tick the faces to associate in the table first.");
      if (!$("#associate-user").value) throw new Error("Create a user first.");
      const params = { CollectionId: selected, UserId: $("#associate-user").value, FaceIds: faceIds };
      const response = await call("AssociateFaces", params);
      await selectCollection(selected);
      $("#search-results").replaceChildren(
        el("li", {}, `Associated ${response.AssociatedFaces.length} face(s) with ${params.UserId}; ${response.UnsuccessfulFaceAssociations.length} refused`),
      );
      showCall("collection", "AssociateFaces", params, {}, response);
    });
  });
  $("#search-users-form").addEventListener("submit", (event) => {
    event.preventDefault();
    run(event.submitter, async () => {
      const file = chosenFile($("#search-users-file"));
      const params = { CollectionId: selected, UserMatchThreshold: Number($("#search-threshold").value || 80), MaxUsers: 10 };
      const response = await call("SearchUsersByImage", { ...params, Image: { Bytes: base64(await fileBytes(file)) } });
      const context = drawImage($("#search-canvas"), await loadImage(file), 360);
      if (response.SearchedFace) drawBox(context, response.SearchedFace.FaceDetail.BoundingBox, COLOURS.FACE, "searched");
      const matches = response.UserMatches.map((m) =>
        el("li", { class: "user-match" }, `${m.User.UserId}: similarity ${pct(m.Similarity)}`),
      );
      $("#search-results").replaceChildren(...(matches.length ? matches : [el("li", {}, "No user matches.")]));
      showCall("collection", "SearchUsersByImage", params, { Image: file.name }, response);
    });
  });
}

export function setUpCollections() {
  setUpUsers();
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
