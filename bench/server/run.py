#!/usr/bin/env python3
"""Signalling-server benchmark: signalbin-server (A) against a minimal relay of
the same protocol on Node.js and the npm `ws` package (B, node-relay/).

Each run starts one server on 127.0.0.1 (port 0), points the load generator
(loadgen.cpp, built by meson as signalbin-server-loadgen) at it, and stops the
server. A and B alternate (A B, then B A, ...), so every A/B ratio pairs two
runs made one after the other. Two kinds of run:

  full   peers held at each of --levels (default 1,000, 5,000, 10,000): the
         server's VmRSS at each, then the relay scenarios with the largest
         level still connected, idle (--full-repeats times).
  relay  --relay-idle peers held (default 1,000), then the relay scenarios
         (--repeats times).

The relay scenarios: --pairs sessions, both members sending `peer` ICE
messages (~260 bytes) to the other with at most --window in flight each, for
--duration seconds (delivered messages per second, and the latency of each);
then the same senders at a fixed --rate messages a second in total (latency
where queueing is not the point).

Builds nothing: run `ninja -C build` and, once, `npm ci` in
bench/server/node-relay first. Writes every raw number to --out (JSON) and
prints a summary.
"""

import argparse
import atexit
import datetime
import json
import os
import platform
import resource
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RELAY = os.path.join(HERE, 'node-relay', 'relay.mjs')

# signalbin-server's defaults allow 100 messages a second per peer (bursts of
# 200): the benchmark would measure the limiter. The baseline has no limits.
A_LIMIT_FLAGS = ['--rate-limit', '1000000', '--rate-burst', '1000000']

LIVE = set()  # servers started and not yet reaped


def log(message):
    print(message, file=sys.stderr, flush=True)


def raise_nofile():
    """In the child before exec: as many descriptors as the hard limit allows
    (the equivalent of `ulimit -n 65536` where the hard limit permits)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard) if hard != resource.RLIM_INFINITY else hard))
        return
    except (ValueError, OSError):
        pass
    limit = want if hard == resource.RLIM_INFINITY else min(want, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def nofile_for_children():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)


def stop(proc, grace=5.0):
    """SIGTERM to the server's process group (it was started in its own
    session), SIGKILL if it is still there after `grace` seconds."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
    LIVE.discard(proc)


def stop_all():
    for proc in list(LIVE):
        stop(proc, grace=2.0)


def on_signal(signum, _frame):
    stop_all()
    sys.exit(128 + signum)


def read_first_line(proc, timeout):
    """The server's first stdout line, or None if it has not come in time."""
    deadline = time.monotonic() + timeout
    data = b''
    fd = proc.stdout.fileno()
    while b'\n' not in data and len(data) < 4096:
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.split(b'\n', 1)[0].decode(errors='replace') if b'\n' in data else None


def start_server(kind, args, log_path, max_peers):
    if kind == 'A':
        cmd = [args.server, '--host', '127.0.0.1', '--port', '0', '--quiet',
               '--max-peers', str(max_peers)] + A_LIMIT_FLAGS
    else:
        cmd = [args.node, RELAY, '--host', '127.0.0.1', '--port', '0']
    with open(log_path, 'wb') as log_file:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log_file,
                                preexec_fn=raise_nofile, start_new_session=True)
    LIVE.add(proc)
    line = read_first_line(proc, 15.0)
    if not line or 'ws://127.0.0.1:' not in line:
        stop(proc)
        raise RuntimeError(f'{kind}: no "listening on ws://127.0.0.1:PORT/" line from {" ".join(cmd)} '
                           f'(got {line!r}; log {log_path})')
    port = int(line.rsplit(':', 1)[1].strip().rstrip('/'))
    return proc, port, cmd


def tail(path, lines=15):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError:
        return ''


