// Chromium watches a signalsink stream through the page, once per video
// codec: frames decoded, audio received, the codec the browser reports, and
// Chromium's transport-wide congestion control feedback reaching signalsink
// (a bandwidth estimate in the launcher's status line, on the top tier), and
// a stream Chromium decodes without asking for key frames over and over.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  TEST_TIMEOUT_MS, explainer, openPage, pageState, sinkPipeline, startBrowser, startLauncher,
  waitForFrames, waitUntil, watchProducer,
} from "./harness.mjs";

describe("Chromium watches signalsink through the page", () => {
  let browser;
  before(async () => {
    browser = await startBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  for (const { codec, mimeType } of [
    { codec: "h264", mimeType: "video/H264" },
    { codec: "vp8", mimeType: "video/VP8" },
  ]) {
    test(`${codec}: 30 frames decoded, audio received, codec ${mimeType}`, { timeout: TEST_TIMEOUT_MS }, async (t) => {
      let launcher;
      let page;
      try {
        launcher = await startLauncher({
          pipeline: sinkPipeline({ name: "cam", videoCodec: codec }),
          extraArgs: ["--status-interval", "1"],
        });
        const explain = explainer({ page: null, browser, children: [launcher] });
        page = await openPage(browser, launcher.httpUrl, explain);
        const explainPage = explainer({ page, browser, children: [launcher] });
        await watchProducer(page, "cam", explainPage);
        const stats = await waitForFrames(page, { frames: 30, audio: true, explain: explainPage });
        t.diagnostic(`received: ${JSON.stringify(stats)}`);
        assert.ok(stats.framesDecoded >= 30, `frames decoded: ${stats.framesDecoded}`);
        assert.ok(stats.audioPackets > 0, `audio packets: ${stats.audioPackets}`);
        // mimeType carries the SDP's encoding name as sent (GStreamer: "OPUS").
        assert.equal(stats.videoCodec?.toLowerCase(), mimeType.toLowerCase(), "the video codec Chromium decodes");
        assert.equal(stats.audioCodec?.toLowerCase(), "audio/opus", "the audio codec Chromium decodes");
        assert.equal(`${stats.frameWidth}x${stats.frameHeight}`, "640x360", "the decoded size");
        // The page itself: the <video> plays and no error is shown.
        const state = await waitUntil(() => pageState(page), (s) => s.video.width > 0 && s.video.time > 0, {
          what: "the <video> element to play",
          explain: explainPage,
        });
        assert.equal(state.error, "", "the page shows no error");
        assert.deepEqual(browser.pageErrors(), [], "no uncaught exception in the page");
        assert.match(state.watching, /^Watching cam/);
        await launcher.waitForLine(/sink: consumer \S+ joined/, "the consumer-added line");
        await launcher.waitForLine(/ est [\d.]+ [Mk]bit\/s tier 0/,
          "a status line with the estimate from Chromium's feedback, on the top tier");
        // Five seconds more without loss: Chromium asks for key frames while
        // it starts (more on a busy machine), then hardly ever; a stream it
        // cannot decode makes it ask every half second, as a marked SPS/PPS
        // packet before each forced key frame once did.
        const later = await waitForFrames(page, { frames: stats.framesDecoded + 150, audio: false, explain: explainPage });
        t.diagnostic(`5 s later: ${JSON.stringify(later)}`);
        const plis = later.pliCount - stats.pliCount;
        assert.ok(plis <= 2, `Chromium sent ${plis} PLIs in 5 s on a lossless link (${later.pliCount} in all)`);
        // SIGTERM stops the launcher cleanly while a consumer is connected.
        assert.deepEqual(await launcher.stop(), { code: 0, signal: null }, `launcher exit:\n${launcher.output()}`);
      } finally {
        await page?.close().catch(() => {});
        await launcher?.stop();
      }
    });
  }
});
