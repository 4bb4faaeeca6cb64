// Remote control from a page: when signalsink opens a control channel
// (enable-control-data-channel), our page, and gstwebrtc-api's own demo page
// (its dist/index.html, served unmodified, against a server on port 8443 as
// it expects), hand the video element to gstwebrtc-api's remote controller;
// the pointer moved over the video reaches navigationtest upstream of
// signalsink, which draws a box where the pointer is, in the picture
// Chromium then shows. Keys and custom upstream requests are answered
// without error.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import path from "node:path";
import {
  TEST_TIMEOUT_MS, explainer, openPage, sourceRoot, startBrowser, startGstLaunch, startLauncher, startServer,
  waitForFrames, waitUntil, watchProducer,
} from "./harness.mjs";

const PIPELINE =
  "videotestsrc is-live=true pattern=white ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! " +
  'navigationtest ! signalsink name=sink meta="meta,name=cam" enable-control-data-channel=true';

// Where the darker pixels of the shown picture are (navigationtest's grey
// box, luma 128, on a white picture), and where a pointer at `client` falls in video pixels
// (the element's content box, the picture letterboxed in it).
async function pointerAndBox(page, client, selector = "#video") {
  return page.evaluate(({ client, selector }) => {
    const video = document.querySelector(selector);
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!w || !h) return null;
    const style = getComputedStyle(video);
    const rect = video.getBoundingClientRect();
    const pad = (side) => parseFloat(style[`padding${side}`]) + parseFloat(style[`border${side}Width`]);
    const boxW = rect.width - pad("Left") - pad("Right");
    const boxH = rect.height - pad("Top") - pad("Bottom");
    const ratio = Math.min(boxW / w, boxH / h);
    const expected = {
      x: (client.x - rect.left - pad("Left") - (boxW - w * ratio) / 2) / ratio,
      y: (client.y - rect.top - pad("Top") - (boxH - h * ratio) / 2) / ratio,
    };
    const canvas = document.createElement("canvas");
    canvas.width = w;
    canvas.height = h;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(video, 0, 0, w, h);
    const pixels = context.getImageData(0, 0, w, h).data;
    let count = 0, sx = 0, sy = 0;
    for (let y = 0; y < h; ++y) {
      for (let x = 0; x < w; ++x) {
        const i = (y * w + x) * 4;
        if (pixels[i] + pixels[i + 1] + pixels[i + 2] < 3 * 190) {
          ++count;
          sx += x;
          sy += y;
        }
      }
    }
    return { expected, dark: count, box: count ? { x: sx / count, y: sy / count } : null };
  }, { client, selector });
}

// Moves the pointer over `selector` to two places in turn; navigationtest's
// box must follow it to each.
async function expectBoxFollowsPointer(t, page, selector, explain) {
  const video = page.locator(selector);
  for (const [fx, fy] of [[0.3, 0.35], [0.7, 0.65]]) {
    const seen = await waitUntil(
      async () => {
        // In view, where it is now (a page may still be laying it out).
        await video.scrollIntoViewIfNeeded();
        const rect = await video.boundingBox();
        const client = { x: rect.x + rect.width * fx, y: rect.y + rect.height * fy };
        await page.mouse.move(client.x, client.y);
        return pointerAndBox(page, client, selector);
      },
      (s) => s && s.box && Math.hypot(s.box.x - s.expected.x, s.box.y - s.expected.y) < 12,
      { what: `navigationtest's box at the pointer (${fx}, ${fy} of the video)`, explain },
    );
    t.diagnostic(`pointer at ${JSON.stringify(seen.expected)}, box at ${JSON.stringify(seen.box)} (${seen.dark} px)`);
  }
}

describe("remote control from the page", () => {
  let browser;
  let launcher;
  before(async () => {
    browser = await startBrowser();
    launcher = await startLauncher({ pipeline: PIPELINE });
  });
  after(async () => {
    await browser?.close();
    await launcher?.stop();
  });

  test("the pointer over the video is drawn by navigationtest upstream of signalsink", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const page = await openPage(browser, launcher.httpUrl);
    const explain = explainer({ page, browser, children: [launcher] });
    try {
      await watchProducer(page, "cam", explain);
      await waitForFrames(page, { frames: 30, audio: false, explain });
      await waitUntil(() => page.evaluate(() => !!window.signalbin.remoteController), (ok) => ok, {
        what: "gstwebrtc-api's remote controller (signalsink's control channel)",
        explain,
      });
      await expectBoxFollowsPointer(t, page, "#video", explain);
      // A key and a custom upstream event: answered, without an error.
      await page.locator("#video").focus();
      await page.keyboard.press("a");
      await page.evaluate(() =>
        window.signalbin.remoteController.sendControlRequest({
          type: "customUpstreamEvent",
          structureName: "robot-command",
          structure: { speed: 3 },
        }),
      );
      const responses = await waitUntil(
        () => page.evaluate(() => window.signalbin.controlResponses),
        (r) => r.length >= 4,
        { what: "responses to the control requests", explain },
      );
      t.diagnostic(`${responses.length} responses`);
      assert.deepEqual(responses.filter((r) => r.error), [], "requests refused");
      const controls = await page.evaluate(() => document.getElementById("video").controls);
      assert.equal(controls, false, "the video's own controls are off while remote-controlled");
    } finally {
      await page.close().catch(() => {});
    }
  });
});

// gstwebrtc-api's demo page, from its npm package, served by signalbin-server
// on port 8443, which the page signals to (ws://<its host>:8443); the
// producer a gst-launch-1.0 pipeline of its own.
describe("remote control from gstwebrtc-api's demo page", () => {
  const dist = path.join(sourceRoot, "web", "node_modules", "gstwebrtc-api", "dist");
  let browser;
  let server;
  let producer;
  before(async () => {
    assert.ok(existsSync(path.join(dist, "index.html")), `no demo page in ${dist} (npm ci in web/)`);
    // The port the demo page expects: a server already there makes this fail.
    server = await startServer({ port: 8443, webRoot: dist });
    producer = startGstLaunch(
      ("videotestsrc is-live=true pattern=white ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! " +
        "navigationtest ! signalsink server-url=ws://127.0.0.1:8443 ice-local-addresses=127.0.0.1 " +
        "meta=meta,name=cam enable-control-data-channel=true").split(" "),
    );
    browser = await startBrowser();
  });
  after(async () => {
    await browser?.close();
    await producer?.stop();
    await server?.stop();
  });

  test("its remote controller appears and drives navigationtest upstream of signalsink", { timeout: TEST_TIMEOUT_MS }, async (t) => {
    const page = await browser.newPage();
    const explain = explainer({ browser, children: [server, producer] });
    try {
      await page.goto("http://127.0.0.1:8443/index.html");
      const entry = page.locator("#remote-streams li").filter({ has: page.locator(".button", { hasText: /^\s*cam\s*$/ }) });
      await entry.locator(".button").click({ timeout: 60_000 });
      await waitUntil(
        () => entry.evaluate((li) => li.className),
        (c) => c.includes("has-remote-control") && c.includes("streaming"),
        { what: "the demo page streaming cam with its remote controller", explain },
      );
      const id = await entry.getAttribute("id");
      await expectBoxFollowsPointer(t, page, `li[id="${id}"] video`, explain);
    } finally {
      await page.close().catch(() => {});
    }
  });
});
