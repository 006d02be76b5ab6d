#!/usr/bin/env python3
"""The independent hostile-peer suite (issue 9 item 13): Python grpcio and raw HTTP/2 against real nodes.

    python3 tests/hostile/suite.py FED.json

Each case asserts a refusal (wrong role, unregistered, oversized, too many entries, too many uploads or
streams, silent and idle connections closed) and, at the end, that the attacked node still serves its
registered child. Exit 0 when every case passed; the failing cases are listed otherwise.
"""
import socket
import sys
import time
import traceback

import grpc

import hostile as hx

FAILED = []


def case(fn):
    def run(fed):
        t = time.time()
        try:
            fn(fed)
            print("PASS %-45s %5.1fs" % (fn.__name__, time.time() - t), flush=True)
        except Exception:
            FAILED.append(fn.__name__)
            print("FAIL %s\n%s" % (fn.__name__, traceback.format_exc()), flush=True)
    run.__name__ = fn.__name__
    return run


def code_of(call):
    try:
        call()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details() or ""


def expect(got, want, what):
    assert got[0] == want, "%s: got %s %r, want %s" % (what, got[0], got[1], want)


@case
def wrong_roles_are_refused(fed):
    _, sync_pb2, sync_grpc, audit_pb2, audit_grpc = hx.stubs(fed)
    for role in ["operator", "auditor"]:
        c = sync_grpc.SyncStub(hx.channel(fed, "city", role))
        expect(code_of(lambda: c.Cursor(sync_pb2.CursorRequest(origin="430102"), timeout=10)),
               grpc.StatusCode.PERMISSION_DENIED, "%s certificate on sync" % role)
    a = audit_grpc.AuditStub(hx.channel(fed, "province", "county"))
    expect(code_of(lambda: a.LatestReport(audit_pb2.LatestReportRequest(), timeout=10)),
           grpc.StatusCode.PERMISSION_DENIED, "node certificate on audit")


@case
def operators_must_be_registered_and_registry_changes_need_the_role(fed):
    admin_pb2, admin_grpc = hx.admin_stubs(fed)
    # An operator certificate the CA issued for the city but the registry does not hold, and a revoked one.
    for role in ["operator", "revoked_operator"]:
        a = admin_grpc.AdminStub(hx.channel(fed, "city", role))
        expect(code_of(lambda: a.Status(admin_pb2.StatusRequest(), timeout=10)),
               grpc.StatusCode.PERMISSION_DENIED, "%s certificate on the city's admin API" % role)
    # A registered province operator reads the registry but may not change it without the role.
    p = admin_grpc.AdminStub(hx.channel(fed, "province", "province_operator"))
    expect(code_of(lambda: p.RegistryShow(admin_pb2.RegistryRequest(), timeout=10)),
           grpc.StatusCode.OK, "registered operator reads the registry")
    expect(code_of(lambda: p.RegistryDiscard(admin_pb2.RegistryRequest(), timeout=10)),
           grpc.StatusCode.PERMISSION_DENIED, "registry change without the registry-operator role")


@case
def unregistered_node_certificates_fail_the_handshake(fed):
    _, sync_pb2, sync_grpc, _, _ = hx.stubs(fed)
    for role in ["stranger", "twin"]:
        c = sync_grpc.SyncStub(hx.channel(fed, "city", role))
        got = code_of(lambda: c.Cursor(sync_pb2.CursorRequest(origin="430102"), timeout=10))
        # No RPC reaches a service: the TLS layer refuses, so it is not a per-RPC PERMISSION_DENIED.
        expect(got, grpc.StatusCode.UNAVAILABLE, "%s node certificate" % role)


@case
def oversized_requests_are_refused_naming_the_rule(fed):
    common_pb2, sync_pb2, sync_grpc, _, _ = hx.stubs(fed)
    c = sync_grpc.SyncStub(hx.channel(fed, "city", "county"))
    got = code_of(lambda: c.Cursor(sync_pb2.CursorRequest(origin="4" * 10000), timeout=10))
    expect(got, grpc.StatusCode.RESOURCE_EXHAUSTED, "10 kB origin")
    assert "max_small_request_bytes" in got[1], got
    big = sync_pb2.UploadRequest(origin="430102", start=0,
                                 entries=[common_pb2.Entry(payload=b" " * (65 << 20))])
    got = code_of(lambda: c.Upload(big, timeout=60))
    expect(got, grpc.StatusCode.RESOURCE_EXHAUSTED, "65 MiB upload")
    assert "max_upload_bytes" in got[1], got
    many = sync_pb2.UploadRequest(origin="430102", start=0, entries=[common_pb2.Entry()] * 200000)
    got = code_of(lambda: c.Upload(many, timeout=60))
    expect(got, grpc.StatusCode.RESOURCE_EXHAUSTED, "200k empty entries")
    assert "max_batch_entries" in got[1], got


