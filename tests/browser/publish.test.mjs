// Chromium publishes its (fake) camera and microphone through the page; a
// signalsrc pipeline in a separate gst-launch-1.0 process receives and
// decodes them. gst-launch -v prints every buffer a `silent=false` fakesink
// takes ("last-message = chain ..."), which we count per sink.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  TEST_TIMEOUT_MS, WAIT_MS, explainer, openPage, pageState, startBrowser, startGstLaunch, startLauncher,
  waitUntil,
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

    receiver = startGstLaunch([
      "-v", "signalsrc", "name=src", `server-url=${launcher.wsUrl}`, "producer-name=chromecam",
      "ice-local-addresses=<127.0.0.1>",
      "!", "video/x-raw", "!", "fakesink", "name=v", "silent=false", "sync=false",
      "src.", "!", "audio/x-raw", "!", "fakesink", "name=a", "silent=false", "sync=false",
    ]);
    const counts = { video: 0, audio: 0 };
    const caps = { video: null, audio: null };
    receiver.listeners.add((line) => {
      if (line === null) return;
      let m = line.match(/\/GstFakeSink:([va]): last-message = chain/);
      if (m) counts[m[1] === "v" ? "video" : "audio"]++;
      m = line.match(/\/GstFakeSink:([va])\.GstPad:sink: caps = (.*)$/);
      if (m) caps[m[1] === "v" ? "video" : "audio"] = m[2];
    });
    const explainAll = explainer({ page, browser, children: [launcher, receiver] });
    await waitUntil(
      async () => {
        if (receiver.exited) throw new Error(`gst-launch-1.0 exited early (${JSON.stringify(receiver.exited)}):\n${receiver.output()}`);
        return { ...counts };
      },
      (c) => c.video >= 30 && c.audio > 0,
      { what: "30 decoded video buffers and audio buffers in gst-launch's fakesinks", explain: explainAll, timeout: WAIT_MS },
    );
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