def one_run(kind, scenario, repeat, args, logdir):
    levels = args.levels if scenario == 'full' else [args.relay_idle]
    max_peers = max(20000, levels[-1] + 2 * args.pairs + 64)
    log_path = os.path.join(logdir, f'{scenario}-{repeat}-{kind}.log')
    started = time.monotonic()
    proc, port, cmd = start_server(kind, args, log_path, max_peers)
    loadgen_cmd = [args.loadgen, '--host', '127.0.0.1', '--port', str(port), '--server-pid', str(proc.pid),
                   '--levels', ','.join(str(n) for n in levels), '--listeners', str(args.listeners),
                   '--pairs', str(args.pairs), '--window', str(args.window), '--warmup', str(args.warmup),
                   '--duration', str(args.duration), '--rate', str(args.rate),
                   '--rate-duration', str(args.rate_duration), '--phase-timeout', str(args.phase_timeout)]
    record = {'server': kind, 'scenario': scenario, 'repeat': repeat, 'server_cmd': cmd,
              'loadgen_cmd': loadgen_cmd, 'ok': False}
    try:
        done = subprocess.run(loadgen_cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=args.run_timeout)
        record['loadgen_exit'] = done.returncode
        record['loadgen_stderr'] = done.stderr[-4000:]
        try:
            record['result'] = json.loads(done.stdout)
        except json.JSONDecodeError:
            record['result'] = None
            record['problem'] = 'the load generator printed no JSON: ' + done.stdout[-500:]
        if record['result'] is not None:
            record['ok'] = bool(record['result'].get('ok')) and done.returncode == 0
            record['problem'] = record['result'].get('problem')
        if proc.poll() is not None:
            record['ok'] = False
            record['problem'] = f'the server exited during the run (status {proc.returncode})'
    except subprocess.TimeoutExpired:
        record['problem'] = f'the load generator did not finish within {args.run_timeout} s'
    finally:
        stop(proc)
    record['wall_s'] = round(time.monotonic() - started, 3)
    if not record['ok']:
        record['server_log_tail'] = tail(log_path)
    return record


# ---- Summary ---------------------------------------------------------------

def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {'n': len(values), 'min': min(values), 'median': statistics.median(values), 'max': max(values)}


def metrics(record):
    """The figures of one run, flat: name -> number."""
    r = record.get('result') or {}
    m = {}
    if not record['ok']:
        return m
    start_rss = r['server_start']['rss_kb']
    for level in r['levels']:
        n = level['peers']
        m[f'rss_kb@{n}'] = level['server']['rss_kb']
        m[f'rss_per_peer_kb@{n}'] = (level['server']['rss_kb'] - start_rss) / n
        m[f'ramp_s@{n}'] = level['ramp_s']
    m['rss_kb@start'] = start_rss
    t, f = r['throughput'], r['fixed_rate']
    m['throughput_msg_s'] = t['delivered_per_s']
    m['throughput_p50_ms'] = t['latency_us']['p50'] / 1000
    m['throughput_p99_ms'] = t['latency_us']['p99'] / 1000
    if t['server_cpu_s'] >= 0 and t['delivered']:
        m['server_cpu_us_per_msg'] = t['server_cpu_s'] * 1e6 / t['delivered']
        m['server_cpu_share'] = t['server_cpu_s'] / t['seconds']
    m['loadgen_cpu_share'] = t['loadgen_cpu_s'] / t['seconds']
    m['fixed_p50_ms'] = f['latency_us']['p50'] / 1000
    m['fixed_p99_ms'] = f['latency_us']['p99'] / 1000
    m['fixed_delivered_msg_s'] = f['delivered_per_s']
    m['fixed_window_full'] = f['window_full']
    if f['server_cpu_s'] >= 0:
        m['fixed_server_cpu_share'] = f['server_cpu_s'] / f['seconds']
    return m


