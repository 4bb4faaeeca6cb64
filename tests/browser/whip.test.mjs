// A WHIP publisher that is nothing but a browser: getUserMedia, a plain
// RTCPeerConnection and fetch POST its offer to signalbin's /whip/phone.
// The server holds it until a consumer comes; a signalsrc pipeline in a
// separate gst-launch-1.0 process (producer-name=phone) then receives and
// decodes the camera and microphone, and the POST gets that consumer's
// answer. DELETE ends it: the producer is gone.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  TEST_TIMEOUT_MS, explainer, openPage, startBrowser, startCountingReceiver, startLauncher, waitUntil,
} from "./harness.mjs";

let browser;
before(async () => {
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
});

test("Chromium publishes by WHIP; signalsrc decodes it", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  let launcher;
  let receiver;
  let page;
  try {
    // The launcher serves the page and the server only; --verbose prints
    // the server's lines.
    launcher = await startLauncher({
      pipeline: "videotestsrc is-live=true ! video/x-raw,width=16,height=16,framerate=1/1 ! fakesink",
      extraArgs: ["--verbose"],
    });
    page = await openPage(browser, launcher.httpUrl, explainer({ browser, children: [launcher] }));
    await page.evaluate(async () => {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360 }, audio: true });
      const pc = new RTCPeerConnection();
      window.whipPc = pc;
      for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
      await pc.setLocalDescription(await pc.createOffer());
      await new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") return resolve();
        pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && resolve());
      });
      // Answered once a consumer has answered: not awaited here.
      window.whip = fetch("/whip/phone", {
        method: "POST",
        headers: { "Content-Type": "application/sdp" },
        body: pc.localDescription.sdp,
      }).then(async (response) => {
        const out = { status: response.status, location: response.headers.get("Location"), body: await response.text() };
        if (response.status === 201) await pc.setRemoteDescription({ type: "answer", sdp: out.body });
        window.whipDone = out;
      });
    });
    await launcher.waitForLine(/WHIP publisher \S+ publishes as "phone"/, "the server holding the publisher's offer");

    receiver = startCountingReceiver({ wsUrl: launcher.wsUrl, producer: "phone" });
    const { counts } = receiver;
    const explainAll = explainer({ page, browser, children: [launcher, receiver] });
    await receiver.waitForCounts((c) => c.video >= 30 && c.audio > 0, {
      what: "30 decoded video buffers and audio from the WHIP publisher",
      explain: explainAll,
    });
    const done = await waitUntil(() => page.evaluate(() => window.whipDone ?? null), (d) => d !== null, {
      what: "the WHIP POST to be answered",
      explain: explainAll,
    });
    assert.equal(done.status, 201, `POST answered ${done.status}: ${done.body}`);
    assert.match(done.location ?? "", /^\/whip\/session\/[0-9a-f-]+$/);
    assert.match(done.body, /^a=candidate:/m, "signalsrc's candidates in the answer");
    t.diagnostic(`video buffers ${counts.video}, audio buffers ${counts.audio}`);

    const deleted = await page.evaluate(async (location) => (await fetch(location, { method: "DELETE" })).status,
      done.location);
    assert.equal(deleted, 200, "DELETE");
    await launcher.waitForLine(/WHIP session \S+ deleted by the client/, "the server ending the WHIP session");
  } finally {
    await receiver?.stop();
    await page?.close().catch(() => {});
    await launcher?.stop();
  }
});

test("signalbin-launch --whip publishes its main job to another server's /whip; signalsrc there decodes it", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  let hub;
  let publisher;
  let receiver;
  try {
    hub = await startLauncher({
      pipeline: "videotestsrc is-live=true ! video/x-raw,width=16,height=16,framerate=1/1 ! fakesink",
      extraArgs: ["--verbose"],
    });
    publisher = await startLauncher({ extraArgs: ["--whip", `${hub.httpUrl}whip/launched`] });
    await publisher.waitForLine(/Publishing by WHIP to http:\/\/127\.0\.0\.1:\d+\/whip\/launched/, "the --whip line");
    await hub.waitForLine(/WHIP publisher \S+ publishes as "launched"/, "the hub holding the launcher's offer");
    receiver = startCountingReceiver({ wsUrl: hub.wsUrl, producer: "launched", audio: false });
    await receiver.waitForCounts((c) => c.video >= 30, {
      what: "30 frames of the launcher's test source by WHIP",
      explain: explainer({ browser, children: [hub, publisher, receiver] }),
    });
    t.diagnostic(`frames ${receiver.counts.video}`);
    assert.deepEqual(await publisher.stop(), { code: 0, signal: null }, `launcher exit:\n${publisher.output()}`);
    await hub.waitForLine(/WHIP session \S+ deleted by the client/, "the launcher DELETEing its WHIP session on exit");
  } finally {
    await receiver?.stop();
    await publisher?.stop();
    await hub?.stop();
  }
});
