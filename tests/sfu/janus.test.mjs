// Scale-out through a real SFU: signalsink publishes by WHIP (whip-endpoint)
// to Meetecho's simple-whip-server, which puts it into a Janus 1.1 VideoRoom;
// Chromium subscribes through Janus with Janus's own janus.js and decodes it.
// The test makes its own Janus and WHIP server configuration in a temporary
// folder, starts both on free ports, and stops and removes everything.
//
// Needs janus, libjs-janus-gateway and simple-whip-server (Debian packages;
// `scripts/setup --sfu`). Janus gathers no loopback candidates, so ICE runs
// on this machine's first non-loopback IPv4 address. Skipped, saying which,
// when any of these is missing.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  Child, TEST_TIMEOUT_MS, WAIT_MS, explainer, sourceRoot, startBrowser, startGstLaunch, startServer,
  waitUntil,
} from "../browser/harness.mjs";

const janusJs = "/usr/share/javascript/janus-gateway/janus.js";
// The package's sources; SIGNALBIN_WHIP_SERVER_SRC points elsewhere (an
// unpacked .deb) on a machine whose Node.js the package does not install on.
const whipServerSrc = process.env.SIGNALBIN_WHIP_SERVER_SRC || "/usr/share/simple-whip-server/src";
const adapterJs = path.join(sourceRoot, "web", "node_modules", "webrtc-adapter", "out", "adapter.js");

function which(program) {
  try {
    return execFileSync("sh", ["-c", `command -v ${program}`]).toString().trim();
  } catch {
    return null;
  }
}

function lanAddress() {
  for (const list of Object.values(os.networkInterfaces()))
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return null;
}

const missing = [];
if (!which("janus")) missing.push("janus (apt install janus)");
if (!fs.existsSync(janusJs)) missing.push(`${janusJs} (apt install libjs-janus-gateway)`);
if (!fs.existsSync(path.join(whipServerSrc, "server.js"))) missing.push(`${whipServerSrc}/server.js (apt install simple-whip-server)`);
const lan = lanAddress();
if (!lan) missing.push("a non-loopback IPv4 address (Janus does not use loopback for ICE)");
const skip = missing.length ? `needs ${missing.join(", ")}` : false;

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

let dir;
let browser;
const children = [];
before(async () => {
  if (skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "signalbin-janus-"));
  browser = await startBrowser();
});
after(async () => {
  for (const c of children.reverse()) await c.stop();
  await browser?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("signalsink -> WHIP -> simple-whip-server -> Janus VideoRoom -> Chromium (janus.js)", { skip, timeout: TEST_TIMEOUT_MS }, async (t) => {
  const wsPort = await freePort();
  const whipPort = await freePort();
  const room = 1234;

  // Janus: the VideoRoom and the WebSocket transport only.
  const conf = path.join(dir, "janus");
  fs.mkdirSync(conf);
  const lib = "/usr/lib/x86_64-linux-gnu/janus";
  fs.writeFileSync(path.join(conf, "janus.jcfg"), `general: {
  configs_folder = "${conf}"
  plugins_folder = "${lib}/plugins"
  transports_folder = "${lib}/transports"
  events_folder = "${lib}/events"
  loggers_folder = "${lib}/loggers"
  debug_level = 4
}
media: { rtp_port_range = "20000-40000" }
plugins: { disable = "libjanus_voicemail.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_nosip.so,libjanus_textroom.so,libjanus_audiobridge.so,libjanus_streaming.so,libjanus_echotest.so,libjanus_videocall.so,libjanus_duktape.so,libjanus_lua.so" }
transports: { disable = "libjanus_rabbitmq.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so,libjanus_http.so" }
loggers: { disable = "libjanus_jsonlog.so" }
events: { broadcast = false }
`);
  fs.writeFileSync(path.join(conf, "janus.transport.websockets.jcfg"),
    `general: { json = "indented" ws = true ws_port = ${wsPort} ws_ip = "127.0.0.1" wss = false }\nadmin: { admin_ws = false admin_wss = false }\n`);
  fs.writeFileSync(path.join(conf, "janus.plugin.videoroom.jcfg"),
    `general: { }\nroom-${room}: { description = "signalbin" publishers = 6 bitrate = 2000000 fir_freq = 10 videocodec = "h264,vp8" audiocodec = "opus" }\n`);
  const janus = new Child("janus", "janus", ["-F", conf, "-o"], {});
  children.push(janus);
  await janus.waitForLine(/WebSockets thread started|Websockets server started/, "Janus's WebSocket transport");

  // simple-whip-server: its sources with our configuration beside them.
  const whipDir = path.join(dir, "whip", "src");
  fs.mkdirSync(whipDir, { recursive: true });
  for (const f of ["server.js", "whip-janus.js"]) fs.copyFileSync(path.join(whipServerSrc, f), path.join(whipDir, f));
  fs.writeFileSync(path.join(whipDir, "config.js"), `module.exports = {
  janus: { address: 'ws://127.0.0.1:${wsPort}' }, port: ${whipPort}, rest: '/whip',
  allowTrickle: true, strictETags: false, iceServers: []
};\n`);
  const whip = new Child("simple-whip-server", "node", [path.join(whipDir, "server.js")], {});
  children.push(whip);
  await whip.waitForLine(/WHIP server prototype started/, "simple-whip-server up");
  const created = await fetch(`http://127.0.0.1:${whipPort}/whip/create`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ id: "cam", room }),
  });
  assert.equal(created.status, 200, `create the WHIP endpoint: ${await created.text()}`);

  // signalsink publishes into the room.
  const publisher = startGstLaunch([
    "videotestsrc", "is-live=true", "!", "video/x-raw,width=640,height=360,framerate=30/1", "!",
    "signalsink", `whip-endpoint=http://127.0.0.1:${whipPort}/whip/endpoint/cam`, `ice-local-addresses=${lan}`,
  ]);
  children.push(publisher);

  // Chromium subscribes through Janus with janus.js.
  const web = path.join(dir, "web");
  fs.mkdirSync(web);
  fs.copyFileSync(new URL("janus-subscriber.html", import.meta.url), path.join(web, "index.html"));
  fs.copyFileSync(janusJs, path.join(web, "janus.js"));
  fs.copyFileSync(adapterJs, path.join(web, "adapter.js"));
  const pages = await startServer({ webRoot: web });
  children.push(pages);
  const explain = explainer({ browser, children: [janus, whip, publisher, pages] });
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${pages.port}/`, { timeout: WAIT_MS });
  await page.evaluate(({ server, room }) => window.subscribe(server, room), { server: `ws://127.0.0.1:${wsPort}`, room });
  const got = await waitUntil(() => page.evaluate(() => window.received()), (s) => s.framesDecoded >= 30, {
    what: "30 frames decoded through Janus", explain, timeout: WAIT_MS,
  });
  t.diagnostic(`through Janus: ${JSON.stringify(got)}`);
  assert.ok(got.framesDecoded >= 30);
  await page.close();
});
