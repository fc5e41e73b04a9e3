"""A Galley webhook receiver that verifies every delivery (Standard Webhooks), stdlib only.

    GALLEY_WEBHOOK_SECRET=whsec_… python3 examples/webhooks/receiver.py 8787

Answers 204 to a delivery whose signature verifies and is at most 5 minutes old, 400 to
anything else. During a secret rotation Galley signs with both secrets; either verifying is
enough. Deliveries come at least once: keep `webhook-id`s you have handled and skip repeats.
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = base64.b64decode(os.environ["GALLEY_WEBHOOK_SECRET"].removeprefix("whsec_"))
TOLERANCE_SECONDS = 300
seen = set()


def verified(headers, body):
    msg_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(SECRET, signed, hashlib.sha256).digest()).decode()
    given = [s.removeprefix("v1,") for s in headers.get("webhook-signature", "").split()]
    return any(hmac.compare_digest(expected, s) for s in given)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if not verified(self.headers, body):
            self.send_response(400)
            self.end_headers()
            return
        msg_id = self.headers["webhook-id"]
        if msg_id not in seen:
            seen.add(msg_id)
            event = json.loads(body)
            # Purge what changed from your CDN here, e.g. Fastly: POST /service/{id}/purge with
            # the header surrogate-key: " ".join(event["data"]["purge_keys"]).
            print(event["type"], event["data"].get("slug"), event["data"].get("purge_keys"), flush=True)
        self.send_response(204)
        self.end_headers()


if __name__ == "__main__":
    HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8787), Receiver).serve_forever()
