// Chromium publishes its (fake) camera and microphone through the page; a
// signalsrc pipeline in a separate gst-launch-1.0 process receives and
// decodes them, counting what its fakesinks take (startCountingReceiver).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  TEST_TIMEOUT_MS, explainer, openPage, pageState, startBrowser, startCountingReceiver, startLauncher, waitUntil,
} from "./harness.mjs";

let browser;
before(async () => {
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
});

test("signalsrc receives and decodes Chromium's camera and microphone", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  let launcher;
  let receiver;
  let page;
  try {
    // The launcher only serves the page and the signalling here: a pipeline
    // without signalbin elements, cheap and never ending.
    launcher = await startLauncher({
      pipeline: "videotestsrc is-live=true ! video/x-raw,width=16,height=16,framerate=1/1 ! fakesink",
    });
    page = await openPage(browser, launcher.httpUrl, explainer({ browser, children: [launcher] }));
    const explainPage = explainer({ page, browser, children: [launcher] });

    await page.fill("#publish-name", "chromecam");
    await page.click("#publish");
    await waitUntil(() => pageState(page), (s) => /Publishing as "chromecam"/.test(s.publishStatus), {
      what: "the page to publish",
      explain: explainPage,
    });

    receiver = startCountingReceiver({ wsUrl: launcher.wsUrl, producer: "chromecam" });
    const { counts, caps } = receiver;
    const explainAll = explainer({ page, browser, children: [launcher, receiver] });
    await receiver.waitForCounts((c) => c.video >= 30 && c.audio > 0, {
      what: "30 decoded video buffers and audio buffers in gst-launch's fakesinks",
      explain: explainAll,
    });
    assert.ok(counts.video >= 30, `video buffers: ${counts.video}`);
    assert.ok(counts.audio > 0, `audio buffers: ${counts.audio}`);
    // Decoded, as the capsfilters ask: raw video of the fake camera's size
    // and raw audio.
    assert.match(caps.video ?? "", /^video\/x-raw, .*width=\(int\)\d+, height=\(int\)\d+/, `video caps: ${caps.video}`);
    assert.match(caps.audio ?? "", /^audio\/x-raw, /, `audio caps: ${caps.audio}`);
    assert.equal((await pageState(page)).error, "", "the page shows no error");
    t.diagnostic(`video buffers ${counts.video} (${caps.video}), audio buffers ${counts.audio} (${caps.audio})`);
  } finally {
    await receiver?.stop();
    await page?.close().catch(() => {});
    await launcher?.stop();
  }
});
