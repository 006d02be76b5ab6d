"""Shared parts of the independent hostile-peer suite: an outside gRPC stack (grpcio, stubs generated from the
project's .proto at run time) and raw HTTP/2 (the h2 package over Python's ssl) against real Gongxin nodes.

The federation is described by a JSON file the Rust test harness writes (tests/tests/it/hostile_suite.rs):
ports, pids, the CA certificate and certificate/key files of each role used here.
"""
import json
import os
import socket
import ssl
import subprocess
import sys
import time

import h2.config
import h2.connection
import h2.events


def load_fed(path):
    with open(path) as f:
        return json.load(f)


def stubs(fed):
    """Generates Python stubs from proto/ into fed['out'] (grpcio-tools) and imports them."""
    out = os.path.join(fed["out"], "pystubs")
    if not os.path.isdir(out):
        os.makedirs(out)
        protos = ["gongxin/common/v1/common.proto", "gongxin/sync/v1/sync.proto", "gongxin/audit/v1/audit.proto"]
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", "-I", fed["proto_dir"], "--python_out", out,
             "--grpc_python_out", out] + protos,
            check=True,
        )
        for d in ["gongxin", "gongxin/common", "gongxin/common/v1", "gongxin/sync", "gongxin/sync/v1",
                  "gongxin/audit", "gongxin/audit/v1"]:
            open(os.path.join(out, d, "__init__.py"), "a").close()
    if out not in sys.path:
        sys.path.insert(0, out)
    from gongxin.common.v1 import common_pb2
    from gongxin.sync.v1 import sync_pb2, sync_pb2_grpc
    from gongxin.audit.v1 import audit_pb2, audit_pb2_grpc
    return common_pb2, sync_pb2, sync_pb2_grpc, audit_pb2, audit_pb2_grpc


def server_name(code):
    return "n%s.gongxin.internal" % code


def channel(fed, node, role):
    import grpc
    cert, key = fed["certs"][role]
    creds = grpc.ssl_channel_credentials(
        root_certificates=open(fed["ca"], "rb").read(),
        private_key=open(key, "rb").read(),
        certificate_chain=open(cert, "rb").read(),
    )
    opts = [
        ("grpc.ssl_target_name_override", server_name(fed[node]["code"])),
        ("grpc.max_send_message_length", 256 << 20),
        ("grpc.max_receive_message_length", 256 << 20),
    ]
    return grpc.secure_channel("127.0.0.1:%d" % fed[node]["port"], creds, options=opts)


def tls_context(fed, role):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(fed["ca"])
    if role:
        cert, key = fed["certs"][role]
        ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])
    return ctx


def tls_connect(fed, node, role, timeout=10):
    raw = socket.create_connection(("127.0.0.1", fed[node]["port"]), timeout=timeout)
    s = tls_context(fed, role).wrap_socket(raw, server_hostname=server_name(fed[node]["code"]))
    return s


class H2:
    """A raw HTTP/2 client connection over mTLS: what a hostile peer can do that a gRPC library would not."""

    def __init__(self, fed, node, role, send_settings=True):
        self.fed, self.node = fed, node
        self.sock = tls_connect(fed, node, role)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        if send_settings:
            self.flush()
        self.responses = {}  # stream id -> dict of headers/trailers
        self.resets = {}
        self.closed = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def headers(self, path):
        return [
            (":method", "POST"), (":scheme", "https"), (":path", path),
            (":authority", server_name(self.fed[self.node]["code"])),
            ("content-type", "application/grpc"), ("te", "trailers"),
        ]

    def open_stream(self, path, body=b"", end=False):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, self.headers(path), end_stream=end and not body)
        if body:
            self.conn.send_data(sid, body, end_stream=end)
        self.flush()
        return sid

    def pump(self, seconds):
        """Reads events for up to `seconds`; returns False once the server closed the connection."""
        deadline = time.time() + seconds
        while time.time() < deadline and not self.closed:
            self.sock.settimeout(max(0.001, deadline - time.time()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ssl.SSLError, OSError):
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            for ev in self.conn.receive_data(data):
                if isinstance(ev, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                    self.responses.setdefault(ev.stream_id, {}).update(dict(ev.headers))
                elif isinstance(ev, h2.events.StreamReset):
                    self.resets[ev.stream_id] = ev.error_code
                elif isinstance(ev, h2.events.DataReceived):
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    self.closed = True
            try:
                self.flush()
            except OSError:
                self.closed = True
        return not self.closed

    def status(self, sid):
        h = self.responses.get(sid, {})
        return h.get("grpc-status"), h.get("grpc-message", "")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def grpc_frame(payload, declared=None):
    n = len(payload) if declared is None else declared
    return b"\x00" + n.to_bytes(4, "big") + payload


def rss_kib(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        parts = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(parts[11]) + int(parts[12])) / ticks