def summarise(runs):
    summary = {}
    for scenario in ('full', 'relay'):
        per_server = {}
        for kind in ('A', 'B'):
            rows = [metrics(r) for r in runs if r['scenario'] == scenario and r['server'] == kind]
            names = sorted({k for row in rows for k in row})
            per_server[kind] = {k: spread([row.get(k) for row in rows]) for k in names}
        # A/B ratios of runs made back to back (same repeat).
        ratios = {}
        repeats = sorted({r['repeat'] for r in runs if r['scenario'] == scenario})
        for name in ('throughput_msg_s', 'throughput_p99_ms', 'fixed_p99_ms', 'fixed_p50_ms') + tuple(
                k for k in per_server['A'] if k.startswith('rss_kb@') or k.startswith('ramp_s@')):
            values = []
            for rep in repeats:
                a = [metrics(r).get(name) for r in runs if r['scenario'] == scenario and r['repeat'] == rep
                     and r['server'] == 'A']
                b = [metrics(r).get(name) for r in runs if r['scenario'] == scenario and r['repeat'] == rep
                     and r['server'] == 'B']
                if a and b and a[0] is not None and b[0]:
                    values.append(a[0] / b[0])
            ratios[name] = spread(values)
        summary[scenario] = {'A': per_server['A'], 'B': per_server['B'], 'ratio_A_over_B': ratios}
    return summary


def med(summary, scenario, kind, name):
    s = summary.get(scenario, {}).get(kind, {}).get(name)
    return s['median'] if s else None


def targets(summary, runs, args):
    top = args.levels[-1]
    full_a = [r for r in runs if r['scenario'] == 'full' and r['server'] == 'A']
    held = bool(full_a) and all(r['ok'] and any(l['peers'] == top for l in r['result']['levels']) for r in full_a)
    out = {'held_peers': {'target': f'{top} peers held', 'met': held,
                          'runs': [{'ok': r['ok'], 'problem': r.get('problem')} for r in full_a]}}
    for scenario, idle in (('relay', args.relay_idle), ('full', top)):
        ratio = summary[scenario]['ratio_A_over_B'].get('throughput_msg_s')
        out[f'throughput_2x@{idle}'] = {'target': 'relay throughput >= 2x the Node baseline',
                                         'ratio_median': ratio['median'] if ratio else None,
                                         'met': bool(ratio) and ratio['median'] >= 2.0}
        fixed = med(summary, scenario, 'A', 'fixed_p99_ms')
        loaded = med(summary, scenario, 'A', 'throughput_p99_ms')
        out[f'p99_10ms@{idle}'] = {'target': 'p99 relay latency <= 10 ms',
                                    'fixed_rate_p99_ms': fixed, 'throughput_run_p99_ms': loaded,
                                    'met_at_fixed_rate': fixed is not None and fixed <= 10.0,
                                    'met_under_full_load': loaded is not None and loaded <= 10.0}
    return out


def fmt(value, digits=1):
    if value is None:
        return '-'
    if isinstance(value, float) and abs(value) >= 1000:
        return f'{value:,.0f}'
    return f'{value:.{digits}f}' if isinstance(value, float) else str(value)


def cell(summary, scenario, kind, name, digits=1):
    s = summary[scenario][kind].get(name) if kind != 'ratio' else summary[scenario]['ratio_A_over_B'].get(name)
    if not s:
        return '-'
    if s['n'] == 1:
        return fmt(s['median'], digits)
    return f"{fmt(s['median'], digits)} [{fmt(s['min'], digits)}-{fmt(s['max'], digits)}]"


