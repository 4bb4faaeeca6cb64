// The page Chromium runs on the network test bed (bench/net/browser.mjs
// serves it): a sender that draws moving bars and the stamps of
// bench/media/frame-id.cpp into a canvas and publishes it, or a viewer that
// watches a producer and reads the stamps back from every presented frame.
// Both through gstwebrtc-api against a signalbin server, as our page does.
import GstWebRTCAPI from "./gstwebrtc-api.esm.js";

const params = new URLSearchParams(location.search);
const role = params.get("role");
const width = Number(params.get("width"));
const height = Number(params.get("height"));
const fps = Number(params.get("fps"));
const name = params.get("name");
const server = params.get("server");
const webrtcConfig = { iceServers: [], bundlePolicy: "max-bundle" };

// ---- the stamp: as bench/media/frame-id.cpp draws and reads it ------------
const BLOCK = 32;
const COLUMNS = 8;
const ROWS = 3;
const ID_BITS = 20;
const MODULO = 1 << ID_BITS;
const ID_HEIGHT = BLOCK * ROWS;
const BANDS = 4;

function checkOf(id) {
  let c = 0;
  for (let shift = 0; shift < ID_BITS; shift += 4) c ^= (id >> shift) & 0xf;
  return c ^ 0x5;
}

// network.cpp's band_tops(): four grids from top to bottom, on 32 px rows.
const tops = [];
for (let k = 0; k < BANDS; ++k) tops.push(Math.floor(Math.floor((k * (height - ID_HEIGHT)) / (BANDS - 1)) / 32) * 32);

// The machine's monotonic clock in ms (the clock of the other programs):
// browser.mjs measures its offset from performance.now().
let monotonicOffsetMs = null;
const monotonicMs = () => performance.now() + monotonicOffsetMs;

const pcs = [];
const NativePeerConnection = window.RTCPeerConnection;
window.RTCPeerConnection = class extends NativePeerConnection {
  constructor(...args) {
    super(...args);
    pcs.push(this);
  }
};

const report = (item) => window.benchReport(item);

// Once a second: `read(stats, pc, now)` of the newest peer connection's
// getStats(), reported with the time.
function reportStats(read) {
  setInterval(async () => {
    const pc = pcs[pcs.length - 1];
    if (!pc) return;
    const stats = await pc.getStats();
    const now = performance.now();
    report({ perf: now, ...read(stats, pc, now) });
  }, 1000);
}

// ---- sender ----------------------------------------------------------------
// videotestsrc's SMPTE bars (75 %), scrolled 4 px a frame as net-send's.
const BARS = ["#c0c0c0", "#c0c000", "#00c0c0", "#00c000", "#c000c0", "#c00000", "#0000c0"];
const STRIP = ["#0000c0", "#131313", "#c000c0", "#131313", "#00c0c0", "#131313", "#c0c0c0"];
const BOTTOM = ["#00214c", "#ffffff", "#32006a", "#131313", "#090909", "#131313", "#1d1d1d"];

function drawFrame(ctx, offset) {
  const bar = width / 7;
  const rows = [
    [0, Math.round(height * 0.67), BARS],
    [Math.round(height * 0.67), Math.round(height * 0.75), STRIP],
    [Math.round(height * 0.75), height, BOTTOM],
  ];
  for (const [y0, y1, colors] of rows) {
    for (let i = 0; i < 7; ++i) {
      ctx.fillStyle = colors[i];
      const x = (i * bar + offset) % width;
      ctx.fillRect(x, y0, bar + 1, y1 - y0);
      if (x + bar > width) ctx.fillRect(x - width, y0, bar + 1, y1 - y0);
    }
  }
  const id = Math.floor(monotonicMs()) % MODULO;
  const word = (id | (checkOf(id) << ID_BITS)) >>> 0;
  for (const top of tops) {
    for (let bit = 0; bit < COLUMNS * ROWS; ++bit) {
      ctx.fillStyle = (word >>> bit) & 1 ? "#ffffff" : "#000000";
      ctx.fillRect((bit % COLUMNS) * BLOCK, top + Math.floor(bit / COLUMNS) * BLOCK, BLOCK, BLOCK);
    }
  }
}

function send() {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  document.body.append(canvas);
  const ctx = canvas.getContext("2d");
  let offset = 0;
  drawFrame(ctx, offset);
  setInterval(() => {
    offset = (offset + 4) % width;
    drawFrame(ctx, offset);
  }, 1000 / fps);
  const stream = canvas.captureStream(fps);
  const api = new GstWebRTCAPI({ meta: { name }, signalingServerUrl: server, webrtcConfig });
  api.registerConnectionListener({
    connected: () => {
      const session = api.createProducerSession(stream);
      if (!session) return report({ error: "could not publish" });
      session.addEventListener("error", (event) => report({ error: event.message || "producer error" }));
      session.start();
      report({ ready: true });
    },
    disconnected: () => report({ error: "signalling disconnected" }),
  });
  let last = null;
  reportStats((stats, pc, now) => {
    const out = {};
    stats.forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video") {
        out.bytes = (out.bytes || 0) + s.bytesSent + (s.headerBytesSent || 0);
        out["nack-count"] = (out["nack-count"] || 0) + (s.nackCount || 0);
        out["keyframe-requests"] = (out["keyframe-requests"] || 0) + (s.pliCount || 0) + (s.firCount || 0);
        out["retransmitted-bytes"] = (out["retransmitted-bytes"] || 0) + (s.retransmittedBytesSent || 0);
        if (s.frameHeight) out["frame-height"] = s.frameHeight;
        if (s.framesPerSecond !== undefined) out["frames-per-second"] = s.framesPerSecond;
        if (s.qualityLimitationReason) out["quality-limitation"] = s.qualityLimitationReason;
        if (s.targetBitrate) out["target-bitrate"] = s.targetBitrate;
      } else if (s.type === "remote-inbound-rtp" && s.kind === "video") {
        if (s.fractionLost !== undefined) out["fraction-lost"] = s.fractionLost;
        if (s.roundTripTime !== undefined) out["round-trip-time"] = s.roundTripTime;
      } else if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
        if (s.availableOutgoingBitrate !== undefined) out["estimated-bitrate"] = s.availableOutgoingBitrate;
      } else if (s.type === "codec" && s.mimeType && s.mimeType.startsWith("video/")) {
        out.codec = s.mimeType;
      }
    });
    out["connection-state"] = pc.connectionState;
    if (last && out.bytes !== undefined) out.bitrate = Math.round(((out.bytes - last.bytes) * 8 * 1000) / (now - last.time));
    if (out.bytes !== undefined) last = { bytes: out.bytes, time: now };
    return { stats: { chromium: out } };
  });
}

