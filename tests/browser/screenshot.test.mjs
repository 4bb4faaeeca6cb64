// A screenshot of the page while it watches the launcher's main job (the
// 1280x720 test source "signalbin-test"), once frames are decoded and the
// stats line is filled: $SIGNALBIN_SCREENSHOT_DIR/watching.png, and with
// SIGNALBIN_UPDATE_DOCS=1 also docs/images/watching.png in the source tree.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import {
  TEST_TIMEOUT_MS, explainer, openPage, pageState, screenshotPath, sourceRoot, startBrowser, startLauncher,
  waitForFrames, waitUntil, watchProducer,
} from "./harness.mjs";

let browser;
before(async () => {
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
});

test("screenshot of the page while watching", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  let launcher;
  let page;
  try {
    launcher = await startLauncher(); // the main job
    page = await openPage(browser, launcher.httpUrl, explainer({ browser, children: [launcher] }));
    const explainPage = explainer({ page, browser, children: [launcher] });
    await watchProducer(page, "signalbin-test", explainPage);
    const stats = await waitForFrames(page, { frames: 30, audio: true, explain: explainPage });
    assert.equal(`${stats.frameWidth}x${stats.frameHeight}`, "1280x720", "the main job's size");
    // The page's own stats line (once a second): size, frame rate, bitrate.
    const state = await waitUntil(
      () => pageState(page),
      (s) => /1280×720 · \d+ fps · [\d.]+ (k|M)bit\/s/.test(s.stats) && !/ 0 kbit\/s/.test(s.stats) && s.video.time > 1,
      { what: "the stats line and a playing <video>", explain: explainPage },
    );
    assert.equal(state.error, "", "the page shows no error");
    assert.match(state.watching, /^Watching signalbin-test/);
    const file = screenshotPath("watching.png");
    await page.screenshot({ path: file });
    assert.ok(statSync(file).size > 10_000, "a real screenshot");
    t.diagnostic(`stats line "${state.stats}", screenshot ${file}`);
    if (process.env.SIGNALBIN_UPDATE_DOCS === "1") {
      const docs = path.join(sourceRoot, "docs", "images");
      mkdirSync(docs, { recursive: true });
      copyFileSync(file, path.join(docs, "watching.png"));
      t.diagnostic(`copied to ${path.join(docs, "watching.png")}`);
    }
  } finally {
    await page?.close().catch(() => {});
    await launcher?.stop();
  }
});
