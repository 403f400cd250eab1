// Brush geometry in the browser: an exact mirror of models/render.py.
//
// The server reveals to the classifier exactly the pixels `render.brush_mask` marks for the
// points it stored. The player must see those same pixels, so this file repeats the rule
// operation by operation in float64 (JS numbers are IEEE doubles, like numpy's float64):
//
//   pixel (row, col) is revealed  iff  (col + 0.5 - x)^2 + (row + 0.5 - y)^2 <= radius^2
//
// tests/browser/test_geometry_js.py checks this file against render.py bit for bit, including
// points that lie exactly on a disc's boundary.

/** Default brush radius as a fraction of the stimulus' longer side (render.DEFAULT_BRUSH_FRACTION). */
export const DEFAULT_BRUSH_FRACTION = 0.07;

/** render.brush_radius_px: the radius scales with the stimulus so any resolution plays alike. */
export function brushRadiusPx(width, height, brushFraction = DEFAULT_BRUSH_FRACTION) {
  if (!(brushFraction > 0 && brushFraction <= 1)) {
    throw new RangeError("brushFraction must be in (0, 1]");
  }
  return brushFraction * Math.max(width, height);
}

/** An empty mask: one byte per pixel, row-major [height][width], 1 = revealed. */
export function emptyMask(width, height) {
  return new Uint8Array(width * height);
}

/**
 * Add one brush point's disc to `mask` in place (the union is order-independent, so stamping
 * points one by one while the player brushes equals render.brush_mask over all of them).
 * The bounding box is computed like render.py's so even its edge cases agree.
 */
export function stampPoint(mask, width, height, x, y, radius) {
  const r2 = radius * radius;
  const c0 = Math.max(Math.floor(x - radius - 0.5), 0);
  const c1 = Math.min(Math.ceil(x + radius + 0.5) + 1, width);
  const r0 = Math.max(Math.floor(y - radius - 0.5), 0);
  const r1 = Math.min(Math.ceil(y + radius + 0.5) + 1, height);
  for (let row = r0; row < r1; row++) {
    const dy = row + 0.5 - y;  // numpy: (arange + 0.5) - y, the same two roundings
    const dy2 = dy * dy;
    for (let col = c0; col < c1; col++) {
      const dx = col + 0.5 - x;
      if (dy2 + dx * dx <= r2) mask[row * width + col] = 1;
    }
  }
  return mask;
}

/** render.brush_mask: the mask of all points ([x, y, ...] arrays; extra entries ignored). */
export function brushMask(points, width, height, radius) {
  const mask = emptyMask(width, height);
  for (const p of points) stampPoint(mask, width, height, p[0], p[1], radius);
  return mask;
}

/** render.reveal: unbrushed pixels become blank (0), brushed pixels keep their gray value. */
export function reveal(gray, mask) {
  if (gray.length !== mask.length) throw new RangeError("image and mask differ in size");
  const out = new Uint8Array(gray.length);
  for (let i = 0; i < gray.length; i++) out[i] = mask[i] ? gray[i] : 0;
  return out;
}

/** The mask as a string of '0'/'1', row-major: a compact form for tests to compare. */
export function maskBits(mask) {
  return Array.from(mask, (v) => (v ? "1" : "0")).join("");
}

/**
 * Points to add when the pointer moves from `prev` to `next` ([x, y, t] each): evenly spaced,
 * at most `maxStep` apart, ending exactly at `next` (and excluding `prev`, which is already
 * stored). Browsers deliver pointer samples ~16 ms apart, so a quick drag would otherwise
 * leave a dotted trail; interpolating x, y and t keeps the trail continuous and every added
 * point is a real brush point the server stores.
 */
export function densify(prev, next, maxStep) {
  const dx = next[0] - prev[0];
  const dy = next[1] - prev[1];
  const n = Math.max(1, Math.ceil(Math.hypot(dx, dy) / maxStep));
  const out = [];
  for (let i = 1; i <= n; i++) {
    const f = i / n;
    out.push(i === n ? [next[0], next[1], next[2]]
      : [prev[0] + dx * f, prev[1] + dy * f, prev[2] + (next[2] - prev[2]) * f]);
  }
  return out;
}
