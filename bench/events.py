"""Helpers of `bench/run events` (stdlib only; the receiver is examples/bench_receiver.rs).

  events.py follow BASE OUT        follows GET /v1/changes with long polls, writing one line
                                   "<arrival time> <id>" per entry to OUT
  events.py latency BASE TOKEN RECEIVER FEED N
                                   publishes N drafts one by one; prints how long each took to
                                   reach the receiver and the feed follower
"""

import json
import sys
import time
import urllib.request


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
    {"follow": follow, "latency": latency}[command](*args)
