// The pose viewer of sasmamba_jax.viz.html: two canvases (2D input, 3D pose)
// drawn from the JSON in <script id="pose-data">. No library, no network.
// The drawing follows sasmamba_jax/viz/render.py (same colours, grid and axes).
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("pose-data").textContent);
  const F = D.frame_numbers.length;
  const J = D.parents.length;
  const COLOURS = { left: "rgb(66,135,245)", right: "rgb(245,110,66)",
                    mid: "rgb(205,205,205)", filled: "rgb(255,221,87)",
                    panel: "rgb(33,34,40)", image: "rgb(44,46,54)",
                    grid: "rgb(72,75,86)", shadow: "rgb(52,54,62)",
                    ink: "rgb(232,232,236)", dim: "rgb(150,152,162)" };
  const side = [];
  for (let j = 0; j < J; j++) {
    side.push(D.left.includes(j) ? COLOURS.left
              : D.right.includes(j) ? COLOURS.right : COLOURS.mid);
  }
  const state = { frame: 0, playing: false, azimuth: D.azimuth,
                  elevation: D.elevation, zoom: 1, speed: 1, clock: 0 };
  const images = (D.images || []).map(function (src) {
    const img = new Image();
    img.onload = function () { if (img === images[state.frame]) draw(); };
    img.src = src;
    return img;
  });
  const $ = function (id) { return document.getElementById(id); };
  const canvas2 = $("view-2d"), canvas3 = $("view-3d");
  const slider = $("frame-slider"), playButton = $("play");

  function niceTicks(low, high, count, cover) {
    const span = high - low;
    if (!(span > 0)) return [low];
    const raw = span / Math.max(1, count - 1);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(function (m) { return m * power; })
      .find(function (v) { return v >= raw; });
    const first = cover ? Math.floor(low / step + 1e-9) : Math.ceil(low / step - 1e-9);
    const last = cover ? Math.ceil(high / step - 1e-9) : Math.floor(high / step + 1e-9);
    const out = [];
    for (let i = first; i <= last; i++) out.push(Math.round(i * step * 1e6) / 1e6);
    return out;
  }
  function label(v) {
    return Math.abs(v) < 1e-9 ? "0" : String(Number(v.toPrecision(4)));
  }
  function p3(f, j) {
    const i = (f * J + j) * 3;
    return [D.poses_3d[i], D.poses_3d[i + 1], D.poses_3d[i + 2]];
  }
  function filled(f, j) { return D.filled !== null && D.filled[f * J + j] === "1"; }

  // The 3D frame of the whole sequence: ground at the lowest joint, a square grid.
  const scene = (function () {
    let ground = -Infinity, top = Infinity, reach = 0;
    for (let i = 0; i < D.poses_3d.length; i += 3) {
      ground = Math.max(ground, D.poses_3d[i + 1]);
      top = Math.min(top, D.poses_3d[i + 1]);
      reach = Math.max(reach, Math.abs(D.poses_3d[i]), Math.abs(D.poses_3d[i + 2]));
    }
    let size = Math.max(reach, 0.3 * (ground - top));
    if (!(size > 0)) { size = 1; top = ground - 1; }
    const ticks = niceTicks(-size, size, 7, true);
    const half = Math.max(Math.abs(ticks[0]), Math.abs(ticks[ticks.length - 1]), size);
    const height = ground - top;
    // Rotation-invariant scale: the box's bounding sphere fits the canvas.
    const radius = Math.sqrt(2 * half * half + height * height / 4);
    return { ground: ground, top: top, ticks: ticks, half: half, height: height,
             radius: radius, centre: ground - height / 2 };
  })();

  function setupCanvas(canvas) {
    const ratio = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * ratio) || canvas.height !== Math.round(h * ratio)) {
      canvas.width = Math.round(w * ratio);
      canvas.height = Math.round(h * ratio);
    }
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.fillStyle = COLOURS.panel;
    g.fillRect(0, 0, w, h);
    g.lineCap = "round";
    return { g: g, w: w, h: h };
  }
  function text(g, s, x, y, colour, align, baseline, size) {
    g.fillStyle = colour;
    g.font = (size || 12) + "px system-ui, sans-serif";
    g.textAlign = align || "left";
    g.textBaseline = baseline || "alphabetic";
    g.fillText(s, x, y);
  }
  function skeleton(g, xy, depth, f, width) {
    const bones = [];
    for (let j = 0; j < J; j++) if (D.parents[j] >= 0) bones.push(j);
    bones.sort(function (a, b) {
      return (depth[D.parents[b]] + depth[b]) - (depth[D.parents[a]] + depth[a]);
    });
    g.lineWidth = width;
    for (const j of bones) {
      const p = D.parents[j];
      g.globalAlpha = filled(f, j) || filled(f, p) ? 0.45 : 1;
      g.strokeStyle = side[j];
      g.beginPath();
      g.moveTo(xy[p][0], xy[p][1]);
      g.lineTo(xy[j][0], xy[j][1]);
      g.stroke();
    }
    g.globalAlpha = 1;
    const order = Array.from({ length: J }, function (_, j) { return j; })
      .sort(function (a, b) { return depth[b] - depth[a]; });
    for (const j of order) {
      g.beginPath();
      if (filled(f, j)) {
        g.arc(xy[j][0], xy[j][1], width + 2.5, 0, 2 * Math.PI);
        g.strokeStyle = COLOURS.filled;
        g.lineWidth = 2;
        g.stroke();
        g.lineWidth = width;
      } else {
        g.arc(xy[j][0], xy[j][1], width + 0.5, 0, 2 * Math.PI);
        g.fillStyle = side[j];
        g.fill();
      }
    }
  }

  function draw2d() {
    const c = setupCanvas(canvas2), g = c.g;
    const iw = D.image_size[0], ih = D.image_size[1];
    const left = 58, right = 12, top = 12, bottom = 40;
    const k = Math.min((c.w - left - right) / iw, (c.h - top - bottom) / ih);
    const bw = iw * k, bh = ih * k;
    const x0 = left + (c.w - left - right - bw) / 2, y0 = top + (c.h - top - bottom - bh) / 2;
    const img = images[state.frame];
    if (img && img.complete && img.naturalWidth) {
      g.drawImage(img, x0, y0, bw, bh);
    } else {
      g.fillStyle = COLOURS.image;
      g.fillRect(x0, y0, bw, bh);
    }
    g.strokeStyle = COLOURS.dim;
    g.lineWidth = 1;
    for (const v of niceTicks(0, iw, 6, false)) {
      g.beginPath(); g.moveTo(x0 + v * k, y0 + bh); g.lineTo(x0 + v * k, y0 + bh + 5); g.stroke();
      text(g, label(v), x0 + v * k, y0 + bh + 8, COLOURS.dim, "center", "top");
    }
    for (const v of niceTicks(0, ih, 6, false)) {
      g.beginPath(); g.moveTo(x0 - 5, y0 + v * k); g.lineTo(x0, y0 + v * k); g.stroke();
      text(g, label(v), x0 - 7, y0 + v * k, COLOURS.dim, "right", "middle");
    }
    text(g, "x (px)", x0 + bw / 2, y0 + bh + 24, COLOURS.ink, "center", "top");
    g.save();
    g.translate(12, y0 + bh / 2);
    g.rotate(-Math.PI / 2);
    text(g, "y (px)", 0, 0, COLOURS.ink, "center", "middle");
    g.restore();
    g.save();
    g.beginPath(); g.rect(0, 0, c.w, c.h); g.clip();
    const xy = [], depth = [];
    for (let j = 0; j < J; j++) {
      const i = (state.frame * J + j) * 2;
      xy.push([x0 + D.keypoints_2d[i] * k, y0 + D.keypoints_2d[i + 1] * k]);
      depth.push(0);
    }
    skeleton(g, xy, depth, state.frame, 3);
    g.restore();
  }

  function draw3d() {
    const c = setupCanvas(canvas3), g = c.g;
    const a = state.azimuth * Math.PI / 180, e = state.elevation * Math.PI / 180;
    const ca = Math.cos(a), sa = Math.sin(a), ce = Math.cos(e), se = Math.sin(e);
    const scale = state.zoom * 0.45 * Math.min(c.w, c.h) / scene.radius;
    // Same rotation as render.project_3d: turn about the vertical, then tilt.
    function project(p) {
      const x = ca * p[0] - sa * p[2], z = sa * p[0] + ca * p[2];
      const y = p[1] - scene.centre;
      const vy = ce * y - se * z, vz = se * y + ce * z;
      return [c.w / 2 + x * scale, c.h / 2 + vy * scale, vz];
    }
    function line(p, q, colour, width) {
      const s = project(p), t = project(q);
      g.strokeStyle = colour; g.lineWidth = width;
      g.beginPath(); g.moveTo(s[0], s[1]); g.lineTo(t[0], t[1]); g.stroke();
    }
    const gr = scene.ground, h = scene.half;
    for (const t of scene.ticks) {
      line([t, gr, -h], [t, gr, h], COLOURS.grid, 1);
      line([-h, gr, t], [h, gr, t], COLOURS.grid, 1);
    }
    // Tick labels on the two grid edges nearest to the viewer.
    const nearZ = project([0, gr, -h])[2] < project([0, gr, h])[2] ? -h : h;
    const nearX = project([-h, gr, 0])[2] < project([h, gr, 0])[2] ? -h : h;
    const pad = 0.08 * h;
    for (const t of scene.ticks.slice(1, -1)) {
      let p = project([t, gr, nearZ + Math.sign(nearZ) * pad]);
      text(g, label(t), p[0], p[1], COLOURS.dim, "center", "middle");
      p = project([nearX + Math.sign(nearX) * pad, gr, t]);
      text(g, label(t), p[0], p[1], COLOURS.dim, "center", "middle");
    }
    const centre = project([0, gr, 0]);
    for (const item of [["x (" + D.units + ")", -nearX, nearZ],
                        ["z (" + D.units + ")", nearX, -nearZ]]) {
      const p = project([item[1], gr, item[2]]);
      const right = p[0] >= centre[0];
      text(g, item[0], p[0] + (right ? 10 : -10), p[1], COLOURS.ink,
           right ? "left" : "right", "middle");
    }
    // Vertical axis at the leftmost grid corner: height above the lowest joint.
    let corner = null;
    for (const cx of [-h, h]) for (const cz of [-h, h]) {
      if (corner === null || project([cx, gr, cz])[0] < project([corner[0], gr, corner[1]])[0]) {
        corner = [cx, cz];
      }
    }
    const heights = niceTicks(0, scene.height, 6, false);
    line([corner[0], gr, corner[1]], [corner[0], gr - heights[heights.length - 1], corner[1]],
         COLOURS.dim, 1);
    for (const v of heights.slice(1)) {
      const p = project([corner[0], gr - v, corner[1]]);
      g.strokeStyle = COLOURS.dim;
      g.beginPath(); g.moveTo(p[0] - 4, p[1]); g.lineTo(p[0] + 4, p[1]); g.stroke();
      text(g, label(v), p[0] - 7, p[1], COLOURS.dim, "right", "middle");
    }
    const tip = project([corner[0], gr - heights[heights.length - 1], corner[1]]);
    text(g, "up (" + D.units + ")", tip[0], tip[1] - 10, COLOURS.ink, "center", "bottom");
    // The pose's shadow on the grid, then the pose.
    const f = state.frame;
    for (let j = 0; j < J; j++) {
      const p = D.parents[j];
      if (p < 0) continue;
      const s = p3(f, p), t = p3(f, j);
      line([s[0], gr, s[2]], [t[0], gr, t[2]], COLOURS.shadow, 3);
    }
    const xy = [], depth = [];
    for (let j = 0; j < J; j++) {
      const v = project(p3(f, j));
      xy.push([v[0], v[1]]);
      depth.push(v[2]);
    }
    skeleton(g, xy, depth, f, 3);
    $("view-angle").textContent = "view: azimuth " + Math.round(state.azimuth) +
      "°, elevation " + Math.round(state.elevation) + "°";
  }

  function draw() {
    draw2d();
    draw3d();
    const n = D.frame_numbers[state.frame];
    let s = "frame " + n;
    if (D.fps) s += " · " + (n / D.fps).toFixed(2) + " s";
    s += " · " + (state.frame + 1) + " / " + F;
    $("frame-label").textContent = s;
    slider.value = state.frame;
    $("frame-note").textContent = D.filled !== null && F > 0 &&
      D.filled.substr(state.frame * J, J).indexOf("0") < 0 && D.filled.indexOf("0") >= 0
      ? "person not detected in this frame: joints interpolated" : "";
    document.body.dataset.frame = String(state.frame);
  }

  function setFrame(f) {
    state.frame = Math.max(0, Math.min(F - 1, Math.round(f) || 0));
    draw();
  }
  function setPlaying(on) {
    state.playing = on && F > 1;
    playButton.textContent = state.playing ? "❚❚ pause" : "▶ play";
    if (state.playing) {
      state.clock = performance.now();
      state.position = state.frame;
      requestAnimationFrame(tick);
    }
  }
  function tick(now) {
    if (!state.playing) return;
    state.position += (now - state.clock) / 1000 * (D.fps || 25) * state.speed;
    state.clock = now;
    const f = Math.floor(state.position) % F;
    if (f !== state.frame) setFrame(f);
    requestAnimationFrame(tick);
  }
  function resetView() {
    state.azimuth = D.azimuth; state.elevation = D.elevation; state.zoom = 1;
    draw();
  }
  // #frame=10&azimuth=30&elevation=20&zoom=1.5&play=1 (frame: row index, from 0).
  function applyHash() {
    const params = new URLSearchParams(location.hash.replace(/^#/, ""));
    const number = function (key) {
      const v = parseFloat(params.get(key));
      return isFinite(v) ? v : null;
    };
    if (number("azimuth") !== null) state.azimuth = number("azimuth");
    if (number("elevation") !== null) state.elevation = Math.max(-89, Math.min(89, number("elevation")));
    if (number("zoom") !== null) state.zoom = Math.max(0.2, Math.min(10, number("zoom")));
    setFrame(number("frame") !== null ? number("frame") : state.frame);
    if (params.get("play") === "1") setPlaying(true);
  }

  slider.max = String(Math.max(0, F - 1));
  slider.addEventListener("input", function () { setPlaying(false); setFrame(+slider.value); });
  playButton.addEventListener("click", function () { setPlaying(!state.playing); });
  $("previous").addEventListener("click", function () { setPlaying(false); setFrame(state.frame - 1); });
  $("next").addEventListener("click", function () { setPlaying(false); setFrame(state.frame + 1); });
  $("speed").addEventListener("change", function () {
    state.speed = parseFloat($("speed").value);
    if (state.playing) { state.clock = performance.now(); }
  });
  $("reset-view").addEventListener("click", resetView);
  let drag = null;
  canvas3.addEventListener("pointerdown", function (ev) {
    drag = [ev.clientX, ev.clientY];
    canvas3.setPointerCapture(ev.pointerId);
  });
  canvas3.addEventListener("pointermove", function (ev) {
    if (drag === null) return;
    state.azimuth += (ev.clientX - drag[0]) * 0.4;
    state.elevation = Math.max(-89, Math.min(89, state.elevation + (ev.clientY - drag[1]) * 0.4));
    drag = [ev.clientX, ev.clientY];
    draw3d();
  });
  canvas3.addEventListener("pointerup", function () { drag = null; });
  canvas3.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    state.zoom = Math.max(0.2, Math.min(10, state.zoom * Math.exp(-ev.deltaY * 0.0015)));
    draw3d();
  }, { passive: false });
  canvas3.addEventListener("dblclick", resetView);
  document.addEventListener("keydown", function (ev) {
    if (ev.target.tagName === "SELECT") return;
    if (ev.key === " ") { ev.preventDefault(); setPlaying(!state.playing); }
    else if (ev.key === "ArrowRight") { setPlaying(false); setFrame(state.frame + 1); }
    else if (ev.key === "ArrowLeft") { setPlaying(false); setFrame(state.frame - 1); }
  });
  window.addEventListener("resize", draw);
  window.addEventListener("hashchange", applyHash);
  // For scripts and tests: poseViewer.setFrame(10), .play(), .pause().
  window.poseViewer = { setFrame: setFrame, play: function () { setPlaying(true); },
                        pause: function () { setPlaying(false); },
                        get frame() { return state.frame; }, frames: F };
  applyHash();
})();
