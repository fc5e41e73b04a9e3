#!/usr/bin/env python3
"""Creates the benchmark's template articles through the real API (so their stored JSON is
exactly what Galley renders): ~800-word bodies mixing English-like and Chinese text, 1-3
authors, 3 tags, a banner image. Words follow a Zipf distribution over a 4,000-word vocabulary,
as in real prose, so a search word matches some articles rather than all of them.

Usage: seed_articles.py BASE_URL TOKEN COUNT QUERIES_OUT IMAGE_ID...
Writes search queries of realistic selectivity (mid-frequency words, Chinese phrases) to
QUERIES_OUT, one URL path a line; the most common words to QUERIES_OUT.common, and the rare
words the benchmark's SQL adds to some clones to QUERIES_OUT.rare.
"""
import itertools
import json
import random
import sys
import urllib.parse
import urllib.request

base, token, count, queries_out, images = (
    sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5:])
random.seed(7)

SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
VOCABULARY = sorted({"".join(random.sample(SYLLABLES, random.randint(2, 3))) for _ in range(6000)})[:4000]
random.shuffle(VOCABULARY)
WEIGHTS = list(itertools.accumulate(1 / rank for rank in range(1, len(VOCABULARY) + 1)))
HANZI = "松弛感我的阿勒泰管静鹏北京上海音乐节摇滚夏天城市夜晚舞台人群鼓手吉他河流山村茶市场火车站照片故事采访专辑金牌教练球队"
PHRASES = sorted({"".join(random.sample(HANZI, random.randint(2, 3))) for _ in range(400)})
PHRASES = ["松弛感", "我的阿勒泰", "管静鹏"] + PHRASES[:297]
PHRASE_WEIGHTS = list(itertools.accumulate(1 / rank for rank in range(1, len(PHRASES) + 1)))


def call(method, path, body):
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method=method,
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def sentence():
    words = random.choices(VOCABULARY, cum_weights=WEIGHTS, k=random.randint(8, 16))
    if random.random() < 0.3:
        words.insert(random.randrange(len(words)), random.choices(PHRASES, cum_weights=PHRASE_WEIGHTS)[0])
    return " ".join(words).capitalize() + "."


for i in range(count):
    paragraphs = []
    while sum(len(p.split()) for p in paragraphs) < 800:
        paragraphs.append(" ".join(sentence() for _ in range(5)))
    markdown = "\n\n".join(
        (f"## {sentence()}" if n % 6 == 5 else p) for n, p in enumerate(paragraphs))
    call("POST", "/v1/articles", {
        "title": f"{sentence()[:-1]} {random.choice(PHRASES[:20])} {i}",
        "subtitle": sentence(),
        "body_markdown": markdown,
        "authors": random.sample([f"bench-author-{n}" for n in range(1, 51)], random.randint(1, 3)),
        "tags": random.sample([f"bench-tag-{n}" for n in range(1, 101)], 3)
        + (["bench-tag-common"] if i % 5 == 0 else []),
        "banner": {"image_id": random.choice(images), "credit": "Photo by Bench 小叶."},
        "featured": random.random() < 0.1,
        "status": "published",
    })

# Queries a reader might type: words of middling frequency, two-word phrases, Chinese terms.
queries = VOCABULARY[200:1200:100] + [f"{VOCABULARY[300]} {VOCABULARY[900]}"] + ["松弛感", "阿勒泰", "管静鹏"]
# Common: the most frequent words and phrases (in most articles; ranked within the candidate
# cap). Rare: words the benchmark's SQL gives one clone in a thousand.
common = VOCABULARY[:3] + ["松弛感", "阿勒泰"]
rare = ["zephyrine", "冬奥"]
for path, words in ((queries_out, queries), (queries_out + ".common", common), (queries_out + ".rare", rare)):
    with open(path, "w") as out:
        for q in words:
            out.write("/v1/articles?q=" + urllib.parse.quote(q) + "\n")
