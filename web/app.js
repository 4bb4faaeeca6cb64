// The signalbin page: lists producers, watches one, publishes the camera.
// Built on gstwebrtc-api (copied next to this file at build time).
import GstWebRTCAPI from "./gstwebrtc-api.esm.js";

const params = new URLSearchParams(location.search);
// The signalling server is this page's own server: same host, same port.
const serverUrl = new URL("/", location.href);
serverUrl.protocol = location.protocol === "https:" ? "wss:" : "ws:";
if (params.get("token")) serverUrl.searchParams.set("token", params.get("token"));
// No STUN by default: on a LAN none is needed and offline it only delays.
const iceServers = params.getAll("stun").map((url) => ({ urls: url }));
const webrtcConfig = { iceServers, bundlePolicy: "max-bundle" };

const $ = (id) => document.getElementById(id);
const state = {
  api: null, session: null, producerId: null, publisher: null, publishing: null, lastStats: null,
  remoteController: null, controlResponses: [],
};
window.signalbin = state; // for the browser tests and the curious

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function setConnection(ok, text) {
  const badge = $("connection");
  badge.textContent = text;
  badge.className = "badge " + (ok ? "ok" : "bad");
}

function producerName(producer) {
  return (producer.meta && producer.meta.name) || "unnamed";
}

function renderProducers() {
  const list = $("producers");
  list.replaceChildren();
  const producers = state.api ? state.api.getAvailableProducers() : [];
  const own = state.publishing ? state.publisherId : null;
  const shown = producers.filter((p) => p.id !== own);
  if (shown.length === 0) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "No stream yet. Start one with signalbin-launch, or publish your camera below.";
    list.append(li);
    return;
  }
  for (const producer of shown) {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.dataset.producerId = producer.id;
    button.className = producer.id === state.producerId ? "active" : "";
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = producerName(producer);
    const id = document.createElement("span");
    id.className = "id";
    id.textContent = producer.id;
    button.append(name, id);
    button.addEventListener("click", () => watch(producer));
    li.append(button);
    list.append(li);
  }
}

function stopWatching() {
  if (state.session) {
    state.session.close();
    state.session = null;
  }
  state.producerId = null;
  state.remoteController = null;
  $("video").srcObject = null;
  $("video").controls = true;
  $("remote").hidden = true;
  $("stats").textContent = "";
}

function watch(producer) {
  stopWatching();
  showError("");
  state.producerId = producer.id;
  renderProducers();
  $("watching").textContent = `Connecting to ${producerName(producer)}…`;
  const session = state.api.createConsumerSession(producer.id);
  if (!session) {
    showError("Could not start a session with this stream.");
    return;
  }
  state.session = session;
  session.addEventListener("error", (event) => showError(event.message || "session error"));
  session.addEventListener("closed", () => {
    if (state.session === session) {
      $("watching").textContent = `${producerName(producer)} ended.`;
      state.session = null;
      state.producerId = null;
      renderProducers();
    }
  });
  // A producer that offers control (signalsink enable-control-data-channel,
  // webrtcsink likewise) gets the pointer, wheel, keys and touches over the
  // video, through gstwebrtc-api's remote controller.
  session.addEventListener("remoteControllerChanged", () => {
    const controller = session.remoteController;
    state.remoteController = controller;
    if (controller) {
      controller.attachVideoElement($("video"));
      controller.addEventListener("controlResponse", (event) => {
        state.controlResponses.push(event.detail);
        if (state.controlResponses.length > 100) state.controlResponses.shift();
      });
    }
    $("video").controls = !controller; // clicks go to the producer, not to play/pause
    $("remote").hidden = !controller;
  });
  session.addEventListener("streamsChanged", () => {
    if (session.streams.length > 0) {
      $("video").srcObject = session.streams[0];
      $("video").play().catch(() => {});
      $("watching").textContent = `Watching ${producerName(producer)}`;
    }
  });
  session.connect();
}

