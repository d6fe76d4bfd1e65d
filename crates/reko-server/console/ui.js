// What the console's pages share: building elements, running an action with its errors shown, showing a
// call's JSON and its AWS CLI / boto3 equivalents, reading chosen files.

import { ApiError, equivalents } from "./api.js";

export const $ = (selector) => document.querySelector(selector);

/** An element with attributes and children (strings become text: nothing is parsed as HTML). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

export const pct = (value) => `${Number(value).toFixed(1)}%`;

export function showError(error) {
  const box = $("#error");
  if (error instanceof ApiError) {
    box.textContent = `${error.type}: ${error.message}`;
  } else {
    box.textContent = String(error && error.message ? error.message : error);
  }
  box.hidden = false;
}

export function clearError() {
  $("#error").hidden = true;
  $("#error").textContent = "";
}

/** Runs an action with the page marked busy; errors are shown, never thrown. */
export async function run(button, action) {
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
export function showCall(prefix, operation, params, images, response) {
  const { cli, boto3 } = equivalents(operation, params, images);
  $(`#${prefix}-json`).textContent = JSON.stringify(response, null, 2);
  $(`#${prefix}-cli`).textContent = cli;
  $(`#${prefix}-boto3`).textContent = boto3;
  $(`#${prefix}-call`).hidden = false;
}

export async function fileBytes(file) {
  return new Uint8Array(await file.arrayBuffer());
}

export function chosenFile(input) {
  const file = input.files && input.files[0];
  if (!file) throw new Error("Choose a photo first.");
  return file;
}

