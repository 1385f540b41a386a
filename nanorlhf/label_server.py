"""
A page a class can label on: everyone ranks the same model's answers at once, in a browser.

    python -m nanorlhf.label --serve --out out/class_labels.jsonl       # http://127.0.0.1:8000
    python -m nanorlhf.label --serve --host 0.0.0.0 --out ...           # open to the classroom network
    python train_rm.py --comparisons out/class_labels.jsonl             # train on what the class labeled

The items, a prompt and K answers sampled from the SFT model, are made once at start with a
seed per prompt, exactly as the terminal tool (nanorlhf/label.py) makes them: everyone ranks
the same answers, so people can be compared, and a restart shows them again. A ranking is
one line of the comparisons file with the labeler's name, appended and forced to disk under
a lock the moment it arrives. The file is the whole state, read back at start, so a reload,
a restart or a crash loses nothing.

    GET  /                          the labeling page (nanorlhf/label_page.html)
    GET  /teacher                   the same page, showing the agreement matrix
    GET  /api/item?name=NAME        the next item NAME has not ranked: {index, number, total, prompt, responses}
    POST /api/rank                  {"name": NAME, "index": 3, "ranking": "3 1 4 2"} -> {saved, agreement}
    GET  /api/agreement?name=NAME   NAME against the rest of the class and each scripted labeler
    GET  /api/matrix                every labeler against every other: lesson 04's inter-labeler agreement,
                                    and each person's median seconds per ranking (from showing to submitting)

A refused request gets 400 (malformed) or 409 (already ranked) and {"error": "one line"}.
"""
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import numpy as np

from nanorlhf.data import iter_jsonl
from nanorlhf.feedback import (agreement, append_record, drop_cut_last_line, gold_scores, parse_comparison,
                               parse_ranking, prompt_responses)
from nanorlhf.tinychat import labeler
from nanorlhf.tinychat.panel import GUIDELINES, PANEL, rank_as

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "label_page.html")
MAX_NAME = 40        # characters in a labeler's name
MAX_BODY = 10_000    # bytes in a POST body


def scripted_labelers():
    """The scripted labelers the class is compared with: name -> rank(prompt, responses, rng),
    which returns response indices, best first. The one place to list them: the gold order,
    and lesson 04's panel (nanorlhf/tinychat/panel.py: the guidelines' labeler and five
    profiles), each with its own noise."""
    labelers = {"gold": lambda prompt, responses, rng: labeler.rank(prompt, responses, noise=0)}
    for name, profile in {GUIDELINES.name: GUIDELINES, **PANEL}.items():
        labelers[name] = lambda prompt, responses, rng, profile=profile: rank_as(profile, prompt, responses, rng)
    return labelers


def scripted_rankings(items, seed):
    """Each scripted labeler's ranking of every item: {name: {item index: ranking}}. The noise
    is drawn from a seed per labeler and item: a restart gives the same rankings, and no two
    labelers share their slips."""
    rankings = {}
    for k, (name, rank) in enumerate(scripted_labelers().items()):   # each labeler its own noise
        rankings[name] = {item["index"]: rank(item["prompt"], item["responses"],
                                              np.random.default_rng([seed, k, item["index"]])) for item in items}
    return rankings


def make_items(model, tokenizer, prompts, k, seed):
    """The prompts and their k answers to rank: [{"index", "prompt", "responses"}, ...]."""
    return [{"index": i, "prompt": p, "responses": prompt_responses(model, tokenizer, p, i, k, seed)}
            for i, p in enumerate(prompts)]


def pair_agreement(a, b, ties):
    """(agree, pairs): on the items both labelers ranked ({item index: ranking, best first}),
    the pairs of responses they order the same way, of all pairs. Pairs no one can order are
    left out: equal ties[index][i] and ties[index][j] (gold scores, or the texts themselves).

    pair_agreement({0: [0, 1, 2]}, {0: [1, 0, 2], 1: [0, 1]}, {0: ["a", "b", "c"]}) -> (2, 3)
    """
    shared = sorted(a.keys() & b.keys())
    records = [{"ranking": a[i]} for i in shared]
    # b's ranking as scores, higher is better: the best response gets 0, the next -1, ...
    scores = [[-b[i].index(j) for j in range(len(b[i]))] for i in shared]
    return agreement(records, scores, [ties[i] for i in shared])


class Refused(Exception):
    """A request the server turns down: an HTTP status and a one-line message for the page."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def check_name(name, reserved=()):
    """A labeler's name, trimmed: '  Ada ' -> 'Ada'. Empty, overlong or reserved names are refused."""
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise Refused(400, f"type a name of 1 to {MAX_NAME} characters")
    if name in reserved:
        raise Refused(400, f"{name!r} is the name of a scripted labeler; choose another")
    return name


