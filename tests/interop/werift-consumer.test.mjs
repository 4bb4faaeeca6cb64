// werift (a TypeScript WebRTC stack nobody here wrote, from npm) watches
// signalsink: it speaks our signalling protocol as gstwebrtc-api does,
// answers signalsink's offer and must get the video and audio RTP routed to
// its tracks. werift routes RTP by the SSRCs (or MIDs) the offer signals;
// an offer without them gets every packet discarded ("ssrcReceiver not
// found"), which this test catches.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import { TEST_TIMEOUT_MS, WAIT_MS, sinkPipeline, sourceRoot, startLauncher } from "../browser/harness.mjs";

// werift and ws are devDependencies of web/ (npm ci there), as playwright-core.
const requireFromWeb = createRequire(path.join(sourceRoot, "web", "package.json"));
const { RTCPeerConnection } = requireFromWeb("werift");
const WebSocket = requireFromWeb("ws");

// A consumer of the producer named `name` on the server at `url`, counting
// the RTP packets that reach its receivers, by kind.
class WeriftConsumer {
  constructor(url, name) {
    this.packets = { video: 0, audio: 0 };
    this.codecs = {};
    this.waiters = new Set();
    this.log = [];
    this.ws = new WebSocket(url);
    this.ws.on("message", (data) => this.onMessage(JSON.parse(data)).catch((e) => this.fail(e)));
    this.ws.on("error", (e) => this.fail(e));
    this.name = name;
  }

  send(message) {
    this.ws.send(JSON.stringify(message));
  }

  fail(error) {
    this.error = error;
    this.wake();
  }

  wake() {
    for (const w of this.waiters) w();
  }

  async onMessage(m) {
    this.log.push(JSON.stringify(m).slice(0, 300));
    if (m.type === "welcome") {
      this.send({ type: "setPeerStatus", roles: ["listener"], meta: null });
      this.send({ type: "list" });
    } else if (m.type === "list" || m.type === "peerStatusChanged") {
      const producers = m.type === "list" ? m.producers : [{ id: m.peerId, meta: m.meta, roles: m.roles }];
      const p = producers.find((p) => p.meta && p.meta.name === this.name && (!p.roles || p.roles.includes("producer")));
      if (p && !this.asked) {
        this.asked = true;
        this.send({ type: "startSession", peerId: p.id });
      }
    } else if (m.type === "sessionStarted") {
      this.session = m.sessionId;
    } else if (m.type === "peer" && m.sdp) {
      this.offer = m.sdp.sdp;
      // libnice on the other side gathers on 127.0.0.1 only here.
      this.pc = new RTCPeerConnection({ iceAdditionalHostAddresses: ["127.0.0.1"], iceUseIpv6: false });
      this.pc.onIceCandidate.subscribe((c) => {
        if (c) this.send({ type: "peer", sessionId: this.session, ice: { candidate: c.candidate, sdpMLineIndex: c.sdpMLineIndex ?? 0 } });
      });
      this.tracks = [];
      this.pc.onTrack.subscribe((track) => this.tracks.push(track.kind));
      await this.pc.setRemoteDescription(m.sdp);
      // Every receiver, not only those onTrack announced: werift 0.24
      // raises no track event for an m-line offered bundle-only (port 0,
      // a=bundle-only), as webrtcbin offers every m-line after the first
      // with bundle-policy max-bundle; its RTP is routed all the same.
      for (const transceiver of this.pc.getTransceivers()) {
        const track = transceiver.receiver.track;
        track.onReceiveRtp.subscribe(() => {
          this.packets[track.kind] = (this.packets[track.kind] || 0) + 1;
          this.codecs[track.kind] = track.codec?.mimeType ?? transceiver.codecs[0]?.mimeType;
          this.wake();
        });
      }
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      this.send({ type: "peer", sessionId: this.session, sdp: this.pc.localDescription });
    } else if (m.type === "peer" && m.ice && this.pc) {
      await this.pc.addIceCandidate(m.ice);
    } else if (m.type === "endSession" || m.type === "error") {
      this.fail(new Error(`the server said ${JSON.stringify(m)}`));
    }
  }

  // Waits until `ok()` holds, an error comes, or WAIT_MS pass.
  until(ok, what) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.error) finish(reject, this.error);
        else if (ok()) finish(resolve);
      };
      const finish = (fn, value) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        fn(value);
      };
      const timer = setTimeout(
        () => finish(reject, new Error(`${what}: not within ${WAIT_MS / 1000} s; packets ${JSON.stringify(this.packets)}; messages:\n${this.log.slice(-10).join("\n")}`)),
        WAIT_MS,
      );
      this.waiters.add(check);
      check();
    });
  }

  async close() {
    await this.pc?.close();
    this.ws.close();
  }
}

describe("werift watches signalsink", () => {
  let launcher;
  before(async () => {
    launcher = await startLauncher({ pipeline: sinkPipeline({ name: "cam" }) });
  });
  after(async () => {
    await launcher?.stop();
  });

  test("video and audio RTP reach werift's tracks", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const consumer = new WeriftConsumer(launcher.wsUrl, "cam");
    try {
      await consumer.until(() => consumer.packets.video >= 200 && consumer.packets.audio >= 50, "200 video and 50 audio packets");
      t.diagnostic(`packets ${JSON.stringify(consumer.packets)}, codecs ${JSON.stringify(consumer.codecs)}, ` +
        `track events ${JSON.stringify(consumer.tracks)}`);
      assert.match(consumer.offer, /a=ssrc:\d+ cname:/, "the offer signals its SSRCs");
      // werift answers VP8 first: signalsink sends a consumer the first
      // codec of its answer that it can.
      assert.ok(["video/h264", "video/vp8"].includes(consumer.codecs.video?.toLowerCase()), `video codec ${consumer.codecs.video}`);
      assert.equal(consumer.codecs.audio?.toLowerCase(), "audio/opus");
    } finally {
      await consumer.close();
    }
  });
});
