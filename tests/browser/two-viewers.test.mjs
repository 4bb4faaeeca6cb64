// Two tabs watch one signalsink at once: each gets its own session (its own
// webrtcbin in the sink) and both decode.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import {
  TEST_TIMEOUT_MS, explainer, openPage, sinkPipeline, startBrowser, startLauncher, waitForFrames, watchProducer,
} from "./harness.mjs";

let browser;
before(async () => {
  browser = await startBrowser();
});
after(async () => {
  await browser?.close();
});

test("two tabs watch one signalsink at once", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  let launcher;
  const pages = [];
  try {
    launcher = await startLauncher({ pipeline: sinkPipeline({ name: "cam" }) });
    for (let i = 0; i < 2; i++) pages.push(await openPage(browser, launcher.httpUrl, explainer({ browser, children: [launcher] })));
    // Both sessions start before either has decoded anything.
    for (const page of pages) await watchProducer(page, "cam", explainer({ page, browser, children: [launcher] }));
    const stats = await Promise.all(
      pages.map((page) =>
        waitForFrames(page, { frames: 30, audio: true, explain: explainer({ page, browser, children: [launcher] }) }),
      ),
    );
    t.diagnostic(`received: ${JSON.stringify(stats)}`);
    for (const [i, s] of stats.entries()) {
      assert.ok(s.framesDecoded >= 30, `tab ${i + 1} frames decoded: ${s.framesDecoded}`);
      assert.ok(s.audioPackets > 0, `tab ${i + 1} audio packets: ${s.audioPackets}`);
    }
    // Two consumers of the one sink, with different peer ids.
    const joined = launcher.lines.map((l) => l.match(/^sink: consumer (\S+) joined$/)).filter(Boolean).map((m) => m[1]);
    assert.equal(new Set(joined).size, 2, `consumers joined:\n${launcher.output()}`);
    // Still both alive at the end: the first tab keeps decoding.
    const first = stats[0].framesDecoded;
    await waitForFrames(pages[0], { frames: first + 30, audio: true, explain: explainer({ page: pages[0], browser, children: [launcher] }) });
  } finally {
    for (const page of pages) await page.close().catch(() => {});
    await launcher?.stop();
  }
});
