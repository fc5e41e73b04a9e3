"""Schemathesis hooks for Galley: how to send an NDJSON import body.

An import body is one article per line; the document describes one line (`ArticleLine`), so a
generated value is sent as a single line.
"""
import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, bytes):
        return value
    return (json.dumps(value, ensure_ascii=False) + "\n").encode("utf-8")
