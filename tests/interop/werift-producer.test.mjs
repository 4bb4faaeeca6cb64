// werift (TypeScript WebRTC from npm) publishes, signalsrc watches: werift
// registers as a producer through our protocol, offers (its SDP, not
// webrtcbin's) and sends VP8 that a gst-launch-1.0 pipeline encodes and
// hands it over UDP; signalsrc must answer that offer and decode frames.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { createRequire } from "node:module";
import path from "node:path";
import { TEST_TIMEOUT_MS, WAIT_MS, sourceRoot, startGstLaunch, startLauncher } from "../browser/harness.mjs";

const requireFromWeb = createRequire(path.join(sourceRoot, "web", "package.json"));
const { MediaStreamTrack, RTCPeerConnection } = requireFromWeb("werift");
const WebSocket = requireFromWeb("ws");

// A producer named `name`: one VP8 video track fed from RTP on a UDP socket.
class WeriftProducer {
  constructor(url, name) {
    this.track = new MediaStreamTrack({ kind: "video" });
    this.udp = createSocket("udp4");
    this.udp.on("message", (data) => this.track.writeRtp(data));
    this.sessions = new Map(); // session id -> RTCPeerConnection
    this.log = [];
    this.ws = new WebSocket(url);
    this.ws.on("message", (data) => this.onMessage(JSON.parse(data)).catch((e) => (this.error = e)));
    this.ws.on("error", (e) => (this.error = e));
    this.name = name;
  }

  bind() {
    return new Promise((resolve) => this.udp.bind(0, "127.0.0.1", () => resolve(this.udp.address().port)));
  }

  send(message) {
    this.ws.send(JSON.stringify(message));
  }

  async onMessage(m) {
    this.log.push(JSON.stringify(m).slice(0, 300));
    if (m.type === "welcome") {
      this.send({ type: "setPeerStatus", roles: ["producer"], meta: { name: this.name } });
    } else if (m.type === "startSession") {
      const pc = new RTCPeerConnection({ iceAdditionalHostAddresses: ["127.0.0.1"], iceUseIpv6: false });
      this.sessions.set(m.sessionId, pc);
      pc.onIceCandidate.subscribe((c) => {
        if (c) this.send({ type: "peer", sessionId: m.sessionId, ice: { candidate: c.candidate, sdpMLineIndex: c.sdpMLineIndex ?? 0 } });
      });
      pc.addTransceiver(this.track, { direction: "sendonly" });
      await pc.setLocalDescription(await pc.createOffer());
      this.send({ type: "peer", sessionId: m.sessionId, sdp: pc.localDescription });
    } else if (m.type === "peer" && m.sdp) {
      await this.sessions.get(m.sessionId)?.setRemoteDescription(m.sdp);
    } else if (m.type === "peer" && m.ice) {
      await this.sessions.get(m.sessionId)?.addIceCandidate(m.ice);
    } else if (m.type === "endSession" || m.type === "error") {
      this.error = new Error(`the server said ${JSON.stringify(m)}`);
    }
  }

  async close() {
    for (const pc of this.sessions.values()) await pc.close();
    this.udp.close();
    this.ws.close();
  }
}

describe("signalsrc watches werift", () => {
  let launcher;
  before(async () => {
    launcher = await startLauncher();
  });
  after(async () => {
    await launcher?.stop();
  });

  test("signalsrc answers werift's offer and decodes its VP8", { timeout: TEST_TIMEOUT_MS }, async () => {
    const producer = new WeriftProducer(launcher.wsUrl, "werift");
    let encoder;
    let viewer;
    try {
      const port = await producer.bind();
      encoder = startGstLaunch([
        "videotestsrc", "is-live=true", "!", "video/x-raw,width=320,height=240,framerate=30/1", "!",
        "vp8enc", "deadline=1", "keyframe-max-dist=30", "!", "rtpvp8pay", "pt=96", "mtu=1200", "!",
        "udpsink", "host=127.0.0.1", `port=${port}`,
      ]);
      viewer = startGstLaunch([
        "-v", "signalsrc", `server-url=${launcher.wsUrl}`, "producer-name=werift", "ice-local-addresses=127.0.0.1",
        "!", "videoconvert", "!", "fpsdisplaysink", "video-sink=fakesink", "text-overlay=false", "sync=false",
      ]);
      // fpsdisplaysink's last-message: "rendered: N, dropped: M, ...".
      const m = await viewer.waitForLine(/rendered: ([3-9]\d|\d{3,})\b/, "30 frames rendered", WAIT_MS);
      assert.ok(Number(m[1]) >= 30, `frames rendered: ${m[1]}`);
      assert.equal(producer.error, undefined, `werift: ${producer.error}\n${producer.log.join("\n")}`);
    } finally {
      await viewer?.stop();
      await encoder?.stop();
      await producer.close();
    }
  });
});
