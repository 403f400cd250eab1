// The brushing canvas: turns pointer input (mouse, touch, pen) into brush points in the
// stimulus' own pixel frame, and draws the drawing with the brushed area highlighted plus the
// small "what the AI sees" view.
//
// The mask is kept at the stimulus' resolution and grown with geometry.stampPoint, the exact
// mirror of render.brush_mask, so the highlight and the AI view show precisely the pixels the
// server reveals to the classifier.

import { densify, emptyMask, reveal, stampPoint } from "./geometry.js";

const PAPER = "#fffdf6";
const INK = [33, 43, 84];                 // dark blue "pencil"
const HIGHLIGHT = [255, 196, 61, 255];    // marker yellow under the brushed pixels
const HIDDEN_INK_ALPHA = 0.38;            // ink the AI cannot see yet is drawn faint

/** A canvas of the stimulus' size, used as a layer and scaled when drawn. */
function layer(width, height) {
  const c = document.createElement("canvas");
  c.width = width;
  c.height = height;
  return c;
}

/**
 * The drawing as crisp ink: a 28x28 bitmap blown up to a phone screen looks like a blur, so the
 * ink is upscaled smoothly once and its edges sharpened with a smoothstep on opacity. This is
 * only the picture the player looks at; the highlight and the AI view use the true pixels.
 */
function inkLayer(gray, width, height) {
  const small = layer(width, height);
  const img = new ImageData(width, height);
  for (let i = 0; i < gray.length; i++) {
    img.data.set(INK, 4 * i);
    img.data[4 * i + 3] = gray[i];  // stroke intensity becomes ink opacity
  }
  small.getContext("2d").putImageData(img, 0, 0);
  const k = Math.max(1, Math.min(16, Math.ceil(512 / Math.max(width, height))));
  const big = layer(width * k, height * k);
  const ctx = big.getContext("2d", { willReadFrequently: true });
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(small, 0, 0, big.width, big.height);
  const px = ctx.getImageData(0, 0, big.width, big.height);
  for (let i = 3; i < px.data.length; i += 4) {
    const a = Math.min(Math.max((px.data[i] / 255 - 0.25) / 0.3, 0), 1);
    px.data[i] = Math.round(255 * a * a * (3 - 2 * a));
  }
  ctx.putImageData(px, 0, 0);
  return big;
}

export class Board {
  /**
   * canvas: the visible canvas; aiCanvas: the "what the AI sees" canvas.
   * timeOf(epochMs) -> ms since round start; onPoints(points) gets every new brush point;
   * onStrokeEnd() runs when a finger/pen/button is lifted (a good moment to send).
   */
  constructor(canvas, aiCanvas, { timeOf, onPoints, onStrokeEnd }) {
    this.canvas = canvas;
    this.aiCanvas = aiCanvas;
    this.timeOf = timeOf;
    this.onPoints = onPoints;
    this.onStrokeEnd = onStrokeEnd;
    this.enabled = false;
    this.stim = null;          // {gray, width, height, radius}
    this.mask = null;
    this.pointerId = null;     // the one pointer that brushes; other fingers are ignored
    this.last = null;          // last brush point [x, y, t] of the current stroke
    this.hover = null;         // [x, y] of a hovering mouse/pen, to show the brush size
    this.dirty = false;
    this.listen();
    new ResizeObserver(() => this.resize()).observe(canvas);
  }

  /** Show a new drawing (uint8 gray, white strokes on black) with nothing brushed yet. */
  setStimulus(gray, width, height, radius) {
    this.stim = { gray, width, height, radius };
    this.mask = emptyMask(width, height);
    this.canvas.style.aspectRatio = `${width} / ${height}`;
    this.aiCanvas.width = width;
    this.aiCanvas.height = height;
    this.ink = inkLayer(gray, width, height);
    this.highlight = layer(width, height);
    this.resize();
  }

  /** Nothing on screen (between rounds): a blank sheet, a black AI view, no brushing. */
  clear() {
    this.setEnabled(false);
    this.stim = null;
    this.mask = null;
    this.hover = null;
    const ctx = this.canvas.getContext("2d");
    ctx.fillStyle = PAPER;
    ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    const ai = this.aiCanvas.getContext("2d");
    ai.fillStyle = "#000";
    ai.fillRect(0, 0, this.aiCanvas.width, this.aiCanvas.height);
  }

  /** Add points (the page's own or ones restored after a reload) to the mask. */
  addPoints(points) {
    const { width, height, radius } = this.stim;
    for (const p of points) stampPoint(this.mask, width, height, p[0], p[1], radius);
    this.redraw();
  }

  setEnabled(on) {
    this.enabled = on;
    this.canvas.classList.toggle("disabled", !on);
    if (!on) this.endStroke();
  }

  /** The classifier's view: the image where brushed, black elsewhere (render.reveal). */
  revealed() {
    return reveal(this.stim.gray, this.mask);
  }

  // --- input ---------------------------------------------------------------------------------

