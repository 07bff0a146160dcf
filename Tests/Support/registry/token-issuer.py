#!/usr/bin/env python3
"""A tiny Docker-registry token issuer for tests (Python stdlib + the openssl CLI).

Started by start-registry.sh in token mode; it listens on a free 127.0.0.1 port and writes
that port to --port-file once listening.

  GET /token?service=S&scope=repository:NAME:pull,push[&scope=...]
      Authorization: Basic strata:s3cret  -> 200, every action asked for
      no Authorization header             -> 200, only "pull" (like Docker Hub anonymous)
      any other Authorization             -> 401
  POST /token  (OAuth2 form, grant_type=password, username, password, service, scope)
      -> 200 with access_token if the credentials match, else 401
  GET /healthz -> 200 (not logged)

Reply: {"token", "access_token", "expires_in", "issued_at"} where the token is an RS256 JWT
signed with `openssl dgst -sha256 -sign KEY`, header {"typ","alg","x5c":[DER cert]} (or
"kid", libtrust format, with --header kid), claims iss, sub, aud (= service), exp, nbf,
iat, jti, access [{type, name, actions}].

Each /token request served appends one line "METHOD PATH WHO STATUS" to --log, where WHO
is the user name, "anonymous" or "invalid", so a test can count token fetches.
"""
import argparse
import base64
import binascii
import datetime
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def pem_body(pem_text, label):
    begin, end = "-----BEGIN %s-----" % label, "-----END %s-----" % label
    start = pem_text.index(begin) + len(begin)
    return base64.b64decode("".join(pem_text[start:pem_text.index(end, start)].split()))


def libtrust_kid(spki_der):
    """libtrust KeyID: SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32,
    12 groups of 4 characters joined by ':'."""
    b32 = base64.b32encode(hashlib.sha256(spki_der).digest()[:30]).decode("ascii")
    return ":".join(b32[i:i + 4] for i in range(0, 48, 4))


def parse_scope(scope):
    """'repository:NAME:pull,push' -> (type, class, name, [actions]); NAME may hold ':'."""
    first, last = scope.find(":"), scope.rfind(":")
    if first < 0 or first == last:
        return None
    rtype, name, actions = scope[:first], scope[first + 1:last], scope[last + 1:]
    rclass = None
    if rtype.endswith(")") and "(" in rtype:
        rtype, rclass = rtype[:-1].split("(", 1)
    return rtype, rclass, name, [a for a in actions.split(",") if a]


class Issuer:
    def __init__(self, args):
        self.args = args
        cert_pem = open(args.cert).read()
        header = {"typ": "JWT", "alg": "RS256"}
        if args.header == "kid":
            pub_pem = subprocess.run(
                ["openssl", "x509", "-in", args.cert, "-pubkey", "-noout"],
                check=True, capture_output=True, text=True).stdout
            header["kid"] = libtrust_kid(pem_body(pub_pem, "PUBLIC KEY"))
        else:
            header["x5c"] = [base64.b64encode(pem_body(cert_pem, "CERTIFICATE")).decode("ascii")]
        self.header_b64 = b64url(json.dumps(header, separators=(",", ":")).encode())
        self.log_lock = threading.Lock()

    def sign(self, claims):
        payload = self.header_b64 + "." + b64url(json.dumps(claims, separators=(",", ":")).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.args.key],
                             input=payload.encode("ascii"), check=True, capture_output=True).stdout
        return payload + "." + b64url(sig)

    def token_reply(self, user, service, scopes):
        now = int(time.time())
        access = []
        for raw in scopes:
            for one in raw.split():
                parsed = parse_scope(one)
                if parsed is None:
                    continue
                rtype, rclass, name, actions = parsed
                if user is None:  # anonymous: pull only
                    actions = [a for a in actions if a == "pull"]
                if not actions:
                    continue
                entry = {"type": rtype, "name": name, "actions": actions}
                if rclass:
                    entry["class"] = rclass
                access.append(entry)
        claims = {
            "iss": self.args.issuer,
            "sub": user or "",
            "aud": service or "",
            "exp": now + self.args.expires_in,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = self.sign(claims)
        issued = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        return {
            "token": token,
            "access_token": token,
            "expires_in": self.args.expires_in,
            "issued_at": issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def log(self, line):
        with self.log_lock:
            with open(self.args.log, "a") as f:
                f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    issuer = None  # set in main

    def send_json(self, status, obj, extra_headers=()):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def unauthorized(self, who):
        self.issuer.log("%s %s %s 401" % (self.command, self.path, who))
        self.send_json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                       [("WWW-Authenticate", 'Basic realm="strata-token-issuer"')])

    def check(self, user, password):
        return user == self.issuer.args.user and password == self.issuer.args.password

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            return self.send_json(200, {"ok": True})
        if url.path != "/token":
            return self.send_json(404, {"error": "not found"})
        query = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization")
        user = None
        if auth is not None:
            scheme, _, cred = auth.partition(" ")
            try:
                name, _, password = base64.b64decode(cred.strip(), validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return self.unauthorized("invalid")
            if scheme.lower() != "basic" or not self.check(name, password):
                return self.unauthorized("invalid")
            user = name
        reply = self.issuer.token_reply(user, query.get("service", [""])[0], query.get("scope", []))
        self.issuer.log("%s %s %s 200" % (self.command, self.path, user or "anonymous"))
        self.send_json(200, reply)

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        if url.path != "/token":
            return self.send_json(404, {"error": "not found"})
        get = lambda k: form.get(k, [""])[0]
        if get("grant_type") != "password":
            self.issuer.log("%s %s %s 400" % (self.command, self.path, "invalid"))
            return self.send_json(400, {"error": "unsupported_grant_type"})
        if not self.check(get("username"), get("password")):
            return self.unauthorized("invalid")
        reply = self.issuer.token_reply(get("username"), get("service"), form.get("scope", []))
        reply["scope"] = " ".join(form.get("scope", []))
        self.issuer.log("%s %s %s 200" % (self.command, self.path, get("username")))
        self.send_json(200, reply)

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--issuer", default="strata-token-issuer")
    p.add_argument("--user", default="strata")
    p.add_argument("--password", default="s3cret")
    p.add_argument("--expires-in", type=int, default=300)
    p.add_argument("--header", choices=["x5c", "kid"], default="x5c")
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()

    Handler.issuer = Issuer(args)
    open(args.log, "a").close()  # exists (empty) from the start: zero requests so far
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