@case
def concurrent_uploads_of_one_peer_are_bounded(fed):
    h = hx.H2(fed, "city", "county")
    # Four uploads that declare 1 MiB and send 1 kB of it, then stall: three hold the peer's slots.
    sids = [h.open_stream("/gongxin.sync.v1.Sync/Upload", hx.grpc_frame(b"\x0a\x06430102" + b"\x00" * 990,
                                                                         declared=1 << 20)) for _ in range(4)]
    h.pump(3)
    statuses = [h.status(s) for s in sids]
    refused = [s for s in statuses if s[0] == "8"]
    assert len(refused) == 1 and "uploads_per_peer" in refused[0][1], statuses
    h.close()


@case
def streams_beyond_the_limit_are_refused(fed):
    h = hx.H2(fed, "city", "county", send_settings=False)
    # Open 100 streams before reading the server's SETTINGS (a polite client would stop at its limit).
    for _ in range(100):
        sid = h.conn.get_next_available_stream_id()
        h.conn.send_headers(sid, h.headers("/gongxin.sync.v1.Sync/Cursor"), end_stream=False)
    h.flush()
    h.pump(3)
    refused = [s for s, code in h.resets.items() if int(code) == 7]  # REFUSED_STREAM
    assert len(refused) >= 30 or h.closed, "resets %d of 100, closed %s" % (len(refused), h.closed)
    h.close()


@case
def silent_connections_are_closed(fed):
    t0 = time.time()
    # TCP only, no ClientHello: the handshake deadline.
    raw = socket.create_connection(("127.0.0.1", fed["city"]["port"]), timeout=30)
    raw.settimeout(30)
    assert raw.recv(1) == b"", "TCP connection without a ClientHello was answered"
    tcp = time.time() - t0
    assert tcp < 20, "closed after %.1fs" % tcp
    # TLS done, HTTP/2 preface never sent.
    t0 = time.time()
    s = hx.tls_connect(fed, "city", "county", timeout=30)
    s.settimeout(30)
    try:
        while s.recv(65536):
            pass
    except (OSError, ConnectionError):
        pass
    tls = time.time() - t0
    assert tls < 20, "TLS connection without a preface closed after %.1fs" % tls
    # HTTP/2 preface and SETTINGS, then no request.
    h = hx.H2(fed, "city", "county")
    t0 = time.time()
    alive = h.pump(30)
    idle = time.time() - t0
    assert not alive and idle < 20, "HTTP/2 connection without a request: closed=%s after %.1fs" % (h.closed, idle)
    print("     closed after: no ClientHello %.1fs, no preface %.1fs, no request %.1fs" % (tcp, tls, idle))


@case
def connections_per_certificate_are_capped(fed):
    held, closed = [], 0
    for _ in range(40):
        try:
            held.append(hx.H2(fed, "city", "operator"))
        except OSError:
            closed += 1
    time.sleep(1)
    for h in held:
        h.pump(0.2)
    open_ = [h for h in held if not h.closed]
    for h in held:
        h.close()
    assert len(open_) <= 32 and 40 - len(open_) >= 8, "open %d of 40" % len(open_)




@case
def the_node_keeps_serving(fed):
    _, sync_pb2, sync_grpc, _, _ = hx.stubs(fed)
    c = sync_grpc.SyncStub(hx.channel(fed, "city", "county"))
    r = c.Cursor(sync_pb2.CursorRequest(origin="430102"), timeout=10)
    assert r.origin == "430102", r


CASES = [wrong_roles_are_refused, operators_must_be_registered_and_registry_changes_need_the_role,
         unregistered_node_certificates_fail_the_handshake,
         oversized_requests_are_refused_naming_the_rule, concurrent_uploads_of_one_peer_are_bounded,
         streams_beyond_the_limit_are_refused, silent_connections_are_closed,
         connections_per_certificate_are_capped, the_node_keeps_serving]


def main():
    fed = hx.load_fed(sys.argv[1])
    only = sys.argv[2:]
    for c in CASES:
        if not only or c.__name__ in only:
            c(fed)
    if FAILED:
        print("FAILED: %s" % " ".join(FAILED))
        sys.exit(1)
    print("all %d cases passed" % len(CASES))


if __name__ == "__main__":
    main()