  listen() {
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this.down(e));
    c.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      c.addEventListener(type, (e) => { if (e.pointerId === this.pointerId) this.endStroke(); });
    }
    c.addEventListener("pointerleave", () => { this.hover = null; this.redraw(); });
  }

  /** Event position as [x, y, t]: floats in the stimulus frame (clamped to it), t in round ms. */
  sample(e) {
    const rect = this.canvas.getBoundingClientRect();
    const { width, height } = this.stim;
    const x = Math.min(Math.max((e.clientX - rect.left) / rect.width * width, 0), width);
    const y = Math.min(Math.max((e.clientY - rect.top) / rect.height * height, 0), height);
    // The event's own timestamp is when the pointer was there (coalesced samples differ).
    const stamp = e.timeStamp > 0 ? Math.min(e.timeStamp, performance.now()) : performance.now();
    let t = Math.max(this.timeOf(performance.timeOrigin + stamp), 0);
    if (this.last) t = Math.max(t, this.last[2]);  // times never run backwards
    return [x, y, t];
  }

  down(e) {
    if (!this.enabled || this.pointerId !== null || !e.isPrimary) return;
    if (e.pointerType === "mouse" && e.button !== 0) return;
    e.preventDefault();
    // Capture keeps the stroke ours even when the finger slides off the canvas.
    this.canvas.setPointerCapture(e.pointerId);
    this.pointerId = e.pointerId;
    this.last = this.sample(e);
    this.emit([this.last]);
  }

  move(e) {
    if (this.stim && e.pointerType !== "touch") {
      const [x, y] = this.sample(e);
      this.hover = [x, y];
      this.redraw();
    }
    if (e.pointerId !== this.pointerId || !this.enabled) return;
    const samples = (e.getCoalescedEvents && e.getCoalescedEvents()) || [];
    const points = [];
    for (const s of samples.length ? samples : [e]) {
      const p = this.sample(s);
      if (p[0] === this.last[0] && p[1] === this.last[1]) continue;  // did not move
      // Fill the gap between samples so a fast drag leaves a continuous trail.
      points.push(...densify(this.last, p, this.stim.radius / 2));
      this.last = p;
    }
    if (points.length) this.emit(points);
  }

  endStroke() {
    if (this.pointerId === null) return;
    if (this.canvas.hasPointerCapture(this.pointerId)) this.canvas.releasePointerCapture(this.pointerId);
    this.pointerId = null;
    this.last = null;
    this.onStrokeEnd();
  }

  emit(points) {
    this.addPoints(points);
    this.onPoints(points);
  }

  // --- drawing -------------------------------------------------------------------------------

  /** Backing store at devicePixelRatio so the drawing stays crisp on phones. */
  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(this.canvas.clientWidth * dpr));
    const h = Math.max(1, Math.round(this.canvas.clientHeight * dpr));
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.redraw();
  }

  redraw() {
    if (this.dirty) return;
    this.dirty = true;
    requestAnimationFrame(() => { this.dirty = false; this.paint(); });
  }

  paint() {
    if (!this.stim) return;
    const { width, height, radius } = this.stim;
    this.paintLayers();
    const ctx = this.canvas.getContext("2d");
    const W = this.canvas.width;
    const H = this.canvas.height;
    ctx.fillStyle = PAPER;
    ctx.fillRect(0, 0, W, H);
    // Brushed pixels as crisp blocks: exactly the pixels the classifier gets.
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.highlight, 0, 0, W, H);
    // The drawing, faint where the AI cannot see it and bold where it can.
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.globalAlpha = HIDDEN_INK_ALPHA;
    ctx.drawImage(this.ink, 0, 0, W, H);
    ctx.globalAlpha = 1;
    ctx.drawImage(this.revealedInk(W, H), 0, 0);
    if (this.hover && this.enabled) {
      const sx = W / width;
      ctx.beginPath();
      ctx.arc(this.hover[0] * sx, this.hover[1] * (H / height), radius * sx, 0, 2 * Math.PI);
      ctx.lineWidth = Math.max(1, sx / 8);
      ctx.strokeStyle = "rgba(33, 43, 84, 0.55)";
      ctx.setLineDash([4 * (window.devicePixelRatio || 1), 4 * (window.devicePixelRatio || 1)]);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  /** The ink inside the brushed pixels only, at display size (mask blocks, then source-in). */
  revealedInk(W, H) {
    if (!this.scratch) this.scratch = document.createElement("canvas");
    const c = this.scratch;
    if (c.width !== W || c.height !== H) { c.width = W; c.height = H; }
    const ctx = c.getContext("2d");
    ctx.globalCompositeOperation = "copy";
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(this.highlight, 0, 0, W, H);
    ctx.globalCompositeOperation = "source-in";
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(this.ink, 0, 0, W, H);
    ctx.globalCompositeOperation = "source-over";
    return c;
  }

  /** Refresh the stimulus-sized layers from the mask (cheap: one pass over w*h pixels). */
  paintLayers() {
    const { width, height, gray } = this.stim;
    const hl = new ImageData(width, height);
    const ai = new ImageData(width, height);
    const shown = reveal(gray, this.mask);
    for (let i = 0; i < this.mask.length; i++) {
      if (this.mask[i]) hl.data.set(HIGHLIGHT, 4 * i);
      const v = shown[i];
      ai.data[4 * i] = v;
      ai.data[4 * i + 1] = v;
      ai.data[4 * i + 2] = v;
      ai.data[4 * i + 3] = 255;
    }
    this.highlight.getContext("2d").putImageData(hl, 0, 0);
    this.aiCanvas.getContext("2d").putImageData(ai, 0, 0);
  }
}
