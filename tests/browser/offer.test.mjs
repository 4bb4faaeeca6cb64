// Chromium offers, signalsink answers: gstwebrtc-api's consumer session with
// offer options (recvonly m-lines and a data channel, as WHEP players and
// its own demo offer) against signalsink, which must answer with the
// offered kinds sendonly, in a codec offered, and send them; or, when
// nothing it can send was offered, end the session and say why.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_TIMEOUT_MS, explainer, openPage, sinkPipeline, startBrowser, startLauncher, waitUntil } from "./harness.mjs";

// The offering session's state: the answer's directions and video codec,
// what arrived, and whether the session was closed.
async function offeringState(page) {
  return page.evaluate(async () => {
    const session = window.offering;
    const pc = session?.rtcPeerConnection;
    const out = {
      directions: [],
      videoCodec: null,
      framesDecoded: 0,
      audioPackets: 0,
      connection: pc?.connectionState ?? null,
      closed: window.offeringClosed === true,
    };
    if (!pc) return out;
    let video = false;
    for (const line of (pc.remoteDescription?.sdp ?? "").split("\r\n")) {
      const m = line.match(/^a=(sendonly|recvonly|sendrecv|inactive)$/);
      if (m) out.directions.push(m[1]);
      if (line.startsWith("m=")) video = line.startsWith("m=video");
      const codec = line.match(/^a=rtpmap:\d+ ([A-Za-z0-9]+)\//);
      if (video && codec && !out.videoCodec) out.videoCodec = codec[1];
    }
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") out.framesDecoded = s.framesDecoded || 0;
      if (s.type === "inbound-rtp" && s.kind === "audio") out.audioPackets = s.packetsReceived || 0;
    });
    return out;
  });
}

// Starts an offering consumer session for producer "cam". `audio`/`video`:
// offer to receive them; `videoCodecs`: keep only the video codecs whose
// "mimeType fmtp" matches this regexp source (setCodecPreferences).
async function offer(page, { audio, video, videoCodecs = null }) {
  await page.evaluate(
    ({ audio, video, videoCodecs }) => {
      const api = window.signalbin.api;
      const producer = api.getAvailableProducers().find((p) => p.meta?.name === "cam");
      window.offeringClosed = false;
      if (videoCodecs && !window.createOfferWrapped) {
        // gstwebrtc-api calls createOffer(options): the video transceiver
        // is made here first, so that its codecs can be restricted.
        window.createOfferWrapped = true;
        const original = RTCPeerConnection.prototype.createOffer;
        RTCPeerConnection.prototype.createOffer = function (options) {
          const only = window.offerVideoCodecs;
          if (only && options?.offerToReceiveVideo) {
            const transceiver = this.addTransceiver("video", { direction: "recvonly" });
            const pattern = new RegExp(only);
            transceiver.setCodecPreferences(
              RTCRtpReceiver.getCapabilities("video").codecs.filter((c) =>
                pattern.test(`${c.mimeType} ${c.sdpFmtpLine ?? ""}`),
              ),
            );
          }
          return original.call(this, options);
        };
      }
      window.offerVideoCodecs = videoCodecs;
      window.offering = api.createConsumerSessionWithOfferOptions(producer.id, {
        offerToReceiveAudio: audio,
        offerToReceiveVideo: video,
      });
      window.offering.addEventListener("closed", () => {
        window.offeringClosed = true;
      });
      window.offering.connect();
    },
    { audio, video, videoCodecs },
  );
}

describe("Chromium offers to signalsink", () => {
  let browser;
  let launcher;
  before(async () => {
    browser = await startBrowser();
    launcher = await startLauncher({ pipeline: sinkPipeline({ name: "cam" }) });
  });
  after(async () => {
    await browser?.close();
    await launcher?.stop();
  });

  // The page, once it lists producer cam.
  async function openWithCam() {
    const page = await openPage(browser, launcher.httpUrl);
    const explain = explainer({ page, browser, children: [launcher] });
    await waitUntil(
      () => page.evaluate(() => window.signalbin.api.getAvailableProducers().some((p) => p.meta?.name === "cam")),
      (found) => found,
      { what: "producer cam", explain },
    );
    return { page, explain };
  }

  async function watchOffer(t, { audio, video, videoCodecs, expect }) {
    const { page, explain } = await openWithCam();
    try {
      await offer(page, { audio, video, videoCodecs });
      const state = await waitUntil(
        () => offeringState(page),
        (s) => s.closed || ((!video || s.framesDecoded >= 30) && (!audio || s.audioPackets > 0)),
        { what: `${video ? "30 frames" : ""}${audio && video ? " and " : ""}${audio ? "audio" : ""} from an answered offer`, explain },
      );
      t.diagnostic(JSON.stringify(state));
      assert.equal(state.closed, false, "the session was ended");
      assert.deepEqual(state.directions, expect.directions, "the answer's directions");
      if (expect.videoCodec) assert.equal(state.videoCodec, expect.videoCodec, "the answer's video codec");
    } finally {
      await page.close().catch(() => {});
    }
  }

  test("recvonly audio and video with a data channel: answered sendonly, 30 frames and audio", { timeout: TEST_TIMEOUT_MS }, (t) =>
    watchOffer(t, { audio: true, video: true, expect: { directions: ["sendonly", "sendonly"], videoCodec: "H264" } }));

  test("video only", { timeout: TEST_TIMEOUT_MS }, (t) =>
    watchOffer(t, { audio: false, video: true, expect: { directions: ["sendonly"], videoCodec: "H264" } }));

  test("VP8 only", { timeout: TEST_TIMEOUT_MS }, (t) =>
    watchOffer(t, { audio: true, video: true, videoCodecs: "^video/(VP8|rtx)", expect: { directions: ["sendonly", "sendonly"], videoCodec: "VP8" } }));

  // Main profile only: what we send (constrained baseline) conforms to it.
  test("H.264 Main profile only", { timeout: TEST_TIMEOUT_MS }, (t) =>
    watchOffer(t, {
      audio: false,
      video: true,
      videoCodecs: "^video/rtx|^video/H264 .*packetization-mode=1;profile-level-id=4d001f",
      expect: { directions: ["sendonly"], videoCodec: "H264" },
    }));

  test("VP9 only: the session ends and the sink says why", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { page, explain } = await openWithCam();
    try {
      await offer(page, { audio: false, video: true, videoCodecs: "^video/(VP9|rtx)" });
      await waitUntil(() => offeringState(page), (s) => s.closed, { what: "the session to end", explain });
      await launcher.waitForLine(
        /warning: sink: Dropped consumer .*: nothing in its offer can be sent: m-line 0 \(video\) offers VP9; video_0 can be sent as H264 \(42e01f\), VP8/,
        "the sink's warning",
      );
    } finally {
      await page.close().catch(() => {});
    }
  });
});