def print_summary(summary, goals, args, config):
    print()
    print('signalling-server benchmark: A = signalbin-server, B = Node.js ws relay (node-relay/)')
    print('  A runs with ' + ' '.join(A_LIMIT_FLAGS) + ' --max-peers 20000 (its default rate limit, 100 msg/s a peer,')
    print('  would throttle the benchmark); B has no limits. Loopback only. median [min-max] over repeats;')
    print('  ratios pair the A and B runs of the same repeat.')
    print(f"  {config['environment']['cpus']} CPUs, load average before {config['environment']['loadavg_before']}, "
          f"pairs {args.pairs}, window {args.window}, ~{config['message_bytes']} B messages, "
          f"fixed rate {args.rate:g} msg/s")
    rows = []
    for n in args.levels:
        rows.append((f'full  RSS MB, {n:,} peers held', 'full', f'rss_kb@{n}', 1 / 1024))
        rows.append((f'full  RSS per peer kB @{n:,}', 'full', f'rss_per_peer_kb@{n}', 1))
        rows.append((f'full  time to {n:,} registered s', 'full', f'ramp_s@{n}', 1))
    for scenario, idle in (('relay', args.relay_idle), ('full', args.levels[-1])):
        tag = f'{scenario:5s} @{idle:,} idle'
        rows += [
            (f'{tag}: throughput msg/s', scenario, 'throughput_msg_s', 1),
            (f'{tag}: loaded p50 ms', scenario, 'throughput_p50_ms', 1),
            (f'{tag}: loaded p99 ms', scenario, 'throughput_p99_ms', 1),
            (f'{tag}: server CPU us/msg', scenario, 'server_cpu_us_per_msg', 1),
            (f'{tag}: {args.rate:g}/s p50 ms', scenario, 'fixed_p50_ms', 1),
            (f'{tag}: {args.rate:g}/s p99 ms', scenario, 'fixed_p99_ms', 1),
            (f'{tag}: {args.rate:g}/s server CPU', scenario, 'fixed_server_cpu_share', 1),
        ]
    width = max(len(r[0]) for r in rows) + 2
    print(f"\n{'':{width}}{'A (signalbin)':>28}{'B (node ws)':>28}{'A/B':>24}")
    for label, scenario, name, scale in rows:
        def scaled(kind):
            s = summary[scenario][kind].get(name)
            if not s:
                return '-'
            vals = {k: s[k] * scale for k in ('min', 'median', 'max')}
            digits = 2 if 'cpu_share' in name else 1
            if s['n'] == 1:
                return fmt(vals['median'], digits)
            return f"{fmt(vals['median'], digits)} [{fmt(vals['min'], digits)}-{fmt(vals['max'], digits)}]"
        ratio = cell(summary, scenario, 'ratio', name, 2) if name in summary[scenario]['ratio_A_over_B'] else ''
        print(f'{label:{width}}{scaled("A"):>28}{scaled("B"):>28}{ratio:>24}')
    print('\ntargets:')
    for name, goal in goals.items():
        if name == 'held_peers':
            print(f"  {goal['target']}: {'MET' if goal['met'] else 'NOT MET'}")
        elif name.startswith('throughput'):
            print(f"  {goal['target']} ({name.split('@')[1]} idle peers): ratio {fmt(goal['ratio_median'], 2)} -> "
                  f"{'MET' if goal['met'] else 'NOT MET'}")
        else:
            print(f"  {goal['target']} ({name.split('@')[1]} idle peers): at {args.rate:g} msg/s "
                  f"{fmt(goal['fixed_rate_p99_ms'], 2)} ms -> {'MET' if goal['met_at_fixed_rate'] else 'NOT MET'}; "
                  f"under full load {fmt(goal['throughput_run_p99_ms'], 2)} ms -> "
                  f"{'MET' if goal['met_under_full_load'] else 'NOT MET'}")