def read_rankings(path, items):
    """Every ranking saved in `path`: {labeler's name: {item index: ranking}}, and the seconds
    each took where measured: {name: [seconds, ...]}. A line that ranks other answers than
    `items` (another model or settings) stops the program with one line."""
    rankings, seconds = {}, {}
    for lineno, record in iter_jsonl(path):
        if record.get("skipped"):   # the terminal tool's skipped prompts
            continue
        try:
            parse_comparison(record, f"{path}:{lineno}")
        except ValueError as e:
            raise SystemExit(f"error: {e}") from None
        index, name = record.get("index"), record.get("labeler")
        if not isinstance(name, str) or not isinstance(index, int) or not 0 <= index < len(items) \
                or record["responses"] != items[index]["responses"]:
            raise SystemExit(f"error: {path}:{lineno} is not a ranking of these answers by a named labeler "
                             "(another checkpoint, --seed, -k or -n?); serve with the same settings, or "
                             "choose another --out")
        rankings.setdefault(name, {})[index] = record["ranking"]
        if isinstance(record.get("seconds"), (int, float)):
            seconds.setdefault(name, []).append(record["seconds"])
    return rankings, seconds


class ClassLabels:
    """The items and every ranking in the comparisons file. One lock covers the check for a
    duplicate, the append to the file and the update of the rankings."""

    def __init__(self, path, items, seed):
        self.path, self.items, self.lock = path, items, threading.Lock()
        self.shown = {}   # (name, item index) -> when the item was last shown to that person
        open(path, "a").close()
        self.cut = drop_cut_last_line(path)   # a crash mid-write: the rest of the file reads again
        # name -> {item index: ranking, best first}; name -> [seconds per ranking, where measured]
        self.rankings, self.seconds = read_rankings(path, items)
        # pairs no one can order are left out of every agreement: equal gold scores, or, for
        # prompts without a gold score (and so without scripted labelers), identical texts
        gold = all(labeler.can_score(item["prompt"]) for item in items)
        self.scripted = scripted_rankings(items, seed) if gold else {}
        self.ties = gold_scores(items) if gold else [item["responses"] for item in items]

    def next_item(self, name):
        """The first item `name` has not ranked, with its place in the queue; or {"done": True}."""
        with self.lock:
            done = set(self.rankings.get(name, {}))
        total = len(self.items)
        for item in self.items:
            if item["index"] not in done:
                with self.lock:
                    self.shown[name, item["index"]] = time.monotonic()
                return {**item, "number": len(done) + 1, "total": total}
        return {"done": True, "total": total}

    def add(self, name, index, answer):
        """Check one submission and append it to the file -> the record saved, or raise Refused."""
        name = check_name(name, self.scripted)
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.items):
            raise Refused(400, f"no item {index!r}: items are numbered 0 to {len(self.items) - 1}")
        if not isinstance(answer, str):
            raise Refused(400, "send the ranking as text, e.g. \"3 1 4 2\"")
        item = self.items[index]
        ranking = parse_ranking(answer, len(item["responses"]))
        if isinstance(ranking, str):
            raise Refused(400, f"not a ranking: {ranking}")
        record = {"index": index, "prompt": item["prompt"], "responses": item["responses"], "ranking": ranking,
                  "labeler": name, "time": time.strftime("%Y-%m-%d %H:%M:%S")}
        with self.lock:
            if index in self.rankings.get(name, {}):
                raise Refused(409, f"{name} has already ranked this prompt")
            if (name, index) in self.shown:   # the effort of a judgment, for lesson 04's cost model
                record["seconds"] = round(time.monotonic() - self.shown.pop((name, index)), 1)
            append_record(self.path, record)
            self.rankings.setdefault(name, {})[index] = ranking
            if "seconds" in record:
                self.seconds.setdefault(name, []).append(record["seconds"])
        return record

    def agreement_of(self, name):
        """How often `name` orders a pair as the rest of the class does (pooled over everyone
        else) and as each scripted labeler does: {"ranked", "class": [agree, pairs], "scripted": {...}}."""
        with self.lock:
            mine = dict(self.rankings.get(name, {}))
            others = [dict(r) for other, r in self.rankings.items() if other != name]
        agree, pairs = 0, 0
        for other in others:
            a, n = pair_agreement(mine, other, self.ties)
            agree, pairs = agree + a, pairs + n
        return {"ranked": len(mine), "class": [agree, pairs],
                "scripted": {s: list(pair_agreement(mine, r, self.ties)) for s, r in self.scripted.items()}}

    def matrix(self):
        """Every labeler against every other: {"labelers", "ranked", "cells": [[agree, pairs], ...]}."""
        with self.lock:
            rankings = {name: dict(r) for name, r in self.rankings.items()}
            seconds = {name: float(np.median(s)) for name, s in self.seconds.items()}
        rankings.update(self.scripted)
        names = list(rankings)
        cells = [[list(pair_agreement(rankings[a], rankings[b], self.ties)) for b in names] for a in names]
        return {"labelers": names, "scripted": list(self.scripted), "ranked": [len(rankings[n]) for n in names],
                "seconds": [seconds.get(n) for n in names], "cells": cells}


