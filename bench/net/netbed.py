"""A network test bed: two network namespaces joined by a veth pair, or a
star of them (side a joined to each of sides b, c, ... by a pair of its own).

    with NetBed() as bed:
        sender = bed.run("a", [program, "net-send", "--address", bed.address["a"]])
        bed.shape("a", rate_kbit=1000, queue_ms=300)   # a -> b bottleneck (tbf)
        bed.loss("b", 0.02)                            # 2 % of packets into b dropped
        ...
    with NetBed(receivers=4) as bed:                   # sides a, b, c, d, e
        bed.shape("a", 2000, toward="c")               # a -> c only

Addresses are 10.77.N.1 (side a) and 10.77.N.2 (side b), N from the
process id; with more sides, the K-th pair (from 0) is 10.77.N.4K+1 on a
and 10.77.N.4K+2 on the other side (a /30 each), and every side's
default route leads to a, so 10.77.N.1 reaches a from any side. They exist
only inside the namespaces; nothing on the host changes; IPv6 is off
inside them. This kernel has tbf and htb but no
netem, so loss is iptables' `statistic` match on the receiving side's INPUT
chain (a DROP on OUTPUT would return EPERM to the sender instead of losing
the packet). Leaving the
`with` block, SIGTERM, SIGINT or an exception stops every process started
through run() and deletes both namespaces, which deletes the veth pair.

Needs root, iproute2 (ip, tc), iptables and util-linux (nsenter);
NetBed.unavailable() says what is missing.
"""

import atexit
import os
import shutil
import signal
import subprocess



class NetBedError(RuntimeError):
    pass


def _sh(argv, check=True):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise NetBedError("%s: %s" % (" ".join(argv), r.stderr.strip() or "exit %d" % r.returncode))
    return r


def _mounts(path):
    """How many mounts sit on `path` (a bind mount of a directory onto itself
    is one; os.path.ismount cannot see it)."""
    try:
        with open("/proc/self/mountinfo") as f:
            return sum(1 for line in f if line.split()[4] == path)
    except OSError:
        return 0


