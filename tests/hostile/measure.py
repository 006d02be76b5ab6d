#!/usr/bin/env python3
"""Figures for issue 9's targets, printed (not asserted):

1. RSS of the attacked city while one authenticated hostile peer keeps 50 upload streams of maximal size in
   flight, and the latency of a registered child's calls (Cursor + Offer, what a sync round starts with)
   meanwhile.
2. Many idle connections (up to 20,000, or what this process's descriptor limit allows): how many the city
   holds, how many it sheds, its descriptor count against its limit, and its CPU use while they sit there.

    python3 tests/hostile/measure.py FED.json
"""
import resource
import select
import socket
import sys
import threading
import time

import hostile as hx

MAX_UPLOAD = 64 * 1024 * 1024


def child_round_latency(fed, stop, out):
    _, sync_pb2, sync_grpc, _, _ = hx.stubs(fed)
    c = sync_grpc.SyncStub(hx.channel(fed, "city", "county2"))
    while not stop.is_set():
        t = time.time()
        try:
            c.Offer(sync_pb2.OfferRequest(), timeout=10)
            c.Cursor(sync_pb2.CursorRequest(origin="430104"), timeout=10)
            out.append(time.time() - t)
        except Exception as e:  # noqa: BLE001 - a failed round is a figure too
            out.append(("error", str(e)[:80]))
        time.sleep(0.2)


def hostile_uploads(fed, seconds=20, streams=50, conns=5):
    pid = fed["city"]["pid"]
    before = hx.rss_kib(pid)
    hs = [hx.H2(fed, "city", "county") for _ in range(conns)]
    chunk = b"\x00" * 16384
    live = {}  # (conn index, sid) -> bytes sent
    refused = 0
    opened = 0
    sent_total = [0]
    born = {}

    def top_up():
        nonlocal opened
        for i, h in enumerate(hs):
            while sum(1 for k in live if k[0] == i) < streams // conns and not h.closed:
                try:
                    sid = h.open_stream("/gongxin.sync.v1.Sync/Upload",
                                        hx.grpc_frame(b"\x0a\x06430102", declared=MAX_UPLOAD - 64))
                except Exception:  # noqa: BLE001 - the connection went away
                    h.closed = True
                    break
                live[(i, sid)] = 0
                born[(i, sid)] = time.time()
                opened += 1

    latencies, stop = [], threading.Event()
    t = threading.Thread(target=child_round_latency, args=(fed, stop, latencies))
    t.start()
    peak = 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        top_up()
        for (i, sid) in list(live):
            h = hs[i]
            if time.time() - born[(i, sid)] < 0.2:
                continue  # refused streams answer at once; fill only those that hold an upload slot
            try:
                # As much as flow control allows, in frames of at most 16 KiB.
                while True:
                    n = min(h.conn.local_flow_control_window(sid), len(chunk), MAX_UPLOAD - 64 - live[(i, sid)])
                    if n <= 0:
                        break
                    h.conn.send_data(sid, chunk[:n])
                    live[(i, sid)] += n
                    sent_total[0] += n
            except Exception:  # noqa: BLE001 - stream closed or reset by the server
                live.pop((i, sid), None)
                refused += 1
        for h in hs:
            try:
                h.flush()
            except OSError:
                h.closed = True
            h.pump(0.002)
            for sid, hdr in list(h.responses.items()):
                key = (hs.index(h), sid)
                if key in live and hdr.get("grpc-status"):
                    live.pop(key)
                    refused += 1
        peak = max(peak, hx.rss_kib(pid)["VmRSS"])
    stop.set()
    t.join()
    after = hx.rss_kib(pid)
    for h in hs:
        h.close()
    ok = [x for x in latencies if isinstance(x, float)]
    errors = [x for x in latencies if not isinstance(x, float)]
    print("== 50 hostile upload streams (one registered peer, %d s) ==" % seconds)
    print("streams opened %d, refused or reset %d, %.0f MiB sent" % (opened, refused, sent_total[0] / 2**20))
    print("city RSS before %.0f MiB, peak sampled %.0f MiB, VmHWM %.0f MiB (target < 1024 MiB)" % (
        before["VmRSS"] / 1024, peak / 1024, after["VmHWM"] / 1024))
    if ok:
        ok.sort()
        print("registered child's Offer+Cursor during the attack: %d rounds, median %.3f s, max %.3f s, %d failed" % (
            len(ok), ok[len(ok) // 2], ok[-1], len(errors)))
    else:
        print("registered child's calls: none succeeded; %s" % errors[:3])


def idle_connections(fed, want=20000, hold=15):
    pid = fed["city"]["pid"]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limit = hard - 200
    n = min(want, limit)
    node_limit = None
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                node_limit = int(line.split()[3])
    cpu0, t0 = hx.cpu_seconds(pid), time.time()
    socks, failed = [], 0
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", fed["city"]["port"]))
        except BlockingIOError:
            pass
        except OSError:
            failed += 1
            s.close()
            continue
        socks.append(s)
    opened = time.time() - t0
    max_fds, samples = 0, []
    end = time.time() + hold
    while time.time() < end:
        max_fds = max(max_fds, hx.fds(pid))
        samples.append((time.time(), hx.cpu_seconds(pid)))
        time.sleep(0.5)
    # Closed by the node: readable with EOF (or reset).
    closed = 0
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN | select.POLLHUP | select.POLLERR)
    by_fd = {s.fileno(): s for s in socks}
    for fd, _ in poller.poll(0):
        try:
            if by_fd[fd].recv(1) == b"":
                closed += 1
        except OSError:
            closed += 1
    cpu = hx.cpu_seconds(pid) - cpu0
    wall = time.time() - t0
    _, sync_pb2, sync_grpc, _, _ = hx.stubs(fed)
    t = time.time()
    try:
        sync_grpc.SyncStub(hx.channel(fed, "city", "county2")).Cursor(sync_pb2.CursorRequest(origin="430104"), timeout=30)
        served = "served in %.2f s" % (time.time() - t)
    except Exception as e:  # noqa: BLE001
        served = "failed: %s" % str(e)[:100]
    for s in socks:
        s.close()
    print("== idle connections ==")
    print("this process may open %d descriptors (hard limit %d): attempted %d connections, %d failed to start, "
          "opened in %.1f s" % (limit, hard, n, failed, opened))
    print("city descriptor limit %s; peak open descriptors %d (%.0f %% of the limit; target < 80 %%)" % (
        node_limit, max_fds, 100.0 * max_fds / node_limit if node_limit else 0))
    print("after %d s: %d of %d connections closed by the city, %d still open" % (
        hold, closed, len(socks), len(socks) - closed))
    print("city CPU %.1f s over %.1f s wall (%.0f %% of one core)" % (cpu, wall, 100.0 * cpu / wall))
    print("a registered child's call while they were held: %s" % served)


def main():
    fed = hx.load_fed(sys.argv[1])
    hostile_uploads(fed)
    time.sleep(2)
    idle_connections(fed)


if __name__ == "__main__":
    main()
