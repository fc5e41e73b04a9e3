"""Helpers of `bench/run events` (stdlib only).

  events.py receive PORT           a webhook receiver: 200 to every POST; GET /stats gives
                                   {"count", "first", "last"}, GET /seen/ID when the
                                   article.published of article ID arrived
  events.py follow BASE OUT        follows GET /v1/changes with long polls, writing one line
                                   "<arrival time> <id>" per entry to OUT
  events.py latency BASE TOKEN RECEIVER FEED N
                                   publishes N drafts one by one; prints how long each took to
                                   reach the receiver and the feed follower
"""

import json
import socket
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def receive(port):
    lock = threading.Lock()
    stats = {"count": 0, "first": None, "last": None, "by_id": {}}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def setup(self):
            super().setup()
            # The status line and the body are written apart; without this, Nagle and the
            # client's delayed ACK cost 40 ms an answer, and the receiver was the bottleneck.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            now = time.time()
            try:
                event = json.loads(body)
            except ValueError:
                event = {}
            with lock:
                stats["count"] += 1
                stats["first"] = stats["first"] or now
                stats["last"] = now
                if event.get("type") == "article.published":
                    stats["by_id"][event["data"]["id"]] = now
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_GET(self):
            # /stats: counts and times; /seen/<article id>: when its article.published came
            # (a full dump of 100,000 arrivals took longer to encode than a delivery takes).
            with lock:
                if self.path.startswith("/seen/"):
                    body = json.dumps(stats["by_id"].get(self.path[len("/seen/"):])).encode()
                else:
                    body = json.dumps({k: v for k, v in stats.items() if k != "by_id"}).encode()
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()


def get(url, token=None):
    request = urllib.request.Request(url)
    if token:
        request.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(request, timeout=90) as response:
        return json.loads(response.read())


def follow(base, out):
    cursor = None
    with open(out, "a", buffering=1) as log:
        # The initial state first, then changes, each page as soon as it commits.
        while True:
            query = "limit=1000&wait=30" + (f"&cursor={cursor}" if cursor else "")
            page = get(f"{base}/v1/changes?{query}")
            now = time.time()
            for entry in page["data"]:
                log.write(f"{now} {entry['id']}\n")
            cursor = page["meta"]["next_cursor"]


def post(url, token, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("authorization", "Bearer " + token)
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def latency(base, token, receiver, feed, n):
    to_hook, to_feed = [], []
    for i in range(int(n)):
        draft = post(f"{base}/v1/articles", token, {"title": f"Latency probe {i}", "body_markdown": "Probe."})
        started = time.time()
        post(f"{base}/v1/articles/{draft['id']}/publish", token, {})
        hook = seen = None
        while (hook is None or seen is None) and time.time() - started < 10:
            if hook is None:
                hook = get(f"{receiver}/seen/{draft['id']}")
            if seen is None:
                with open(feed) as lines:
                    for line in lines:
                        at, entry = line.split()
                        if entry == draft["id"]:
                            seen = float(at)
            time.sleep(0.005)
        to_hook.append((hook or float("inf")) - started)
        to_feed.append((seen or float("inf")) - started)
    for name, values in (("publish → webhook received", to_hook), ("publish → long-poll feed", to_feed)):
        values.sort()
        print(f"{name:30} p50 {values[len(values) // 2] * 1000:7.1f} ms   max {values[-1] * 1000:7.1f} ms  (n={len(values)})")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"receive": receive, "follow": follow, "latency": latency}[command](*args)