class NetBed:
    @staticmethod
    def unavailable():
        """Why a bed cannot be made here, or None."""
        if os.geteuid() != 0:
            return "network namespaces need root"
        for tool, package in (("ip", "iproute2"), ("tc", "iproute2"), ("iptables", "iptables"),
                              ("nsenter", "util-linux")):
            if not shutil.which(tool):
                return "%s is missing (apt install %s)" % (tool, package)
        return None

    def __init__(self, tag=None, receivers=1):
        if not 1 <= receivers <= 25:
            raise NetBedError("receivers: 1 to 25")
        pid = os.getpid()
        self.tag = tag or "sb%d" % pid
        net = pid % 250 + 1
        self.others = [chr(ord("b") + k) for k in range(receivers)]
        self.sides = ["a"] + self.others
        self.namespace = {s: "%s%s" % (self.tag, s) for s in self.sides}
        # Interface names, at most 15 characters: a's end toward each other
        # side, and that side's end.
        short = ("%s" % self.tag)[-11:]
        self.links = {o: (short + "a" + o + "v", short + o + "av") for o in self.others}
        self.address = {"a": "10.77.%d.1" % net}
        self.local = {}  # (side, other side) -> a's or the other's address on that link
        for k, o in enumerate(self.others):
            self.local[("a", o)] = "10.77.%d.%d" % (net, 4 * k + 1)
            self.local[(o, "a")] = self.address[o] = "10.77.%d.%d" % (net, 4 * k + 2)
        # Two sides: the device of each (shape() and loss() take sides).
        self.device = {"a": self.links["b"][0], "b": self.links["b"][1]} if receivers == 1 else {}
        self.processes = []
        self._up = False

    # ---- life ------------------------------------------------------------------

    def __enter__(self):
        self.up()
        return self

    def __exit__(self, *exc):
        self.down()
        return False

    def up(self):
        why = self.unavailable()
        if why:
            raise NetBedError(why)
        self.down()  # what a killed run with this tag left
        self._up = True
        atexit.register(self.down)
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)

            def handler(signum, frame, previous=previous):
                self.down()
                if callable(previous):
                    previous(signum, frame)
                raise SystemExit(128 + signum)

            signal.signal(sig, handler)
        # `ip netns add` makes /run/netns a mount point if it is none; the
        # last bed out unmounts it again (a chroot could not be removed).
        self._made_run_netns = _mounts("/run/netns") == 0
        try:
            for s in self.sides:
                _sh(["ip", "netns", "add", self.namespace[s]])
            for o in self.others:
                _sh(["ip", "link", "add", self.links[o][0], "netns", self.namespace["a"], "type", "veth", "peer",
                     "name", self.links[o][1], "netns", self.namespace[o]])
            for s in self.sides:
                # IPv4 only: ICE would also pair the veth's IPv6 link-local
                # addresses, which the impairments here do not touch.
                # (procfs: sysctl is in procps, which a minimal root lacks)
                for conf in ("all", "default"):
                    self.ip(s, ["sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/%s/disable_ipv6" % conf])
                self.ip(s, ["ip", "link", "set", "lo", "up"])
                for o in (self.others if s == "a" else ["a"]):
                    dev = self.links[o][0] if s == "a" else self.links[s][1]
                    self.ip(s, ["ip", "addr", "add", self.local[(s, o)] + "/30", "dev", dev])
                    self.ip(s, ["ip", "link", "set", dev, "up"])
                # A default route, as a real host has: Chromium gathers
                # candidates only on the interface that route leaves by
                # (without one it has none). It leads to side a (from a, to b).
                dev = self.links["b"][0] if s == "a" else self.links[s][1]
                self.ip(s, ["ip", "route", "add", "default", "dev", dev])
        except BaseException:
            self.down()  # a half-made bed goes too
            raise

    def down(self):
        for p in self.processes:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in self.processes:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.processes = []
        # Deleting a namespace deletes its end of the veth pair, and so both.
        existing = _sh(["ip", "netns", "list"], check=False).stdout.split()
        for s in self.sides:
            if self.namespace[s] in existing:
                _sh(["ip", "netns", "del", self.namespace[s]], check=False)
        if getattr(self, "_made_run_netns", False) and os.path.isdir("/run/netns") and \
                not os.listdir("/run/netns"):
            for _ in range(_mounts("/run/netns")):
                _sh(["umount", "/run/netns"], check=False)
        self._up = False

    # ---- use -------------------------------------------------------------------

    def _enter(self, side):
        # nsenter rather than `ip netns exec`: that one also remounts / and
        # /sys, which fails in a chroot (CI's fresh root); the network
        # namespace alone is what is needed.
        return ["nsenter", "--net=/run/netns/" + self.namespace[side], "--"]

    def ip(self, side, argv, check=True):
        """Runs a command inside a side's namespace and waits for it."""
        return _sh(self._enter(side) + argv, check=check)

    def run(self, side, argv, **popen):
        """Starts a program inside a side's namespace, in a process group of
        its own; down() stops it."""
        p = subprocess.Popen(self._enter(side) + list(argv), start_new_session=True, **popen)
        self.processes.append(p)
        return p

    def stop(self, process, timeout=15):
        """SIGTERM to a process started by run(); its exit status."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait()

    def shape(self, side, rate_kbit=None, queue_ms=300, toward=None):
        """Limits what leaves `side` (toward side `toward`: its link to a, or
        from a the link to that side; default b) to rate_kbit (tbf, a queue
        of queue_ms); None lifts the limit."""
        other = toward or ("b" if side == "a" else "a")
        dev = self.links[other][0] if side == "a" else self.links[side][1]
        if rate_kbit is None:
            self.ip(side, ["tc", "qdisc", "del", "dev", dev, "root"], check=False)
            return
        burst = max(4096, int(rate_kbit * 1000 / 8 / 25))  # 40 ms at the rate
        self.ip(side, ["tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", "%dkbit" % rate_kbit, "burst",
                       str(burst), "latency", "%dms" % queue_ms])

    def loss(self, side, probability, spare_tcp_port=None):
        """Drops this share of the packets arriving at `side` (0: none): UDP,
        and TCP too (ICE may pick a TCP pair), except the TCP connection to
        or from `spare_tcp_port` (the signalling, so that a test's set-up
        stays quick)."""
        self.ip(side, ["iptables", "-F", "INPUT"])
        if probability <= 0:
            return
        if spare_tcp_port:
            for direction in ("--sport", "--dport"):
                self.ip(side, ["iptables", "-A", "INPUT", "-p", "tcp", direction, str(spare_tcp_port), "-j",
                               "ACCEPT"])
        self.ip(side, ["iptables", "-A", "INPUT", "-m", "statistic", "--mode", "random", "--probability",
                       "%.4f" % probability, "-j", "DROP"])

    def clear(self):
        for o in self.others:
            self.shape("a", None, toward=o)
            self.shape(o, None)
        for s in self.sides:
            self.loss(s, 0)