// ---- viewer ----------------------------------------------------------------
function readStamps(probe, video) {
  // Each band back at the sent size, whatever size the stream has now.
  const sx = video.videoWidth / width;
  const sy = video.videoHeight / height;
  tops.forEach((top, k) =>
    probe.drawImage(video, 0, top * sy, COLUMNS * BLOCK * sx, ID_HEIGHT * sy, 0, k * ID_HEIGHT, COLUMNS * BLOCK, ID_HEIGHT),
  );
  const data = probe.getImageData(0, 0, COLUMNS * BLOCK, ID_HEIGHT * BANDS).data;
  const stride = COLUMNS * BLOCK * 4;
  let stamp = null;
  let agree = true;
  for (let k = 0; k < BANDS; ++k) {
    let word = 0;
    let valid = true;
    for (let bit = 0; bit < COLUMNS * ROWS && valid; ++bit) {
      // The mean luma of the block's central 16x16, in full range (the
      // limited-range thresholds 90 and 160 of frame-id.cpp).
      const x0 = (bit % COLUMNS) * BLOCK + BLOCK / 4;
      const y0 = k * ID_HEIGHT + Math.floor(bit / COLUMNS) * BLOCK + BLOCK / 4;
      let sum = 0;
      for (let row = 0; row < BLOCK / 2; ++row) {
        let i = (y0 + row) * stride + x0 * 4;
        for (let col = 0; col < BLOCK / 2; ++col, i += 4) sum += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
      }
      const mean = sum / ((BLOCK / 2) * (BLOCK / 2));
      if (mean > 168) word |= 1 << bit;
      else if (mean >= 86) valid = false;
    }
    word >>>= 0;
    const id = word & (MODULO - 1);
    const ok = valid && word >>> ID_BITS === checkOf(id);
    if (!ok || (stamp !== null && id !== stamp)) agree = false;
    if (stamp === null) stamp = ok ? id : null;
  }
  return agree && stamp !== null ? stamp : null;
}

function view() {
  const video = document.createElement("video");
  video.muted = true;
  video.autoplay = true;
  video.playsInline = true;
  document.body.append(video);
  const canvas = document.createElement("canvas");
  canvas.width = COLUMNS * BLOCK;
  canvas.height = ID_HEIGHT * BANDS;
  const probe = canvas.getContext("2d", { willReadFrequently: true });
  let lastClean = null;
  const onFrame = () => {
    const now = performance.now();
    const stamp = video.videoWidth ? readStamps(probe, video) : null;
    const newer = lastClean === null || ((stamp - lastClean + MODULO) % MODULO) - 1 < MODULO / 2 - 1;
    const clean = stamp !== null && newer;
    let latency = -1;
    if (clean) {
      lastClean = stamp;
      latency = (((Math.floor(now + monotonicOffsetMs) - stamp) % MODULO) + MODULO) % MODULO;
    }
    report({ perf: now, clean, latency_ms: latency });
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);

  const api = new GstWebRTCAPI({ signalingServerUrl: server, webrtcConfig });
  let session = null;
  const maybeWatch = (producer) => {
    if (session || !producer.meta || producer.meta.name !== name) return;
    session = api.createConsumerSession(producer.id);
    if (!session) return report({ error: "could not start a session" });
    session.addEventListener("error", (event) => report({ error: event.message || "session error" }));
    session.addEventListener("streamsChanged", () => {
      if (session.streams.length > 0) {
        video.srcObject = session.streams[0];
        video.play().catch(() => {});
      }
    });
    session.connect();
  };
  api.registerConnectionListener({
    connected: () => api.getAvailableProducers().forEach(maybeWatch),
    disconnected: () => report({ error: "signalling disconnected" }),
  });
  api.registerPeerListener({ producerAdded: maybeWatch, producerRemoved: () => {} });
  reportStats((stats, pc) => {
    const out = {};
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        for (const key of ["framesDecoded", "framesDropped", "frameHeight", "packetsLost", "packetsReceived", "nackCount",
          "pliCount", "freezeCount", "totalFreezesDuration", "jitterBufferDelay", "jitterBufferEmittedCount"])
          if (s[key] !== undefined) out[key] = s[key];
      } else if (s.type === "codec" && s.mimeType && s.mimeType.startsWith("video/")) {
        out.codec = s.mimeType;
      }
    });
    out.connectionState = pc.connectionState;
    return { viewer: out };
  });
}

window.benchStart = (offsetMs) => {
  monotonicOffsetMs = offsetMs;
  if (role === "send") send();
  else view();
};
