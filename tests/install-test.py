#!/usr/bin/env python3
"""`meson install` to a prefix GStreamer does not scan gives a working tree.

Installs the build into a temporary staging folder (DESTDIR, so the prefix
lands somewhere no GStreamer looks), then uses only the installed files:
signalbin-env finds the plugin for gst-inspect-1.0, signalbin-launch finds
its plugin and page from its own place and serves them, signalbin-server
starts from the installed configuration file, the man pages are there.

    install-test.py BUILD_ROOT
"""
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

build_root = sys.argv[1]
staging = tempfile.mkdtemp(prefix="signalbin-install-")
failures = []
processes = []


def check(condition, message):
    print(("ok: " if condition else "FAIL: ") + message, flush=True)
    if not condition:
        failures.append(message)
    return condition


def find(name):
    for root, _dirs, files in os.walk(staging):
        if name in files:
            return os.path.join(root, name)
    return None


def system_plugins_without_ours():
    """GStreamer's own plugin folder, as a folder of links to every plugin
    in it but a system-wide signalbin (the Debian package), so the
    staged install is the only signalbin seen."""
    folder = subprocess.run(["pkg-config", "--variable=pluginsdir", "gstreamer-1.0"], capture_output=True,
                            text=True).stdout.strip()
    links = os.path.join(staging, "system-plugins")
    os.makedirs(links, exist_ok=True)
    if folder and os.path.isdir(folder):
        for name in os.listdir(folder):
            if name != "libgstsignalbin.so":
                os.symlink(os.path.join(folder, name), os.path.join(links, name))
    return links


def env():
    e = dict(os.environ)
    e["GST_PLUGIN_SYSTEM_PATH_1_0"] = system_plugins
    e.pop("GST_PLUGIN_PATH", None)
    e.pop("GST_PLUGIN_PATH_1_0", None)
    e.pop("SIGNALBIN_WEB_ROOT", None)
    e["GST_REGISTRY"] = os.path.join(staging, "registry.dat")
    preload = e.get("SIGNALBIN_SANITIZER_PRELOAD")
    if preload:
        e["LD_PRELOAD"] = preload
    return e


class Lines:
    """A program's merged output, read line by line on a thread."""

    def __init__(self, argv):
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env=env(), cwd=staging)
        processes.append(self.process)
        self.lines = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.lines.append(None)
            self.changed.notify_all()

    def wait_for(self, pattern, timeout=60):
        with self.changed:
            found = []

            def match():
                for line in self.lines:
                    if line is None:
                        return True
                    m = re.search(pattern, line)
                    if m:
                        found.append(m)
                        return True
                return False

            self.changed.wait_for(match, timeout)
            return found[0] if found else None

    def stop(self, sig):
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return None

    def output(self):
        return "\n".join(line for line in self.lines if line is not None)


def get(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


try:
    system_plugins = system_plugins_without_ours()
    installed = subprocess.run(["meson", "install", "-C", build_root, "--no-rebuild", "--quiet",
                                "--destdir", staging], capture_output=True, text=True)
    check(installed.returncode == 0, "meson install --destdir: " + installed.stderr.strip()[-300:])
    env_script = find("signalbin-env")
    launcher = find("signalbin-launch")
    server = find("signalbin-server")
    config = find("server.conf")
    check(all([env_script, launcher, server, config]), "installed: signalbin-env, signalbin-launch, "
          "signalbin-server, etc/signalbin/server.conf")
    for page in ["signalbin-server.1", "signalbin-launch.1", "signalbin-env.1"]:
        check(find(page) is not None and "/man/man1/" in find(page), "man page " + page)
    check(find("libgstsignalbin.so") is not None and
          find("libgstsignalbin.so").endswith("/gstreamer-1.0/libgstsignalbin.so"), "plugin in lib/.../gstreamer-1.0")

    # Without signalbin-env, GStreamer does not look there; with it, it does.
    alone = subprocess.run(["gst-inspect-1.0", "signalsink"], capture_output=True, text=True, env=env())
    check(alone.returncode != 0, "without signalbin-env, this prefix is not scanned (as for /usr/local)")
    inspect = subprocess.run([env_script, "gst-inspect-1.0", "signalsink"], capture_output=True, text=True, env=env())
    check(inspect.returncode == 0 and "WebRTC sink (signalbin)" in inspect.stdout,
          "signalbin-env gst-inspect-1.0 signalsink: " + inspect.stderr.strip()[-300:])
    check(re.search(r"Filename +" + re.escape(staging), inspect.stdout) is not None,
          "gst-inspect-1.0 loads the staged plugin, not another one")
    exports = subprocess.run([env_script], capture_output=True, text=True, env=env())
    check(exports.returncode == 0 and "export GST_PLUGIN_PATH=" in exports.stdout and
          os.path.dirname(find("libgstsignalbin.so")) in exports.stdout, "signalbin-env with no command prints exports")

    # The installed launcher: its own plugin and page, no environment.
    launch = Lines([launcher, "--port", "0", "--status-interval", "0"])
    opened = launch.wait_for(r"Open http://127\.0\.0\.1:(\d+)/ in a browser")
    if check(opened is not None, "signalbin-launch prints its page:\n" + launch.output()):
        port = int(opened.group(1))
        status, body = get(port, "/")
        check(status == 200 and b"app.js" in body, "GET / serves the installed page")
        status, body = get(port, "/gstwebrtc-api.esm.js")
        check(status == 200 and len(body) > 10000, "GET /gstwebrtc-api.esm.js")
        watch = launch.wait_for(r"Watch from a terminal: (.*)")
        plugin_dir = os.path.dirname(find("libgstsignalbin.so"))
        check(watch is not None and ("GST_PLUGIN_PATH=" + plugin_dir) in watch.group(1),
              "the watch line names the installed plugin folder")
    check(launch.stop(signal.SIGINT) == 0, "signalbin-launch exits 0 on SIGINT:\n" + launch.output())

    # The installed server with the installed configuration file.
    served = Lines([server, "--config", config, "--port", "0"])
    listening = served.wait_for(r"listening on ws://127\.0\.0\.1:(\d+)/")
    if check(listening is not None, "signalbin-server --config <installed server.conf>:\n" + served.output()):
        status, body = get(int(listening.group(1)), "/health")
        check(status == 200, "GET /health")
    check(served.stop(signal.SIGTERM) == 0, "signalbin-server exits 0 on SIGTERM")
finally:
    for p in processes:
        if p.poll() is None:
            p.kill()
            p.wait()
    shutil.rmtree(staging, ignore_errors=True)

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
