#!/usr/bin/env python3
"""A Sippy Softswitch XML-RPC API simulator for tests.

It serves getAuditLogs on /xmlapi/xmlapi with Python's own XML-RPC server
(xmlrpc.server, allow_none so <nil/> values go out), behind HTTP Digest
authentication written per RFC 7616 (MD5 or SHA-256, qop=auth, nonce counts
checked, stale nonces refused with stale=true). The audit log grows while it
runs. /sim/* (no authentication) lets a test add records, inject faults and
read counters.

Prints "LISTENING <port>" on stdout once it accepts connections.
"""

import argparse
import hashlib
import hmac
import json
import os
import random
import socket
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
import socketserver
from xmlrpc.server import SimpleXMLRPCServer, SimpleXMLRPCRequestHandler
import xmlrpc.client

API_FORMAT = "%H:%M:%S.000 GMT %a %b %d %Y"
ACTIONS = [
    ("U", "accounts:i_account={n}:balance=1{n}"),
    ("A", "customers:i_customer={n}:name=cust{n}"),
    ("D", "tariffs:i_tariff={n}"),
    ("AUTH_OK", "customer:username=user{n}"),
    ("AUTH_FAIL", "account:username=user{n}"),
    ("PSWD_CHNG", "i_web_user={n}"),
    ("FUNDS", "add:i_account={n}:amount=10"),
    ("MFA_VRFY", "web_user:admin{n}:TOTP"),
]


def parse_api_date(s):
    return datetime.strptime(s, API_FORMAT).replace(tzinfo=timezone.utc)


class AuditLog:
    """The switch's audit log, kept sorted by (date, id)."""

    def __init__(self, order):
        self.lock = threading.Lock()
        self.records = []  # dicts; "_t" is the date as a datetime
        self.next_id = 1
        self.order = order

    def add(self, when, n=1, step=timedelta(0)):
        with self.lock:
            for i in range(n):
                rid = self.next_id
                self.next_id += 1
                action, res = ACTIONS[rid % len(ACTIONS)]
                t = when + step * i
                rec = {
                    "i_audit_log": rid,
                    "date": t.strftime(API_FORMAT),
                    "resource": res.format(n=rid),
                    "action": action,
                    "action_by": "u:1:%d:admin%d" % (3700 + rid % 3, rid % 3),
                    "user_ip": "192.0.2.%d" % (rid % 250 + 1),
                    # Sippy sends <nil/> for empty columns.
                    "node": None if rid % 2 else "node-%d" % (rid % 4),
                    "_t": t,
                }
                self.records.append(rec)
            if self.order == "date":
                self.records.sort(key=lambda r: (r["_t"], r.get("i_audit_log", 0)))
            return self.next_id - 1

    def add_hostile(self, when):
        """A record that is not a struct, and one whose date is unreadable."""
        with self.lock:
            rid = self.next_id
            self.next_id += 1
            self.records.append({"_t": when, "_raw": "garbage that is not a struct"})
            self.records.append({"i_audit_log": rid, "date": "yesterday", "action": "U",
                                 "resource": "accounts:i_account=1", "action_by": "u:1:2:x", "_t": when})
            if self.order == "date":
                self.records.sort(key=lambda r: (r["_t"], r.get("i_audit_log", 0)))
            return rid

    def query(self, start, end, limit, offset):
        with self.lock:
            sel = [r for r in self.records if start <= r["_t"] <= end]
            page = sel[offset:offset + limit]
            return [r["_raw"] if "_raw" in r else {k: v for k, v in r.items() if k != "_t"} for r in page]

    def count(self):
        with self.lock:
            return sum(1 for r in self.records if "_raw" not in r)


class State:
    def __init__(self, args):
        self.args = args
        self.log = AuditLog(args.order)
        self.lock = threading.Lock()
        self.faults = {}
        self.stats = {"calls": 0, "answered": 0, "records_served": 0, "auth_failures": 0,
                      "faults_sent": 0, "stale_nonces": 0}
        self.nonce_key = os.urandom(16)
        self.nc_seen = {}  # nonce -> highest nc

    def take_fault(self, name):
        with self.lock:
            n = self.faults.get(name, 0)
            if n > 0:
                self.faults[name] = n - 1
                return True
            return False

    def bump(self, k, n=1):
        with self.lock:
            self.stats[k] += n


