"""A network test bed: two network namespaces joined by a veth pair.

    with NetBed() as bed:
        sender = bed.run("a", [program, "net-send", "--address", bed.address["a"]])
        bed.shape("a", rate_kbit=1000, queue_ms=300)   # a -> b bottleneck (tbf)
        bed.loss("b", 0.02)                            # 2 % of packets into b dropped
        ...

Addresses are 10.77.N.1 (side a) and 10.77.N.2 (side b), N from the
process id, and exist only inside the two namespaces; nothing on the host
changes; IPv6 is off inside them. This kernel has tbf and htb but no
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

SIDES = ("a", "b")


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

    def __init__(self, tag=None):
        pid = os.getpid()
        self.tag = tag or "sb%d" % pid
        net = pid % 250 + 1
        self.namespace = {s: "%s%s" % (self.tag, s) for s in SIDES}
        # Interface names: at most 15 characters.
        self.device = {s: ("%s%s" % (self.tag, s))[-13:] + "v" + s for s in SIDES}
        self.address = {"a": "10.77.%d.1" % net, "b": "10.77.%d.2" % net}
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
            for s in SIDES:
                _sh(["ip", "netns", "add", self.namespace[s]])
            _sh(["ip", "link", "add", self.device["a"], "netns", self.namespace["a"], "type", "veth", "peer", "name",
                 self.device["b"], "netns", self.namespace["b"]])
            for s in SIDES:
                # IPv4 only: ICE would also pair the veth's IPv6 link-local
                # addresses, which the impairments here do not touch.
                # (procfs: sysctl is in procps, which a minimal root lacks)
                for conf in ("all", "default"):
                    self.ip(s, ["sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/%s/disable_ipv6" % conf])
                self.ip(s, ["ip", "addr", "add", self.address[s] + "/24", "dev", self.device[s]])
                self.ip(s, ["ip", "link", "set", self.device[s], "up"])
                self.ip(s, ["ip", "link", "set", "lo", "up"])
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
        for s in SIDES:
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

    def shape(self, side, rate_kbit=None, queue_ms=300):
        """Limits what leaves `side` to rate_kbit (tbf, a queue of queue_ms);
        None lifts the limit."""
        dev = self.device[side]
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
        for s in SIDES:
            self.shape(s, None)
            self.loss(s, 0)
