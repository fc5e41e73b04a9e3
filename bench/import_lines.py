#!/usr/bin/env python3
"""Writes an NDJSON import file of N articles: ~800 Zipfian words of mixed English and Chinese
as Markdown, 2 authors and 3 tags given by name (created on first use), published, each with
an external_id.

Usage: import_lines.py N OUT
"""
import itertools
import json
import random
import sys

count, out_path = int(sys.argv[1]), sys.argv[2]
random.seed(11)
SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
VOCABULARY = sorted({"".join(random.sample(SYLLABLES, random.randint(2, 3))) for _ in range(6000)})[:4000]
random.shuffle(VOCABULARY)
WEIGHTS = list(itertools.accumulate(1 / rank for rank in range(1, len(VOCABULARY) + 1)))
PHRASES = ["松弛感", "我的阿勒泰", "管静鹏", "音乐节", "北京", "摇滚", "夏天", "采访"]
AUTHORS = [f"Import Author {n}" for n in range(1, 201)]
TAGS = [f"Import Tag {n}" for n in range(1, 301)]


def sentence():
    words = random.choices(VOCABULARY, cum_weights=WEIGHTS, k=random.randint(8, 16))
    if random.random() < 0.3:
        words.insert(random.randrange(len(words)), random.choice(PHRASES))
    return " ".join(words).capitalize() + "."


# A pool of bodies, reused with variations: generating 100,000 distinct 800-word bodies in
# Python would take longer than importing them.
BODIES = []
for _ in range(200):
    paragraphs = []
    while sum(len(p.split()) for p in paragraphs) < 800:
        paragraphs.append(" ".join(sentence() for _ in range(5)))
    BODIES.append(paragraphs)

with open(out_path, "w") as out:
    for i in range(count):
        paragraphs = list(random.choice(BODIES))
        paragraphs[0] = f"Story {i}: {sentence()} {paragraphs[0]}"
        markdown = "\n\n".join((f"## {sentence()}" if n % 6 == 5 else p) for n, p in enumerate(paragraphs))
        line = {
            "external_id": f"import-{i}",
            "title": f"{sentence()[:-1]} {i}",
            "body_markdown": markdown,
            "authors": [{"name": a} for a in random.sample(AUTHORS, 2)],
            "tags": [{"name": t} for t in random.sample(TAGS, 3)],
            "status": "published",
            "published_at": f"2024-{i % 12 + 1:02d}-{i % 28 + 1:02d}T{i % 24:02d}:00:00Z",
        }
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
