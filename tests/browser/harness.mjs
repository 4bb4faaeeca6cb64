// Shared helpers for the browser tests: the real signalbin-launch on
// loopback, Debian's Chromium driven by playwright-core, and waits that poll
// the page's own state with generous timeouts (never fixed sleeps).
//
// Paths come from the environment (tests/meson.build sets them); run by hand
// from the source tree they default to the build in ./build:
//   node --test tests/browser/watch.test.mjs
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const sourceRoot = process.env.SIGNALBIN_SOURCE_ROOT || path.resolve(here, "..", "..");
const buildRoot = path.join(sourceRoot, "build");
export const paths = {
  launch: process.env.SIGNALBIN_LAUNCH || path.join(buildRoot, "launcher", "signalbin-launch"),
  server: process.env.SIGNALBIN_SERVER || path.join(buildRoot, "signaling-server", "signalbin-server"),
  pluginDir: process.env.GST_PLUGIN_PATH || path.join(buildRoot, "gst-plugin"),
  webRoot: process.env.SIGNALBIN_WEB_ROOT || path.join(buildRoot, "web"),
  screenshots: process.env.SIGNALBIN_SCREENSHOT_DIR || path.join(buildRoot, "screenshots"),
  chromium: process.env.SIGNALBIN_CHROMIUM || "/usr/bin/chromium",
};

// playwright-core is a devDependency of web/ (npm ci there), not of the tests.
const { chromium } = await import(
  pathToFileURL(path.join(sourceRoot, "web", "node_modules", "playwright-core", "index.mjs")).href
);

export const WAIT_MS = 60_000; // every wait for an event
export const TEST_TIMEOUT_MS = 240_000; // one test, start to finish

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--use-fake-device-for-media-stream",
  "--use-fake-ui-for-media-stream",
  "--allow-loopback-in-peer-connection",
];

// ---------------------------------------------------------------- processes

// Every child we start, so that none outlives the test process: they stay in
// our process group (meson's timeout kills the group) and are killed on exit.
const children = new Set();
process.on("exit", () => {
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {}
  }
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch {}
    }
    process.exit(128 + (signal === "SIGINT" ? 2 : 15));
  });
}

// A child process whose output is kept (the tail of it, for failure messages)
// and offered line by line to listeners.
export class Child {
  constructor(name, command, args, env) {
    this.name = name;
    this.lines = [];
    this.exited = null; // {code, signal} once it has exited
    this.listeners = new Set();
    this.proc = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
    children.add(this.proc);
    this.exitPromise = new Promise((resolve) => {
      this.proc.on("exit", (code, signal) => {
        this.exited = { code, signal };
        children.delete(this.proc);
        resolve(this.exited);
        for (const l of this.listeners) l(null);
      });
      this.proc.on("error", (error) => {
        this.lines.push(`[spawn error] ${error.message}`);
        this.exited = { code: -1, signal: null };
        children.delete(this.proc);
        resolve(this.exited);
        for (const l of this.listeners) l(null);
      });
    });
    for (const [stream, tag] of [
      [this.proc.stdout, ""],
      [this.proc.stderr, "[stderr] "],
    ]) {
      let partial = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk) => {
        const parts = (partial + chunk).split("\n");
        partial = parts.pop();
        for (const line of parts) this.onLine(tag + line);
      });
    }
  }

  onLine(line) {
    for (const l of this.listeners) l(line);
    // gst-launch -v prints a stats structure every few seconds: keep it short.
    this.lines.push(line.length > 400 ? line.slice(0, 400) + "…" : line);
    if (this.lines.length > 300) this.lines.splice(0, this.lines.length - 300);
  }

  output(last = 60) {
    return this.lines.slice(-last).join("\n");
  }

  // Resolves with the first match of `regexp` in a line printed so far or
  // later; rejects if the process exits first or nothing matches within
  // `timeout`.
  waitForLine(regexp, what, timeout = WAIT_MS) {
    for (const line of this.lines) {
      const m = line.match(regexp);
      if (m) return Promise.resolve(m);
    }
    return new Promise((resolve, reject) => {
      const done = (fn, value) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        fn(value);
      };
      const listener = (line) => {
        if (line === null)
          return done(reject, new Error(`${this.name} exited (${JSON.stringify(this.exited)}) before ${what}:\n${this.output()}`));
        const m = line.match(regexp);
        if (m) done(resolve, m);
      };
      const timer = setTimeout(
        () => done(reject, new Error(`nothing like ${regexp} (${what}) from ${this.name} within ${timeout / 1000} s:\n${this.output()}`)),
        timeout,
      );
      this.listeners.add(listener);
      if (this.exited) listener(null);
    });
  }

  // SIGTERM, then SIGKILL if it does not go within `grace` ms. Returns how
  // it exited.
  async stop(grace = 15_000) {
    if (!this.exited) {
      this.proc.kill("SIGTERM");
      let timer;
      const late = new Promise((resolve) => {
        timer = setTimeout(resolve, grace, "late");
      });
      if ((await Promise.race([this.exitPromise, late])) === "late") {
        this.lines.push(`[harness] ${this.name} ignored SIGTERM for ${grace / 1000} s: SIGKILL`);
        this.proc.kill("SIGKILL");
      }
      clearTimeout(timer);
    }
    return this.exitPromise;
  }
}