// Resolution, frame rate, bitrate and round-trip time, once a second.
async function updateStats() {
  const pc = state.session && state.session.rtcPeerConnection;
  if (!pc) return;
  const report = await pc.getStats();
  const now = { time: performance.now(), bytes: 0, framesDecoded: 0, audioPackets: 0 };
  let video = null;
  let rtt = null;
  report.forEach((s) => {
    if (s.type === "inbound-rtp") {
      now.bytes += s.bytesReceived || 0;
      if (s.kind === "video") {
        video = s;
        now.framesDecoded = s.framesDecoded || 0;
      } else if (s.kind === "audio") {
        now.audioPackets = s.packetsReceived || 0;
      }
    } else if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) {
      rtt = s.currentRoundTripTime;
    }
  });
  const last = state.lastStats;
  const kbps = last ? ((now.bytes - last.bytes) * 8) / (now.time - last.time) : 0;
  state.lastStats = now;
  const parts = [];
  if (video && video.frameWidth) parts.push(`${video.frameWidth}×${video.frameHeight}`);
  if (video && video.framesPerSecond !== undefined) parts.push(`${Math.round(video.framesPerSecond)} fps`);
  parts.push(kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbit/s` : `${Math.round(kbps)} kbit/s`);
  if (rtt !== null) parts.push(`RTT ${Math.round(rtt * 1000)} ms`);
  $("stats").textContent = parts.join(" · ");
}

async function publish(name) {
  showError("");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch (error) {
    showError(`Camera or microphone refused: ${error.message}. Allow them for this page (https is needed except on localhost).`);
    return;
  }
  // A producer carries its name in the connection's meta: one API client each.
  const publisher = new GstWebRTCAPI({ meta: { name }, signalingServerUrl: serverUrl.href, webrtcConfig });
  publisher.registerConnectionListener({
    connected: (clientId) => {
      state.publisherId = clientId;
      const session = publisher.createProducerSession(stream);
      if (!session) {
        showError("Could not publish.");
        return;
      }
      state.publishing = session;
      session.addEventListener("error", (event) => showError(event.message || "publishing error"));
      session.addEventListener("closed", () => unpublish());
      session.start();
      $("publish-status").textContent = `Publishing as "${name}". Watch it with: signalsrc producer-name=${name}`;
      $("publish").hidden = true;
      $("unpublish").hidden = false;
      renderProducers();
    },
    disconnected: () => {},
  });
  state.publisher = publisher;
  $("preview").srcObject = stream;
  $("preview").hidden = false;
}

function unpublish() {
  if (state.publishing) {
    const session = state.publishing;
    state.publishing = null;
    session.close();
  }
  if (state.publisher) {
    state.publisher.unregisterAllConnectionListeners();
    state.publisher = null;
  }
  const stream = $("preview").srcObject;
  if (stream) stream.getTracks().forEach((t) => t.stop());
  $("preview").srcObject = null;
  $("preview").hidden = true;
  $("publish").hidden = false;
  $("unpublish").hidden = true;
  $("publish-status").textContent = "";
  renderProducers();
}

function start() {
  const api = new GstWebRTCAPI({ signalingServerUrl: serverUrl.href, webrtcConfig });
  state.api = api;
  api.registerConnectionListener({
    connected: () => {
      setConnection(true, "connected");
      showError("");
    },
    disconnected: () => {
      setConnection(false, "disconnected, retrying…");
      stopWatching();
      renderProducers();
    },
  });
  api.registerPeerListener({
    producerAdded: () => renderProducers(),
    producerRemoved: (producer) => {
      if (producer.id === state.producerId) {
        stopWatching();
        $("watching").textContent = `${producerName(producer)} left.`;
      }
      renderProducers();
    },
  });
  $("publish-form").addEventListener("submit", (event) => {
    event.preventDefault();
    publish($("publish-name").value.trim() || "browser");
  });
  $("unpublish").addEventListener("click", unpublish);
  setInterval(() => updateStats().catch(() => {}), 1000);
  renderProducers();
}

start();
