// AWS Signature Version 4 for the console's calls to reko's own API (service "rekognition"), with the
// browser's WebCrypto. Browsers offer WebCrypto only in secure contexts: https, or http on localhost /
// 127.0.0.1.

const encoder = new TextEncoder();

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(data) {
  return hex(await crypto.subtle.digest("SHA-256", typeof data === "string" ? encoder.encode(data) : data));
}

async function hmac(key, data) {
  const raw = typeof key === "string" ? encoder.encode(key) : key;
  const imported = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", imported, encoder.encode(data)));
}

/** The `YYYYMMDDTHHMMSSZ` form of a date. */
export function amzDate(date) {
  return date.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * The headers that sign a POST to `/` of `host` with `body` (a string): `X-Amz-Date` and `Authorization`
 * added to `headers` (whose names are all signed, with `host`).
 */
export async function signedHeaders({ host, region, accessKeyId, secretAccessKey, headers, body, date = new Date() }) {
  const stamp = amzDate(date);
  const day = stamp.slice(0, 8);
  const all = { ...headers, "x-amz-date": stamp };
  const canonical = Object.entries({ ...all, host })
    .map(([name, value]) => [name.toLowerCase(), String(value).trim()])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const signedNames = canonical.map(([name]) => name).join(";");
  const request = [
    "POST",
    "/",
    "",
    canonical.map(([name, value]) => `${name}:${value}\n`).join(""),
    signedNames,
    await sha256(body),
  ].join("\n");
  const scope = `${day}/${region}/rekognition/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", stamp, scope, await sha256(request)].join("\n");
  let key = await hmac(`AWS4${secretAccessKey}`, day);
  for (const part of [region, "rekognition", "aws4_request"]) {
    key = await hmac(key, part);
  }
  const signature = hex(await hmac(key, toSign));
  return {
    ...all,
    Authorization: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signedNames}, Signature=${signature}`,
  };
}