// A signalsink pipeline (gst-launch syntax) for signalbin-launch: 640x360
// test video and a test tone, published as `name`.
export function sinkPipeline({ name = "cam", videoCodec } = {}) {
  const codecs = videoCodec ? ` video-codecs="<${videoCodec}>"` : "";
  return (
    "videotestsrc is-live=true ! video/x-raw,width=640,height=360,framerate=30/1 ! " +
    `signalsink name=sink meta="meta,name=${name}"${codecs} ` +
    "audiotestsrc is-live=true wave=sine freq=440 volume=0.05 ! sink."
  );
}

// Starts signalbin-launch on `port` of 127.0.0.1 (0: a free one) with `pipeline` (none:
// its main job, the 1280x720 test source "signalbin-test"). Returns the
// Child with `port`, `httpUrl` and `wsUrl`.
export async function startLauncher({ pipeline, cert, key, port = 0, extraArgs = [] } = {}) {
  const args = ["--port", String(port), "--ice-local-address", "127.0.0.1", "--status-interval", "0", ...extraArgs];
  if (cert) args.push("--cert", cert, "--key", key);
  if (pipeline) args.push(pipeline);
  const launcher = new Child("signalbin-launch", paths.launch, args, {
    GST_PLUGIN_PATH: paths.pluginDir,
    SIGNALBIN_WEB_ROOT: paths.webRoot,
  });
  try {
    const m = await launcher.waitForLine(/signalbin-launch: server on (wss?):\/\/127\.0\.0\.1:(\d+)\//, "server line");
    launcher.port = Number(m[2]);
    launcher.wsUrl = `${m[1]}://127.0.0.1:${launcher.port}`;
    launcher.httpUrl = `${m[1] === "wss" ? "https" : "http"}://127.0.0.1:${launcher.port}/`;
  } catch (error) {
    await launcher.stop();
    throw error;
  }
  return launcher;
}

// The standalone signalbin-server on `port` of 127.0.0.1 (0: a free one),
// serving `webRoot` if given. Returns the Child with `port`.
export async function startServer({ port = 0, webRoot } = {}) {
  const args = ["--port", String(port)];
  if (webRoot) args.push("--web-root", webRoot);
  const server = new Child("signalbin-server", paths.server, args, {});
  try {
    const m = await server.waitForLine(/signalbin-server listening on wss?:\/\/127\.0\.0\.1:(\d+)\//, "listening line");
    server.port = Number(m[1]);
  } catch (error) {
    await server.stop();
    throw error;
  }
  return server;
}

// gst-launch-1.0 with our plugin (and the system's), as a separate process.
// In a sanitizer build (tests/meson.build), the plugin needs the sanitizer
// runtimes loaded first, and gst-launch-1.0 is not built with them.
export function startGstLaunch(args) {
  const env = { GST_PLUGIN_PATH: paths.pluginDir };
  if (process.env.SIGNALBIN_SANITIZER_PRELOAD) env.LD_PRELOAD = process.env.SIGNALBIN_SANITIZER_PRELOAD;
  return new Child("gst-launch-1.0", "gst-launch-1.0", args, env);
}

// A gst-launch-1.0 signalsrc (a separate process) watching `producer` through
// the server at `wsUrl`, decoding to fakesinks "v" (and, with `audio`, "a");
// gst-launch -v prints every buffer a silent=false fakesink takes ("last-message
// = chain ...") and the caps it got, which the Child counts in `counts` and
// keeps in `caps`. `waitForCounts(ok, {what, explain})` waits until
// ok(counts), failing at once if gst-launch-1.0 exits.
export function startCountingReceiver({ wsUrl, producer, audio = true }) {
  const args = [
    "-v", "signalsrc", "name=src", `server-url=${wsUrl}`, `producer-name=${producer}`,
    "ice-local-addresses=<127.0.0.1>",
    "!", "video/x-raw", "!", "fakesink", "name=v", "silent=false", "sync=false",
  ];
  if (audio) args.push("src.", "!", "audio/x-raw", "!", "fakesink", "name=a", "silent=false", "sync=false");
  const receiver = startGstLaunch(args);
  receiver.counts = { video: 0, audio: 0 };
  receiver.caps = { video: null, audio: null };
  receiver.listeners.add((line) => {
    if (line === null) return;
    let m = line.match(/\/GstFakeSink:([va]): last-message = chain/);
    if (m) receiver.counts[m[1] === "v" ? "video" : "audio"]++;
    m = line.match(/\/GstFakeSink:([va])\.GstPad:sink: caps = (.*)$/);
    if (m) receiver.caps[m[1] === "v" ? "video" : "audio"] = m[2];
  });
  receiver.waitForCounts = (ok, { what, explain }) =>
    waitUntil(
      async () => {
        if (receiver.exited) {
          throw new Error(`gst-launch-1.0 exited early (${JSON.stringify(receiver.exited)}):\n${receiver.output()}`);
        }
        return { ...receiver.counts };
      },
      ok,
      { what, explain, timeout: WAIT_MS },
    );
  return receiver;
}

// A self-signed certificate for 127.0.0.1 and localhost in a new temporary
// folder: {dir, cert, key}.
export function makeCertificate() {
  const dir = mkdtempSync(path.join(tmpdir(), "signalbin-cert-"));
  const cert = path.join(dir, "cert.pem");
  const key = path.join(dir, "key.pem");
  const r = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
     "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key, "-out", cert],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`openssl failed (${r.status}): ${r.stderr || r.error}`);
  return { dir, cert, key };
}

// ------------------------------------------------------------------ browser

// Debian's Chromium with a fresh profile, fake camera and microphone
// (granted). Returns {context, newPage(), close(), consoleLines(), pageErrors()}.
export async function startBrowser({ ignoreHTTPSErrors = false } = {}) {
  const profile = mkdtempSync(path.join(tmpdir(), "signalbin-chromium-"));
  const args = [...CHROMIUM_ARGS];
  if (ignoreHTTPSErrors) args.push("--ignore-certificate-errors");
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: paths.chromium,
      headless: true,
      args,
      permissions: ["camera", "microphone"],
      ignoreHTTPSErrors,
      viewport: { width: 1280, height: 800 },
      timeout: WAIT_MS,
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  // SIGNALBIN_BROWSER_LOG=1 prints the pages' console as it comes.
  const consoleLines = [];
  consoleLines.push = function (...lines) {
    if (process.env.SIGNALBIN_BROWSER_LOG === "1") for (const l of lines) process.stderr.write(`${l}\n`);
    return Array.prototype.push.apply(this, lines);
  };
  const pageErrors = []; // uncaught exceptions in the pages
  const watchPage = (page, tag) => {
    page.on("console", (m) => consoleLines.push(`[${tag} console.${m.type()}] ${m.text()}`));
    page.on("pageerror", (e) => {
      pageErrors.push(`[${tag}] ${e.message}`);
      consoleLines.push(`[${tag} pageerror] ${e.message}`);
    });
    page.on("requestfailed", (r) => consoleLines.push(`[${tag} requestfailed] ${r.url()} ${r.failure()?.errorText}`));
    page.on("response", (r) => {
      if (r.status() >= 400) consoleLines.push(`[${tag} http ${r.status()}] ${r.url()}`);
    });
  };
  let pages = 0;
  return {
    context,
    consoleLines: (last = 60) => consoleLines.slice(-last).join("\n"),
    pageErrors: () => [...pageErrors],
    async newPage() {
      const existing = context.pages().find((p) => p.url() === "about:blank" && !p.__signalbin);
      const page = existing || (await context.newPage());
      page.__signalbin = true;
      watchPage(page, `page${++pages}`);
      return page;
    },
    async close() {
      try {
        await context.close();
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}

// ---------------------------------------------------------------- the page

// What the page shows and knows, for waits and failure messages.
export async function pageState(page) {
  return page.evaluate(() => {
    const text = (id) => document.getElementById(id)?.textContent ?? null;
    const video = document.getElementById("video");
    return {
      connection: text("connection"),
      watching: text("watching"),
      stats: text("stats"),
      error: document.getElementById("error")?.hidden ? "" : text("error"),
      publishStatus: text("publish-status"),
      producers: [...document.querySelectorAll("#producers button[data-producer-id]")].map(
        (b) => `${b.querySelector(".name")?.textContent} (${b.dataset.producerId})`,
      ),
      lastStats: window.signalbin?.lastStats ?? null,
      video: video ? { width: video.videoWidth, height: video.videoHeight, time: video.currentTime, paused: video.paused } : null,
    };
  });
}

// Receiving statistics of the page's current session, straight from
// RTCPeerConnection.getStats(): frames decoded, packets and codecs.
export async function receiveStats(page) {
  return page.evaluate(async () => {
    const pc = window.signalbin?.session?.rtcPeerConnection;
    const out = {
      connected: false, framesDecoded: 0, frameWidth: 0, frameHeight: 0, pliCount: 0, framesDropped: 0, audioPackets: 0,
      videoCodec: null, audioCodec: null,
    };
    if (!pc) return out;
    out.connected = pc.connectionState === "connected";
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      const codec = s.codecId ? report.get(s.codecId) : null;
      if (s.kind === "video") {
        out.framesDecoded = s.framesDecoded || 0;
        out.frameWidth = s.frameWidth || 0;
        out.frameHeight = s.frameHeight || 0;
        out.pliCount = s.pliCount || 0; // key frames Chromium asked for
        out.framesDropped = s.framesDropped || 0;
        out.videoCodec = codec ? codec.mimeType : null;
      } else if (s.kind === "audio") {
        out.audioPackets = s.packetsReceived || 0;
        out.audioCodec = codec ? codec.mimeType : null;
      }
    });
    return out;
  });
}

// Polls `probe` (async, returns a value) until `ok(value)` holds. On timeout
// the error carries the last value and whatever `explain()` adds.
export async function waitUntil(probe, ok, { what, timeout = WAIT_MS, interval = 250, explain } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    last = await probe();
    if (ok(last)) return last;
    if (Date.now() > deadline) {
      const extra = explain ? await explain().catch((e) => `(explain failed: ${e.message})`) : "";
      throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}; last value: ${JSON.stringify(last)}\n${extra}`);
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

// Everything useful when a wait fails.
export function explainer({ page, browser, children = [] }) {
  return async () => {
    const parts = [];
    if (page) parts.push(`page state: ${JSON.stringify(await pageState(page).catch((e) => e.message))}`);
    if (browser) parts.push(`browser console:\n${browser.consoleLines()}`);
    for (const c of children) if (c) parts.push(`${c.name} output:\n${c.output()}`);
    return parts.join("\n");
  };
}

// Opens the page at `url` and waits until it is connected to the server.
export async function openPage(browser, url, explain) {
  const page = await browser.newPage();
  await page.goto(url, { timeout: WAIT_MS });
  await waitUntil(() => pageState(page), (s) => s.connection === "connected", {
    what: "the page to connect to the signalling server",
    explain: explain || explainer({ page, browser }),
  });
  return page;
}

// Clicks the stream whose name is exactly `name` in the page's list.
export async function watchProducer(page, name, explain) {
  await waitUntil(() => pageState(page), (s) => s.producers.some((p) => p.startsWith(`${name} (`)), {
    what: `producer "${name}" in the page's list`,
    explain,
  });
  const button = page
    .locator("#producers button[data-producer-id]")
    .filter({ has: page.locator(".name", { hasText: new RegExp(`^${name}$`) }) });
  await button.click({ timeout: WAIT_MS });
}

// Waits until the page's session has decoded `frames` video frames (and, if
// asked, received audio). Returns the last receiveStats().
export async function waitForFrames(page, { frames = 30, audio = true, explain } = {}) {
  return waitUntil(
    () => receiveStats(page),
    (s) => s.framesDecoded >= frames && (!audio || s.audioPackets > 0),
    { what: `${frames} decoded video frames${audio ? " and audio packets" : ""}`, explain },
  );
}

export function screenshotPath(name) {
  mkdirSync(paths.screenshots, { recursive: true });
  return path.join(paths.screenshots, name);
}
