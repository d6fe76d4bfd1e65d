// Drawing an image and what an operation found in it on a canvas: boxes (ratios of the image), points
// and polygons.

/** Colours of the overlays (the browser tests look for FACE's pixels). */
export const COLOURS = { FACE: "#00e05a", MISS: "#ff3b30", LANDMARK: "#ffd400", OBJECT: "#3fa9f5", LINE: "#ff8c00", WORD: "#c86bff" };

/** Decodes a file into an image element. */
export function loadImage(file) {
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(file);
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`${file.name} is not an image this browser can show`));
    image.src = url;
  });
}

/** Draws `image` on `canvas`, at most `maxWidth` pixels wide; the drawing context. */
export function drawImage(canvas, image, maxWidth = 720) {
  const scale = Math.min(1, maxWidth / image.naturalWidth);
  canvas.width = Math.round(image.naturalWidth * scale);
  canvas.height = Math.round(image.naturalHeight * scale);
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0, canvas.width, canvas.height);
  return context;
}

/** A box given as ratios of the image (`BoundingBox`), with an optional caption above it. */
export function drawBox(context, box, colour, caption) {
  const { width, height } = context.canvas;
  const x = box.Left * width;
  const y = box.Top * height;
  context.lineWidth = 3;
  context.strokeStyle = colour;
  context.strokeRect(x, y, box.Width * width, box.Height * height);
  if (caption) {
    context.font = "13px system-ui, sans-serif";
    const textWidth = context.measureText(caption).width + 8;
    const top = y >= 18 ? y - 18 : y + box.Height * height;
    context.fillStyle = colour;
    context.fillRect(x - 1.5, top, textWidth, 18);
    context.fillStyle = "#000";
    context.fillText(caption, x + 3, top + 13);
  }
}

/** A point given as ratios of the image (`Landmarks`). */
export function drawPoint(context, point, colour) {
  const { width, height } = context.canvas;
  context.fillStyle = colour;
  context.beginPath();
  context.arc(point.X * width, point.Y * height, 2.5, 0, 2 * Math.PI);
  context.fill();
}

/** A polygon given as ratios of the image (`Geometry.Polygon`). */
export function drawPolygon(context, polygon, colour, lineWidth = 2) {
  const { width, height } = context.canvas;
  context.lineWidth = lineWidth;
  context.strokeStyle = colour;
  context.beginPath();
  polygon.forEach((p, i) => (i ? context.lineTo(p.X * width, p.Y * height) : context.moveTo(p.X * width, p.Y * height)));
  context.closePath();
  context.stroke();
}