def environment(args):
    def output(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            return None

    def read(path):
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return None

    ws_version = None
    try:
        with open(os.path.join(HERE, 'node-relay', 'node_modules', 'ws', 'package.json')) as f:
            ws_version = json.load(f).get('version')
    except (OSError, ValueError):
        pass
    return {'cpus': os.cpu_count(), 'kernel': platform.release(), 'loadavg_before': os.getloadavg(),
            'node': output([args.node, '--version']), 'ws': ws_version,
            'somaxconn': read('/proc/sys/net/core/somaxconn'),
            'nofile_for_servers': nofile_for_children(),
            'git_commit': output(['git', '-C', REPO, 'rev-parse', 'HEAD']),
            'git_dirty': bool(output(['git', '-C', REPO, 'status', '--porcelain', '--untracked-files=no']))}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='JSON file for every raw number')
    p.add_argument('--build', default=os.path.join(REPO, 'build'), help='meson build directory (default build/)')
    p.add_argument('--server', help='signalbin-server (default BUILD/signaling-server/signalbin-server)')
    p.add_argument('--loadgen', help='load generator (default BUILD/bench/server/signalbin-server-loadgen)')
    p.add_argument('--node', default='node')
    p.add_argument('--repeats', type=int, default=3, help='relay runs per server (default 3)')
    p.add_argument('--full-repeats', type=int, default=1, help='full runs per server (default 1)')
    p.add_argument('--levels', default='1000,5000,10000', help='peers held in a full run')
    p.add_argument('--relay-idle', type=int, default=1000, help='peers held during a relay run')
    p.add_argument('--listeners', type=int, default=10)
    p.add_argument('--pairs', type=int, default=8)
    p.add_argument('--window', type=int, default=32)
    p.add_argument('--warmup', type=float, default=0.5)
    p.add_argument('--duration', type=float, default=2.5)
    p.add_argument('--rate', type=float, default=2000)
    p.add_argument('--rate-duration', type=float, default=2.5)
    p.add_argument('--phase-timeout', type=float, default=150, help='seconds allowed to each load phase')
    p.add_argument('--run-timeout', type=float, default=300, help='seconds allowed to one load generator run')
    p.add_argument('--quick', action='store_true', help='small and short, for trying it out')
    args = p.parse_args()
    if args.quick:
        args.repeats, args.full_repeats, args.levels, args.relay_idle = 1, 1, '200,1000', 200
        args.duration = args.rate_duration = 1.0
    args.levels = [int(n) for n in args.levels.split(',')]
    args.server = args.server or os.path.join(args.build, 'signaling-server', 'signalbin-server')
    args.loadgen = args.loadgen or os.path.join(args.build, 'bench', 'server', 'signalbin-server-loadgen')
    for path, how in ((args.server, 'ninja -C build'), (args.loadgen, 'ninja -C build (bench/server in meson)'),
                      (os.path.join(HERE, 'node-relay', 'node_modules', 'ws'), 'cd bench/server/node-relay && npm ci')):
        if not os.path.exists(path):
            sys.exit(f'run.py: {path} is missing: run `{how}` first')
    if args.repeats < 0 or args.full_repeats < 0 or args.repeats + args.full_repeats == 0:
        sys.exit('run.py: --repeats and --full-repeats must not both be 0')

    atexit.register(stop_all)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    config = {'environment': environment(args), 'message_bytes': None}
    began = time.monotonic()
    runs = []
    plan = [('full', i) for i in range(args.full_repeats)] + [('relay', i) for i in range(args.repeats)]
    with tempfile.TemporaryDirectory(prefix='signalbin-server-bench-') as logdir:
        for index, (scenario, repeat) in enumerate(plan):
            order = ('A', 'B') if index % 2 == 0 else ('B', 'A')
            for kind in order:
                log(f'[{time.monotonic() - began:6.1f} s] {scenario} run {repeat + 1}, server {kind}...')
                try:
                    record = one_run(kind, scenario, repeat, args, logdir)
                except RuntimeError as e:
                    record = {'server': kind, 'scenario': scenario, 'repeat': repeat, 'ok': False, 'problem': str(e)}
                runs.append(record)
                if not record['ok']:
                    log(f"  FAILED: {record.get('problem')}")
                if record.get('result') and record['result'].get('message_bytes'):
                    config['message_bytes'] = record['result']['message_bytes']
    config['environment']['loadavg_after'] = os.getloadavg()
    config['wall_s'] = round(time.monotonic() - began, 1)
    summary = summarise(runs)
    goals = targets(summary, runs, args)
    report = {
        'benchmark': 'signalbin signalling server: signalbin-server (A) vs Node.js ws relay (B)',
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'config': {**{k: v for k, v in vars(args).items() if k not in ('out',)}, **config,
                   'a_flags': A_LIMIT_FLAGS + ['--max-peers', '20000'], 'b_limits': 'none'},
        'summary': summary, 'targets': goals, 'runs': runs,
    }
    with open(args.out, 'w') as f:
        json.dump(report, f, indent=1)
    print_summary(summary, goals, args, config)
    print(f"\n{len(runs)} runs in {config['wall_s']} s ({sum(1 for r in runs if not r['ok'])} failed); "
          f'raw numbers in {args.out}')
    return 0 if all(r['ok'] for r in runs) else 1


if __name__ == '__main__':
    sys.exit(main())
