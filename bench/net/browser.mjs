#!/usr/bin/env node
// Chromium as a peer on the network test bed, for bench/net/run.py: Debian's
// Chromium (headless, fresh profile) driven by playwright-core from web/.
//
//   browser.mjs send    --server-url ws://A:P --name net [--width W --height H --fps F]
//   browser.mjs receive --server-url ws://A:P --name net [--width W --height H]
//
// `send` publishes a canvas of moving SMPTE bars stamped with this machine's
// monotonic clock in four bands (the stamps of bench/media/frame-id.cpp), as
// a producer named --name; `receive` watches that producer and reads the
// stamps back from every frame Chromium presents. Both print JSON lines as
// signalbin-bench-media's net-send and net-receive do: {"ready": true},
// {"t": s, "stats": {"chromium": {...}}} once a second (names as in
// signalsink's stats), {"t": s, "clean": b, "latency_ms": ms} per frame, with
// t on the monotonic clock. SIGTERM ends it (status 0).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceRoot = path.resolve(here, "..", "..");

function parseArgs(argv) {
  const [mode, ...rest] = argv;
  const args = { mode, width: 1280, height: 720, fps: 30, name: "net", build: path.join(sourceRoot, "build") };
  for (let i = 0; i < rest.length; i += 2) {
    const key = rest[i].replace(/^--/, "").replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in args) && key !== "serverUrl") throw new Error(`unknown option ${rest[i]}`);
    args[key] = ["width", "height", "fps"].includes(key) ? Number(rest[i + 1]) : rest[i + 1];
  }
  if (!["send", "receive"].includes(mode) || !args.serverUrl)
    throw new Error("usage: browser.mjs send|receive --server-url ws://A:P [--name N] [--width W] [--height H] [--fps F]");
  return args;
}

const monotonicMs = () => Number(process.hrtime.bigint()) / 1e6; // CLOCK_MONOTONIC, as g_get_monotonic_time()
const print = (item) => process.stdout.write(JSON.stringify(item) + "\n");

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const { chromium } = await import(
    pathToFileURL(path.join(sourceRoot, "web", "node_modules", "playwright-core", "index.mjs")).href
  );
  const api = path.join(args.build, "web", "gstwebrtc-api.esm.js");
  const files = {
    "page.html": ["text/html", '<!doctype html><meta charset="utf-8"><body><script type="module" src="page.js"></script>'],
    "page.js": ["text/javascript", readFileSync(path.join(here, "browser-page.js"))],
    "gstwebrtc-api.esm.js": ["text/javascript", readFileSync(api)],
  };
  const profile = mkdtempSync(path.join(tmpdir(), "signalbin-bench-chromium-"));
  let context = null;
  const stop = async (status) => {
    try {
      if (context) await context.close();
    } catch {}
    rmSync(profile, { recursive: true, force: true });
    process.exit(status);
  };
  process.on("SIGTERM", () => stop(0));
  process.on("SIGINT", () => stop(130));
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.SIGNALBIN_CHROMIUM || "/usr/bin/chromium",
      headless: true,
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required", "--disable-renderer-backgrounding",
        "--disable-background-timer-throttling", "--disable-backgrounding-occluded-windows",
        // Host candidates as addresses, not mDNS names webrtcbin cannot resolve;
        // the page (served by us, so of no address space) may reach 10.77.N.1.
        "--disable-features=WebRtcHideLocalIpsWithMdns,LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests",
      ],
      viewport: { width: 1280, height: 800 },
      timeout: 60_000,
    });
    const page = context.pages()[0] || (await context.newPage());
    page.on("pageerror", (error) => process.stderr.write(`browser.mjs: page error: ${error.message}\n`));
    page.on("console", (m) => process.stderr.write(`browser.mjs: console: ${m.text()}\n`));
    // Our page is served from the signalling server's own origin, by us.
    const server = new URL(args.serverUrl);
    const origin = `http://${server.host}`;
    await page.route(`${origin}/bench/**`, (route) => {
      const file = files[new URL(route.request().url()).pathname.replace("/bench/", "")];
      if (!file) return route.fulfill({ status: 404, body: "" });
      return route.fulfill({ status: 200, contentType: file[0], body: file[1] });
    });
    let offsetMs = 0;
    await page.exposeFunction("benchReport", (item) => {
      if (item.error) process.stderr.write(`browser.mjs: ${item.error}\n`);
      if (item.perf !== undefined) {
        item.t = (item.perf + offsetMs) / 1000;
        delete item.perf;
      }
      print(item);
    });
    const query = new URLSearchParams({
      role: args.mode, server: args.serverUrl, name: args.name,
      width: args.width, height: args.height, fps: args.fps,
    });
    await page.goto(`${origin}/bench/page.html?${query}`);
    await page.waitForFunction(() => typeof window.benchStart === "function", null, { timeout: 60_000 });
    // The page's clock against ours: the sample with the shortest round trip.
    let best = Infinity;
    for (let i = 0; i < 20; ++i) {
      const before = monotonicMs();
      const perf = await page.evaluate(() => performance.now());
      const after = monotonicMs();
      if (after - before < best) {
        best = after - before;
        offsetMs = (before + after) / 2 - perf;
      }
    }
    await page.evaluate((offset) => window.benchStart(offset), offsetMs);
    if (args.mode === "receive") print({ ready: true });
  } catch (error) {
    process.stderr.write(`browser.mjs: ${error.message}\n`);
    await stop(1);
  }
}

main();
