#!/usr/bin/env python3
"""Loads a page in headless Chromium at a given window size and reports what a user would see.

Talks the DevTools protocol over --remote-debugging-pipe (fd 3 in, fd 4 out, messages ended by
NUL), so no port and no websocket library are needed. Prints one JSON object: the rendered
HTML, the document's scroll width against the viewport's (a page wider than a phone's screen
scrolls sideways), the HTTP status, and whether any script ran; writes a full-page PNG.

usage: chromium-page.py URL WIDTH HEIGHT SCREENSHOT [--cookie NAME=VALUE]
"""
import base64, json, os, shutil, subprocess, sys, tempfile, time


def main():
    url, width, height, screenshot = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    cookie = sys.argv[sys.argv.index("--cookie") + 1] if "--cookie" in sys.argv else None
    to_chrome_r, to_chrome_w = os.pipe()
    from_chrome_r, from_chrome_w = os.pipe()
    profile = tempfile.mkdtemp(prefix="strata-chromium-")

    def wire():
        # dup2 onto itself keeps close-on-exec, which Python sets on every pipe: clear it too.
        reader, writer = os.dup(to_chrome_r), os.dup(from_chrome_w)
        os.dup2(reader, 3)
        os.dup2(writer, 4)
        os.set_inheritable(3, True)
        os.set_inheritable(4, True)

    chrome = subprocess.Popen(
        [shutil.which("chromium") or "/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--remote-debugging-pipe", f"--user-data-dir={profile}", "about:blank"],
        # The pipes become fds 3 and 4 in the child only: nothing else may close them first.
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=wire, close_fds=False)
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    inbox = b""
    next_id = [0]
    events = []

    def receive(deadline):
        nonlocal inbox
        while b"\0" not in inbox:
            if time.time() > deadline:
                raise SystemExit("chromium did not answer in time")
            chunk = os.read(from_chrome_r, 1 << 20)
            if not chunk:
                raise SystemExit("chromium closed the pipe")
            inbox += chunk
        message, _, inbox = inbox.partition(b"\0")
        return json.loads(message)

    def call(method, params=None, session=None, timeout=30):
        next_id[0] += 1
        message = {"id": next_id[0], "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(to_chrome_w, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            answer = receive(deadline)
            if answer.get("id") == next_id[0]:
                if "error" in answer:
                    raise SystemExit(f"{method}: {answer['error']}")
                return answer.get("result", {})
            events.append(answer)

    def wait_for(method, timeout=30):
        deadline = time.time() + timeout
        while True:
            for event in events:
                if event.get("method") == method:
                    events.remove(event)
                    return event.get("params", {})
            events.append(receive(deadline))

    try:
        target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        call("Page.enable", session=session)
        call("Network.enable", session=session)
        call("Emulation.setDeviceMetricsOverride",
             {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}, session=session)
        if cookie:
            name, _, value = cookie.partition("=")
            call("Network.setCookie", {"name": name, "value": value, "url": url}, session=session)
        call("Page.navigate", {"url": url}, session=session)
        wait_for("Page.loadEventFired")
        status = None
        for event in events:
            if event.get("method") == "Network.responseReceived" and event["params"].get("type") == "Document":
                status = event["params"]["response"]["status"]
        measured = call("Runtime.evaluate", {"returnByValue": True, "expression":
            "JSON.stringify({html: document.documentElement.outerHTML, scrollWidth: document.documentElement.scrollWidth,"
            " innerWidth: window.innerWidth, scripts: document.scripts.length})"}, session=session)
        result = json.loads(measured["result"]["value"])
        result["status"] = status
        shot = call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session)
        with open(screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(json.dumps(result))
        try:
            call("Browser.close", timeout=5)
        except SystemExit:
            pass
    finally:
        try:
            chrome.wait(timeout=10)
        except subprocess.TimeoutExpired:
            chrome.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
