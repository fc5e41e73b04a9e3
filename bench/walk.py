#!/usr/bin/env python3
"""Walks Galley's paged reads the way a client does, following `next_cursor`.

  walk.py cursor BASE_URL PATH ITEMS   the cursor of the page that starts after ITEMS items of
                                       PATH (keyset paging, as deep as a reader could go)
  walk.py feed BASE_URL [TOKEN]        the change feed's initial state read to its end
                                       (limit=1000): entries, seconds, entries/s, MiB/s
"""
import json
import sys
import time
import urllib.parse
import urllib.request


def get(url, token=None):
    headers = {"authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
        body = response.read()
    return json.loads(body), len(body)


def with_params(url, **params):
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)


def deep_cursor(base, path, items):
    # Big steps with ids only, then the page size the reader uses: a cursor holds sort values,
    # not a page size, so it is the same cursor either way.
    cursor, seen = None, 0
    while seen < items:
        step = 100 if items - seen >= 100 else items - seen
        params = {"fields": "id", "limit": step}
        if cursor:
            params["cursor"] = cursor
        page, _ = get(with_params(base + path, **params))
        seen += len(page["data"])
        cursor = page["meta"]["next_cursor"]
        if not cursor:
            sys.exit(f"the list ended after {seen} items")
    print(cursor)


def feed(base, token):
    started, entries, size, cursor = time.monotonic(), 0, 0, None
    while True:
        params = {"limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page, length = get(with_params(base + "/v1/changes", **params), token)
        entries += len(page["data"])
        size += length
        cursor = page["meta"]["next_cursor"]
        # The initial state is read once a page comes back short: what follows is changes.
        if len(page["data"]) < 1000:
            break
    secs = time.monotonic() - started
    print(f"{entries} entries in {secs:.1f} s: {entries / secs:,.0f} entries/s, "
          f"{size / secs / 1048576:.1f} MiB/s")


if __name__ == "__main__":
    if sys.argv[1] == "cursor":
        deep_cursor(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "feed":
        feed(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    else:
        sys.exit(__doc__)
