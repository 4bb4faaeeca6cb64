// The page and the signalling over https and wss, with a self-signed
// certificate made for the test: Chromium (told to ignore the certificate
// error) watches a signalsink.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import {
  TEST_TIMEOUT_MS, explainer, makeCertificate, openPage, sinkPipeline, startBrowser, startLauncher, waitForFrames,
  watchProducer,
} from "./harness.mjs";

let browser;
let certificate;
before(async () => {
  certificate = makeCertificate();
  browser = await startBrowser({ ignoreHTTPSErrors: true });
});
after(async () => {
  await browser?.close();
  if (certificate) rmSync(certificate.dir, { recursive: true, force: true });
});

test("watch over https and wss", { timeout: TEST_TIMEOUT_MS }, async (t) => {
  let launcher;
  let page;
  try {
    launcher = await startLauncher({ pipeline: sinkPipeline({ name: "cam" }), cert: certificate.cert, key: certificate.key });
    assert.match(launcher.wsUrl, /^wss:\/\//, "the launcher serves wss");
    assert.match(launcher.httpUrl, /^https:\/\//);
    page = await openPage(browser, launcher.httpUrl, explainer({ browser, children: [launcher] }));
    assert.equal(await page.evaluate(() => location.protocol), "https:");
    assert.equal(await page.evaluate(() => window.isSecureContext), true);
    const explainPage = explainer({ page, browser, children: [launcher] });
    await watchProducer(page, "cam", explainPage);
    const stats = await waitForFrames(page, { frames: 30, audio: true, explain: explainPage });
    t.diagnostic(`received: ${JSON.stringify(stats)}`);
    assert.ok(stats.framesDecoded >= 30, `frames decoded: ${stats.framesDecoded}`);
    assert.ok(stats.audioPackets > 0, `audio packets: ${stats.audioPackets}`);
  } finally {
    await page?.close().catch(() => {});
    await launcher?.stop();
  }
});
