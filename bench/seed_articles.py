#!/usr/bin/env python3
"""Creates the benchmark's template articles through the real API (so their stored JSON is
exactly what Galley renders): ~800-word bodies mixing English and Chinese, 1-3 authors,
3 tags, a banner image. Usage: seed_articles.py BASE_URL TOKEN COUNT IMAGE_ID...
"""
import json
import random
import sys
import urllib.request

base, token, count, images = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
random.seed(7)
WORDS = ("the city night music stage crowd drummer guitar festival summer river mountain "
         "village tea market train station photo story interview album release record "
         "swimming final gold medal coach team season fans street food noodle dumpling").split()
CJK = ["松弛感", "我的阿勒泰", "管静鹏", "北京", "上海", "音乐节", "摇滚", "夏天"]


def call(method, path, body):
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method=method,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def sentence():
    words = [random.choice(WORDS) for _ in range(random.randint(8, 16))]
    if random.random() < 0.3:
        words.insert(random.randrange(len(words)), random.choice(CJK))
    return " ".join(words).capitalize() + "."


for i in range(count):
    paragraphs = []
    while sum(len(p.split()) for p in paragraphs) < 800:
        paragraphs.append(" ".join(sentence() for _ in range(5)))
    markdown = "\n\n".join(
        (f"## {sentence()}" if n % 6 == 5 else p) for n, p in enumerate(paragraphs))
    call("POST", "/v1/articles", {
        "title": f"{sentence()[:-1]} {random.choice(CJK)} {i}",
        "subtitle": sentence(),
        "body_markdown": markdown,
        "authors": random.sample([f"bench-author-{n}" for n in range(1, 51)], random.randint(1, 3)),
        "tags": random.sample([f"bench-tag-{n}" for n in range(1, 101)], 3),
        "banner": {"image_id": random.choice(images), "credit": "Photo by Bench 小叶."},
        "featured": random.random() < 0.1,
        "status": "published",
    })