class Handler(BaseHTTPRequestHandler):
    """The endpoints of the module docstring; the ClassLabels are self.server.labels."""

    def do_GET(self):
        url = urlparse(self.path)
        name = parse_qs(url.query).get("name", [""])[0]
        labels = self.server.labels
        try:
            if url.path in ("/", "/teacher"):
                with open(PAGE, "rb") as f:
                    self.send(200, f.read(), "text/html; charset=utf-8")
            elif url.path == "/api/item":
                self.send_json(200, labels.next_item(check_name(name)))
            elif url.path == "/api/agreement":
                self.send_json(200, labels.agreement_of(check_name(name)))
            elif url.path == "/api/matrix":
                self.send_json(200, labels.matrix())
            else:
                self.send_json(404, {"error": f"no page {url.path}"})
        except Refused as e:
            self.send_json(e.status, {"error": str(e)})

    def do_POST(self):
        try:
            if urlparse(self.path).path != "/api/rank":
                raise Refused(404, f"no page {self.path}")
            data = self.read_json()
            missing = [key for key in ("name", "index", "ranking") if key not in data]
            if missing:
                raise Refused(400, f"missing {', '.join(missing)}: send {{\"name\", \"index\", \"ranking\"}}")
            record = self.server.labels.add(data["name"], data["index"], data["ranking"])
            print(f"{record['labeler']} ranked prompt {record['index']}: {data['ranking'].strip()}", flush=True)
            self.send_json(200, {"saved": True, "agreement": self.server.labels.agreement_of(record["labeler"])})
        except Refused as e:
            self.send_json(e.status, {"error": str(e)})

    def read_json(self):
        """The request's body as a JSON object, or Refused."""
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise Refused(400, "send a JSON body with its Content-Length") from None
        if not 0 < length <= MAX_BODY:
            raise Refused(400, f"send a JSON body of 1 to {MAX_BODY} bytes")
        try:
            data = json.loads(self.rfile.read(length))
        except (ValueError, UnicodeDecodeError):
            raise Refused(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise Refused(400, "send a JSON object: {\"name\", \"index\", \"ranking\"}")
        return data

    def send_json(self, status, obj):
        self.send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8")

    def send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):   # one line per saved ranking instead (do_POST)
        pass


def make_server(model, tokenizer, prompts, path, k, seed, host="127.0.0.1", port=8000):
    """Sample the items, read back the file and bind the address -> (server, labels). The
    server answers once its serve_forever() runs (port 0 picks a free port: server.server_port)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    labels = ClassLabels(path, make_items(model, tokenizer, prompts, k, seed), seed)
    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as e:   # the port is taken, or the address is not this machine's
        raise SystemExit(f"error: cannot serve on {host}:{port} ({e.strerror}); choose another --port "
                         f"(or --host)") from None
    server.daemon_threads = True
    server.labels = labels
    return server, labels


def serve(model, tokenizer, prompts, path, k, seed, host, port, say=print):
    """python -m nanorlhf.label --serve: make the server, say where it is, serve until Ctrl-C."""
    server, labels = make_server(model, tokenizer, prompts, path, k, seed, host, port)
    if labels.cut:
        say(f"the last line of {path} was cut short (a crash while it was saved); it is dropped")
    saved = sum(len(r) for r in labels.rankings.values())
    say(f"{len(labels.items)} prompts with {k} answers each; {saved} rankings by {len(labels.rankings)} "
        f"people already in {path}")
    address = "127.0.0.1" if host in ("", "0.0.0.0") else host
    say(f"labeling page: http://{address}:{server.server_port}/  (the teacher's agreement matrix: /teacher)")
    if host in ("", "0.0.0.0"):
        say("open to the network: others use this machine's address instead of 127.0.0.1")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        say(f"\nstopped; every ranking is in {path}: python train_rm.py --comparisons {path}")
    finally:
        server.server_close()
