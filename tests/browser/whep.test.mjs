// A WHEP player that is nothing but a browser: a plain RTCPeerConnection and
// fetch (no gstwebrtc-api, no WebSocket) POSTs its offer to signalbin's
// /whep/<producer> and plays what signalsink answers; DELETE on the
// Location ends the session (the producer's consumer leaves); what WHEP
// clients get wrong is refused with a status and a reason.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { TEST_TIMEOUT_MS, explainer, openPage, sinkPipeline, startBrowser, startLauncher, waitUntil } from "./harness.mjs";

// Offers recvonly audio and video, waits for its own candidates (a WHEP
// client that does not trickle), POSTs, applies the answer.
async function play(page, path) {
  return page.evaluate(async (path) => {
    const pc = new RTCPeerConnection();
    window.whepPc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {
      if (pc.iceGatheringState === "complete") return resolve();
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
    });
    const response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/sdp" },
      body: pc.localDescription.sdp,
    });
    const out = {
      status: response.status,
      location: response.headers.get("Location"),
      type: response.headers.get("Content-Type"),
      body: await response.text(),
    };
    if (response.status === 201) await pc.setRemoteDescription({ type: "answer", sdp: out.body });
    return out;
  }, path);
}

async function received(page) {
  return page.evaluate(async () => {
    const out = { framesDecoded: 0, audioPackets: 0, connection: window.whepPc?.connectionState };
    (await window.whepPc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") out.framesDecoded = s.framesDecoded || 0;
      if (s.type === "inbound-rtp" && s.kind === "audio") out.audioPackets = s.packetsReceived || 0;
    });
    return out;
  });
}

async function request(page, path, { method = "POST", type = "application/sdp", body = "" } = {}) {
  return page.evaluate(
    async ({ path, method, type, body }) => {
      const response = await fetch(path, { method, headers: type ? { "Content-Type": type } : {}, body: body || undefined });
      return { status: response.status, body: await response.text() };
    },
    { path, method, type, body },
  );
}

describe("a plain RTCPeerConnection plays signalsink by WHEP", () => {
  let browser;
  let launcher;
  let page;
  before(async () => {
    browser = await startBrowser();
    launcher = await startLauncher({ pipeline: sinkPipeline({ name: "cam" }) });
    page = await openPage(browser, launcher.httpUrl, explainer({ page: null, browser, children: [launcher] }));
  });
  after(async () => {
    await page?.close().catch(() => {});
    await launcher?.stop();
    await browser?.close();
  });

  test("POST /whep/cam: 201, an answer with candidates, frames and audio; DELETE ends it", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const explain = explainer({ page, browser, children: [launcher] });
    const answer = await play(page, "/whep/cam");
    assert.equal(answer.status, 201, `POST answered ${answer.status}: ${answer.body}\n${launcher.output()}`);
    assert.match(answer.location ?? "", /^\/whep\/session\/[0-9a-f-]+$/, "a Location for the session");
    assert.equal(answer.type, "application/sdp");
    assert.match(answer.body, /^a=candidate:/m, "the answer carries signalsink's candidates (no trickle to a player)");
    assert.match(answer.body, /^a=end-of-candidates/m, "and says they are all there");
    const stats = await waitUntil(() => received(page), (s) => s.framesDecoded >= 30 && s.audioPackets > 0, {
      what: "30 frames and audio by WHEP",
      explain,
    });
    t.diagnostic(`received: ${JSON.stringify(stats)}`);
    await launcher.waitForLine(/sink: consumer whep-\S+ joined/, "signalsink's consumer-added for the player");

    const deleted = await request(page, answer.location, { method: "DELETE", type: null });
    assert.equal(deleted.status, 200, `DELETE answered ${deleted.status}: ${deleted.body}`);
    await launcher.waitForLine(/sink: consumer whep-\S+ left/, "the consumer gone after DELETE");
    const again = await request(page, answer.location, { method: "DELETE", type: null });
    assert.equal(again.status, 404, "a deleted session is gone");
  });

  test("refusals: 404, 415, 400, 405", { timeout: TEST_TIMEOUT_MS }, async () => {
    const offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n";
    const unknown = await request(page, "/whep/nobody", { body: offer });
    assert.equal(unknown.status, 404);
    assert.match(unknown.body, /no producer named "nobody"/);
    const wrongType = await request(page, "/whep/cam", { type: "application/json", body: "{}" });
    assert.equal(wrongType.status, 415);
    assert.match(wrongType.body, /application\/sdp/);
    const notSdp = await request(page, "/whep/cam", { body: "hello" });
    assert.equal(notSdp.status, 400);
    const get = await request(page, "/whep/cam", { method: "GET", type: null });
    assert.equal(get.status, 405);
    const noSession = await request(page, "/whep/session/0000", { method: "PATCH", type: "application/trickle-ice-sdpfrag", body: "a=ice-ufrag:x\r\n" });
    assert.equal(noSession.status, 404);
  });
});
