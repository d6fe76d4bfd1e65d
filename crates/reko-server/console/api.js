// Calls to reko's public API (AWS JSON 1.1, SigV4-signed in the browser) and the credentials they use,
// kept in session storage.

import { signedHeaders } from "./sigv4.js";

/** A Rekognition error: its `__type` and `Message`, as the server answered. */
export class ApiError extends Error {
  constructor(type, message, status) {
    super(message);
    this.type = type;
    this.status = status;
  }
}

const STORE = "reko-console-credentials";

export function loadCredentials() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE)) || {};
  } catch {
    return {};
  }
}

export function saveCredentials(credentials) {
  sessionStorage.setItem(STORE, JSON.stringify(credentials));
}

/** Runs `operation` with `params`; the response body, or an ApiError. */
export async function call(operation, params) {
  const credentials = loadCredentials();
  if (!crypto.subtle) {
    throw new ApiError(
      "ConsoleError",
      "This browser signs requests with WebCrypto, which it offers only over https or on localhost: open the console " +
        "through https or an SSH tunnel to 127.0.0.1.",
      0,
    );
  }
  const body = JSON.stringify(params);
  const headers = await signedHeaders({
    host: location.host,
    region: credentials.region || "us-east-1",
    accessKeyId: credentials.accessKeyId || "",
    secretAccessKey: credentials.secretAccessKey || "",
    headers: {
      "content-type": "application/x-amz-json-1.1",
      "x-amz-target": `RekognitionService.${operation}`,
    },
    body,
  });
  const response = await fetch("/", { method: "POST", headers, body });
  const text = await response.text();
  let json = {};
  try {
    json = JSON.parse(text);
  } catch {
    json = {};
  }
  if (!response.ok) {
    const type = (response.headers.get("x-amzn-ErrorType") || json.__type || "HTTP " + response.status).split(":")[0];
    throw new ApiError(type, json.Message || json.message || text, response.status);
  }
  return json;
}

/** The base64 of a file's bytes, for `Image.Bytes`. */
export function base64(bytes) {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

const snake = (name) => name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();
const kebab = (name) => name.replace(/([a-z0-9])([A-Z])/g, "$1-$2").toLowerCase();

/**
 * The same call for the AWS CLI and boto3, with the image bytes as files (`images` maps a parameter name
 * such as `Image` to a file name).
 */
export function equivalents(operation, params, images) {
  const rest = { ...params };
  const cli = [`aws rekognition ${kebab(operation)}`];
  const py = [];
  for (const [name, file] of Object.entries(images)) {
    delete rest[name];
    cli.push(`--${kebab(name)}-bytes fileb://${file}`);
    py.push(`    ${name}={"Bytes": open(${JSON.stringify(file)}, "rb").read()},`);
  }
  if (Object.keys(rest).length) {
    cli.push(`--cli-input-json '${JSON.stringify(rest)}'`);
    for (const [name, value] of Object.entries(rest)) {
      py.push(`    ${name}=${JSON.stringify(value).replace(/\btrue\b/g, "True").replace(/\bfalse\b/g, "False")},`);
    }
  }
  cli.push(`--endpoint-url ${location.origin}`);
  const boto3 = [
    "import boto3",
    `rek = boto3.client("rekognition", endpoint_url=${JSON.stringify(location.origin)})`,
    `response = rek.${snake(operation)}(`,
    ...py,
    ")",
  ].join("\n");
  return { cli: cli.join(" \\\n    "), boto3 };
}