def register(d, state):

    def getAuditLogs(p=None):
        p = p or {}
        if state.take_fault("xmlrpc_fault"):
            state.bump("faults_sent")
            raise xmlrpc.client.Fault(403, "Access denied: simulated fault")
        now = datetime.now(timezone.utc)
        try:
            start = parse_api_date(p["start_date"]) if "start_date" in p else now - timedelta(hours=1)
            end = parse_api_date(p["end_date"]) if "end_date" in p else start + timedelta(hours=1)
        except ValueError as e:
            raise xmlrpc.client.Fault(400, "bad date: %s" % e)
        limit = int(p.get("limit", 100))
        if limit <= 0 or limit > 100:
            limit = 100
        offset = int(p.get("offset", 0))
        ins = state.faults.get("insert_during_paging", 0)
        if offset > 0 and ins > 0:
            with state.lock:
                state.faults["insert_during_paging"] = 0
            # Late records dated at the end of the window being read.
            state.log.add(end - timedelta(seconds=1), n=ins)
        recs = state.log.query(start, end, limit, offset)
        state.bump("records_served", len(recs))
        return {"result": "OK", "records": recs}

    d.register_function(getAuditLogs)


class Handler(SimpleXMLRPCRequestHandler):
    rpc_paths = ("/xmlapi/xmlapi",)
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        if self.server.state.args.verbose:
            sys.stderr.write("sippysim: " + (fmt % a) + "\n")

    # --- digest authentication (RFC 7616) ---
    def H(self, s):
        alg = self.server.state.args.algorithm
        f = hashlib.sha256 if alg == "SHA-256" else hashlib.md5
        return f(s.encode()).hexdigest()

    def make_nonce(self):
        ts = "%.3f" % time.time()
        mac = hmac.new(self.server.state.nonce_key, ts.encode(), hashlib.sha256).hexdigest()[:32]
        return ts + "-" + mac

    def nonce_ok(self, nonce):
        try:
            ts, mac = nonce.split("-", 1)
        except ValueError:
            return False, False
        good = hmac.new(self.server.state.nonce_key, ts.encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(good, mac):
            return False, False
        fresh = time.time() - float(ts) < self.server.state.args.nonce_lifetime
        return True, fresh

    def challenge(self, stale=False):
        args = self.server.state.args
        body = b"401 Unauthorized\n"
        self.send_response(401)
        h = 'Digest realm="%s", qop="auth", algorithm=%s, nonce="%s", opaque="%s"' % (
            args.realm, args.algorithm, self.make_nonce(), "5ccc069c403ebaf9f0171e9517f40e41")
        if stale:
            h += ", stale=true"
        self.send_header("WWW-Authenticate", h)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def authorized(self):
        args = self.server.state.args
        if args.trusted:
            return True
        h = self.headers.get("Authorization", "")
        if not h.startswith("Digest "):
            self.challenge()
            return False
        fields = {}
        for part in parse_list(h[len("Digest "):]):
            if "=" in part:
                k, v = part.split("=", 1)
                fields[k.strip().lower()] = v.strip().strip('"')
        need = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")
        if any(k not in fields for k in need) or fields["qop"] != "auth":
            self.server.state.bump("auth_failures")
            self.challenge()
            return False
        valid, fresh = self.nonce_ok(fields["nonce"])
        if not valid:
            self.server.state.bump("auth_failures")
            self.challenge()
            return False
        if fields["uri"] != self.path or fields["realm"] != args.realm:
            self.server.state.bump("auth_failures")
            self.challenge()
            return False
        ha1 = self.H("%s:%s:%s" % (fields["username"], args.realm, args.password))
        ha2 = self.H("%s:%s" % (self.command, fields["uri"]))
        want = self.H(":".join([ha1, fields["nonce"], fields["nc"], fields["cnonce"], "auth", ha2]))
        if fields["username"] != args.username or not hmac.compare_digest(want, fields["response"]):
            self.server.state.bump("auth_failures")
            self.challenge()
            return False
        if not fresh:
            self.server.state.bump("stale_nonces")
            self.challenge(stale=True)
            return False
        # A nonce count must grow (RFC 7616 3.4: replay protection).
        nc = int(fields["nc"], 16)
        st = self.server.state
        with st.lock:
            if nc <= st.nc_seen.get(fields["nonce"], 0):
                replay = True
            else:
                replay = False
                st.nc_seen[fields["nonce"]] = nc
        if replay:
            st.bump("auth_failures")
            self.challenge()
            return False
        return True

    def abort(self):
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.close_connection = True

    def do_POST(self):
        st = self.server.state
        if self.path.startswith("/sim/"):
            return self.control()
        if st.faults.get("down"):
            # A switch that is down: the connection drops without an answer.
            self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            return self.abort()
        if not self.authorized():
            self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            return
        st.bump("calls")
        if st.take_fault("http_500"):
            self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            body = b"<html><body>500 Internal Server Error</body></html>"
            self.send_response(500)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if st.take_fault("slow"):
            time.sleep(st.args.slow_seconds)
        if st.take_fault("malformed"):
            self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            body = b"<?xml version='1.0'?>\n<methodResponse><params><param><value><struct><member><name>result</name>"
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        st.bump("answered")
        return super().do_POST()

    def do_GET(self):
        if self.path.startswith("/sim/"):
            return self.control()
        self.send_error(404)

    def control(self):
        st = self.server.state
        n = int(self.headers.get("Content-Length", 0) or 0)
        req = json.loads(self.rfile.read(n) or b"{}") if n else {}
        if self.path == "/sim/add":
            when = datetime.fromisoformat(req["date"].replace("Z", "+00:00")) if req.get("date") else datetime.now(timezone.utc)
            last = st.log.add(when, n=int(req.get("count", 1)), step=timedelta(milliseconds=int(req.get("step_ms", 0))))
            out = {"last_id": last}
        elif self.path == "/sim/add_hostile":
            when = datetime.fromisoformat(req["date"].replace("Z", "+00:00"))
            out = {"last_id": st.log.add_hostile(when)}
        elif self.path == "/sim/faults":
            with st.lock:
                st.faults.update(req)
            out = dict(st.faults)
        elif self.path == "/sim/stats":
            with st.lock:
                out = dict(st.stats)
            out["records"] = st.log.count()
        else:
            return self.send_error(404)
        body = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def parse_list(s):
    """Splits a comma-separated header list, respecting quoted strings."""
    out, cur, q = [], "", False
    for c in s:
        if c == '"':
            q = not q
        if c == "," and not q:
            out.append(cur.strip())
            cur = ""
        else:
            cur += c
    if cur.strip():
        out.append(cur.strip())
    return out


class Server(socketserver.ThreadingMixIn, SimpleXMLRPCServer):
    daemon_threads = True

    def __init__(self, addr, state):
        self.state = state
        SimpleXMLRPCServer.__init__(self, addr, requestHandler=Handler, logRequests=state.args.verbose,
                                    allow_none=True, encoding="utf-8")
        register(self, state)

    def handle_error(self, request, client_address):
        # Clients that drop the connection (a timeout, a collector killed
        # mid-call) are part of the tests, not errors of the simulator.
        if isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


def grow(state):
    per = state.args.grow_per_s
    while True:
        time.sleep(1.0)
        # Records show up a little after their date, as a busy switch's do.
        if state.faults.get("grow_paused"):
            continue
        when = datetime.now(timezone.utc) - timedelta(seconds=state.args.grow_delay_s)
        state.log.add(when, n=per)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--username", default="admin")
    ap.add_argument("--password", default="api-secret")
    ap.add_argument("--realm", default="sippy")
    ap.add_argument("--algorithm", choices=["MD5", "SHA-256"], default="MD5")
    ap.add_argument("--trusted", action="store_true", help="trusted mode: no authentication")
    ap.add_argument("--nonce-lifetime", type=float, default=300)
    ap.add_argument("--history", type=int, default=0, help="records in the log at start")
    ap.add_argument("--history-start", default="", help="RFC 3339 date of the first one")
    ap.add_argument("--history-step-ms", type=int, default=1000)
    ap.add_argument("--grow-per-s", type=int, default=0)
    ap.add_argument("--grow-delay-s", type=float, default=0)
    ap.add_argument("--order", choices=["date", "id"], default="date")
    ap.add_argument("--slow-seconds", type=float, default=5)
    ap.add_argument("--tls-cert", default="", help="serve HTTPS with this certificate (PEM)")
    ap.add_argument("--tls-key", default="", help="and this key (PEM)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    state = State(args)
    if args.history:
        start = datetime.fromisoformat(args.history_start.replace("Z", "+00:00"))
        state.log.add(start, n=args.history, step=timedelta(milliseconds=args.history_step_ms))
    srv = Server(("127.0.0.1", args.port), state)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    if args.grow_per_s:
        threading.Thread(target=grow, args=(state,), daemon=True).start()
    print("LISTENING %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
