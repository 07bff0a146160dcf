#!/usr/bin/env python3
"""flaky-proxy.py LISTEN_PORT_FILE UPSTREAM_PORT CUT_AFTER_BYTES

A stdlib HTTP/1.1 reverse proxy on 127.0.0.1 (free port, written to LISTEN_PORT_FILE once
listening) to http://127.0.0.1:UPSTREAM_PORT. The Host header is passed through unchanged,
so docker-registry builds its Location URLs with the proxy's address.

The FIRST response to a `GET /v2/.../blobs/sha256:...` without a Range header whose body is
larger than CUT_AFTER_BYTES gets its full headers (Content-Length included) but only
CUT_AFTER_BYTES bytes of body, then the connection is closed. Everything else, including
later `Range: bytes=N-` requests (206 from the registry), passes through untouched.

One line per request is appended to flaky-proxy.log in LISTEN_PORT_FILE's folder:
  METHOD PATH RANGE-HEADER-OR-- STATUS
Prints nothing on stdout. Runs until killed.
"""
import http.client
import http.server
import os
import re
import socket
import sys
import threading

BLOB_PATH = re.compile(r"^/v2/.+/blobs/sha256:[0-9a-f]{64}$")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
              "trailer", "upgrade", "expect", "proxy-authenticate", "proxy-authorization"}
COPY_CHUNK = 64 * 1024


class State:
    upstream_port = 0
    cut_after = 0
    cut_done = False
    lock = threading.Lock()
    log_path = ""

    @classmethod
    def claim_cut(cls):
        with cls.lock:
            if cls.cut_done:
                return False
            cls.cut_done = True
            return True

    @classmethod
    def log(cls, method, path, range_header, status):
        with cls.lock:
            with open(cls.log_path, "a") as f:
                f.write("%s %s %s %s\n" % (method, path, range_header or "-", status))


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def read_request_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline()
                if not size_line:
                    raise ConnectionError("client closed during chunked body")
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after the chunk
            return b"".join(parts)
        length = self.headers.get("Content-Length")
        if length:
            return self.rfile.read(int(length))
        return None

    def proxy(self):
        path_only = self.path.split("?", 1)[0]
        range_header = self.headers.get("Range")
        status = "-"
        try:
            body = self.read_request_body()
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP
                       and k.lower() != "content-length"]
            if body is not None:
                headers.append(("Content-Length", str(len(body))))
            upstream = http.client.HTTPConnection("127.0.0.1", State.upstream_port, timeout=120)
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                upstream.putheader(k, v)
            upstream.endheaders(body)
            resp = upstream.getresponse()
        except Exception as e:  # upstream down, bad request body, ...
            self.close_connection = True
            try:
                msg = ("proxy error: %s\n" % e).encode()
                self.send_response(502)
                self.send_header("Content-Length", str(len(msg)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(msg)
            finally:
                State.log(self.command, self.path, range_header, 502)
            return
        status = resp.status
        State.log(self.command, self.path, range_header, status)

        length = resp.getheader("Content-Length")
        chunked = "chunked" in (resp.getheader("Transfer-Encoding") or "").lower()
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        cut = (self.command == "GET" and range_header is None and status == 200
               and BLOB_PATH.match(path_only) and length is not None
               and int(length) > State.cut_after and State.claim_cut())

        self.send_response_only(status, resp.reason)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP:
                self.send_header(k, v)
        if not no_body and length is None:
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
        self.end_headers()

        try:
            if no_body:
                resp.read()
            elif cut:
                self.wfile.write(resp.read(State.cut_after))
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            elif length is None and chunked:
                while True:
                    data = resp.read1(COPY_CHUNK)
                    if not data:
                        break
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.write(b"0\r\n\r\n")
            else:
                while True:
                    data = resp.read1(COPY_CHUNK) if hasattr(resp, "read1") else resp.read(COPY_CHUNK)
                    if not data:
                        break
                    self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            upstream.close()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_OPTIONS = proxy

    def log_message(self, fmt, *args):
        pass  # print nothing; the request log is flaky-proxy.log


def main():
    if len(sys.argv) != 4:
        sys.stderr.write("usage: flaky-proxy.py LISTEN_PORT_FILE UPSTREAM_PORT CUT_AFTER_BYTES\n")
        sys.exit(2)
    port_file = os.path.abspath(sys.argv[1])
    State.upstream_port = int(sys.argv[2])
    State.cut_after = int(sys.argv[3])
    State.log_path = os.path.join(os.path.dirname(port_file), "flaky-proxy.log")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    server.daemon_threads = True
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
