// Chromium offers, signalsink answers: gstwebrtc-api's consumer session with
// offer options (recvonly audio and video, and a data channel, as WHEP
// players and its own demo offer) against signalsink, which must answer
// with both m-lines sendonly and send what was asked for.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_TIMEOUT_MS, explainer, openPage, sinkPipeline, startBrowser, startLauncher, waitUntil } from "./harness.mjs";

// The offering session's state: the answer's directions and what arrived.
async function offeringState(page) {
  return page.evaluate(async () => {
    const session = window.offering;
    const pc = session?.rtcPeerConnection;
    const out = { directions: [], framesDecoded: 0, audioPackets: 0, connection: pc?.connectionState ?? null };
    if (!pc) return out;
    for (const line of (pc.remoteDescription?.sdp ?? "").split("\r\n")) {
      const m = line.match(/^a=(sendonly|recvonly|sendrecv|inactive)$/);
      if (m) out.directions.push(m[1]);
    }
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") out.framesDecoded = s.framesDecoded || 0;
      if (s.type === "inbound-rtp" && s.kind === "audio") out.audioPackets = s.packetsReceived || 0;
    });
    return out;
  });
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

  test("recvonly audio and video with a data channel: answered sendonly, 30 frames and audio", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const page = await openPage(browser, launcher.httpUrl);
    const explain = explainer({ page, browser, children: [launcher] });
    try {
      await waitUntil(
        () => page.evaluate(() => window.signalbin.api.getAvailableProducers().some((p) => p.meta?.name === "cam")),
        (found) => found,
        { what: "producer cam", explain },
      );
      await page.evaluate(() => {
        const api = window.signalbin.api;
        const producer = api.getAvailableProducers().find((p) => p.meta?.name === "cam");
        window.offering = api.createConsumerSessionWithOfferOptions(producer.id, {
          offerToReceiveAudio: true,
          offerToReceiveVideo: true,
        });
        window.offering.connect();
      });
      const state = await waitUntil(() => offeringState(page), (s) => s.framesDecoded >= 30 && s.audioPackets > 0, {
        what: "30 frames and audio from an answered offer",
        explain,
      });
      t.diagnostic(JSON.stringify(state));
      assert.deepEqual(state.directions, ["sendonly", "sendonly"], "the answer's audio and video directions");
    } finally {
      await page.close().catch(() => {});
    }
  });
});
