"""
The class labeling page's server over real HTTP: every endpoint, many people submitting at
once, malformed and duplicate submissions refused with nothing written, and a restart (or a
crash mid-write) that loses nothing and shows the same answers. Agreement is checked against
a plain loop over the pairs of responses.
"""
import http.client
import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from nanorlhf.label import main
from nanorlhf.label_server import make_server, pair_agreement
from nanorlhf.tinychat import labeler
from nanorlhf.tinychat.panel import GUIDELINES, PANEL

from conftest import K, PROMPTS, SEED, running


def get(url):
    """-> (status, body); JSON bodies are parsed."""
    try:
        with urllib.request.urlopen(url) as response:
            status, body, kind = response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as e:
        status, body, kind = e.code, e.read(), e.headers["Content-Type"]
    return status, json.loads(body) if kind.startswith("application/json") else body.decode()


def post(url, body):
    """POST `body` (an object, sent as JSON, or raw bytes) to /api/rank -> (status, parsed JSON)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url + "/api/rank", data, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def reference_agreement(a, b, scores):
    """A plain loop over every pair i < j: (pairs both order the same way, pairs counted),
    leaving out pairs with equal gold scores."""
    agree = total = 0
    for i in range(len(scores)):
        for j in range(i + 1, len(scores)):
            if scores[i] != scores[j]:
                total += 1
                agree += (a.index(i) < a.index(j)) == (b.index(i) < b.index(j))
    return agree, total


def test_pair_agreement_by_hand():
    # pairs (0, 1) disagree, (0, 2) and (1, 2) agree; item 1 is ranked by one labeler only
    assert pair_agreement({0: [0, 1, 2]}, {0: [1, 0, 2], 1: [0, 1]}, {0: ["a", "b", "c"]}) == (2, 3)
    # responses 0 and 2 tie (same gold score): that pair is left out
    assert pair_agreement({0: [0, 1, 2]}, {0: [2, 1, 0]}, {0: [1.0, 0.5, 1.0]}) == (0, 2)
    assert pair_agreement({0: [0, 1, 2]}, {1: [0, 1, 2]}, {0: [1, 2, 3], 1: [1, 2, 3]}) == (0, 0)


def test_the_page_and_the_items(tiny_gpt, tmp_path):
    with running(tiny_gpt, tmp_path / "labels.jsonl") as (url, _):
        for page in ("/", "/teacher"):
            status, html = get(url + page)
            assert status == 200 and 'id="ranking"' in html and "<script>" in html
        status, item = get(url + "/api/item?name=Ada")
        assert status == 200 and (item["index"], item["number"], item["total"]) == (0, 1, len(PROMPTS))
        assert item["prompt"] == PROMPTS[0] and len(item["responses"]) == K
        assert get(url + "/api/item?name=%20%20")[0] == 400          # a blank name
        assert get(url + "/api/item")[0] == 400
        assert get(url + "/nothing")[0] == 404


def test_a_ranking_is_saved_at_once_with_the_name_and_the_next_item_follows(tiny_gpt, tmp_path):
    path = tmp_path / "labels.jsonl"
    with running(tiny_gpt, path) as (url, labels):
        status, saved = post(url, {"name": "  Ada ", "index": 0, "ranking": "3 1 2"})
        assert status == 200 and saved["saved"]
        [record] = lines(path)                      # on disk before the answer came back
        assert record["labeler"] == "Ada" and record["ranking"] == [2, 0, 1]
        assert record["prompt"] == PROMPTS[0] and record["responses"] == labels.items[0]["responses"]
        assert get(url + "/api/item?name=Ada")[1]["index"] == 1
        assert get(url + "/api/item?name=Ben")[1]["index"] == 0
        # the answer carries the agreement: with the gold order, as a plain loop counts it
        gold_scores = [labeler.score(PROMPTS[0], y) for y in record["responses"]]
        gold_order = labeler.rank(PROMPTS[0], record["responses"], noise=0)
        assert saved["agreement"]["scripted"]["gold"] == list(reference_agreement([2, 0, 1], gold_order, gold_scores))
        assert saved["agreement"]["class"] == [0, 0] and saved["agreement"]["ranked"] == 1


def test_each_ranking_records_the_seconds_since_its_prompt_was_shown(tiny_gpt, tmp_path, monkeypatch):
    """The effort of a judgment, measured: lesson 04's cost model can be checked on a class."""
    import nanorlhf.label_server as server
    clock = iter([100.0, 112.5, 130.0, 134.0])   # shown, ranked; shown, ranked
    monkeypatch.setattr(server.time, "monotonic", lambda: next(clock))
    path = tmp_path / "labels.jsonl"
    with running(tiny_gpt, path) as (url, labels):
        assert get(url + "/api/item?name=Ada")[1]["index"] == 0
        post(url, {"name": "Ada", "index": 0, "ranking": "1 2 3"})
        assert get(url + "/api/item?name=Ada")[1]["index"] == 1
        post(url, {"name": "Ada", "index": 1, "ranking": "1 2 3"})
        post(url, {"name": "Ben", "index": 0, "ranking": "3 2 1"})   # never shown by the page: no time
        assert [r.get("seconds") for r in lines(path)] == [12.5, 4.0, None]
        matrix = get(url + "/api/matrix")[1]
        assert matrix["seconds"][:2] == [8.25, None]                 # Ada's median; Ben has none
    with running(tiny_gpt, path) as (url, labels):                   # read back after a restart
        assert get(url + "/api/matrix")[1]["seconds"][:2] == [8.25, None]


def test_agreement_with_the_class_and_the_matrix(tiny_gpt, tmp_path):
    rankings = {"Ada": ["1 2 3", "3 2 1"], "Ben": ["2 1 3", "3 2 1"], "Cy": ["3 1 2"]}
    with running(tiny_gpt, tmp_path / "labels.jsonl") as (url, labels):
        for name, answers in rankings.items():
            for index, answer in enumerate(answers):
                assert post(url, {"name": name, "index": index, "ranking": answer})[0] == 200
        parsed = {name: [[int(n) - 1 for n in a.split()] for a in answers] for name, answers in rankings.items()}
        scores = [[labeler.score(item["prompt"], y) for y in item["responses"]] for item in labels.items]

        def expected(a, b):   # summed over the prompts both ranked
            shared = range(min(len(parsed[a]), len(parsed[b])))
            return [sum(x) for x in zip(*[reference_agreement(parsed[a][i], parsed[b][i], scores[i]) for i in shared])]

        status, ada = get(url + "/api/agreement?name=Ada")
        assert status == 200 and ada["ranked"] == 2
        assert ada["class"] == [x + y for x, y in zip(expected("Ada", "Ben"), expected("Ada", "Cy"))]
        status, m = get(url + "/api/matrix")
        # the gold order, then lesson 04's panel: the default pipeline's labeler and five profiles
        assert m["labelers"] == ["Ada", "Ben", "Cy", "gold", GUIDELINES.name, *PANEL]
        assert m["scripted"] == m["labelers"][3:] and m["ranked"] == [2, 2, 1] + [len(PROMPTS)] * (2 + len(PANEL))
        for i, a in enumerate(rankings):
            for j, b in enumerate(rankings):
                assert m["cells"][i][j] == expected(a, b)
        assert all(m["cells"][i][j] == m["cells"][j][i] for i in range(len(rankings)) for j in range(len(rankings)))
        gold_total = sum(s[i] != s[j] for s in scores for i in range(K) for j in range(i + 1, K))
        assert m["cells"][3][3] == [gold_total, gold_total]


def test_many_people_at_once_leave_a_whole_file_with_every_ranking_once(tiny_gpt, tmp_path):
    path = tmp_path / "labels.jsonl"
    with running(tiny_gpt, path) as (url, _):
        def label_all(person):   # one person ranks every prompt
            return [post(url, {"name": f"p{person}", "index": i, "ranking": "1 2 3"})[0] for i in range(len(PROMPTS))]

        def same_submission(_):  # eight people with one name submit one ranking at the same moment
            return post(url, {"name": "twin", "index": 0, "ranking": "2 1 3"})[0]

        with ThreadPoolExecutor(16) as pool:
            people = pool.map(label_all, range(8))
            twins = pool.map(same_submission, range(8))
            people, twins = list(people), sorted(twins)
    assert all(status == 200 for statuses in people for status in statuses)
    assert twins == [200] + [409] * 7
    records = lines(path)                        # every line parses
    saved = [(r["labeler"], r["index"]) for r in records]
    assert sorted(saved) == sorted([(f"p{p}", i) for p in range(8) for i in range(len(PROMPTS))] + [("twin", 0)])


@pytest.fixture(scope="module")
def ada_ranked_one(tiny_gpt, tmp_path_factory):
    """One server for the refusals below, where Ada has ranked prompt 1 -> (url, file)."""
    path = tmp_path_factory.mktemp("refusals") / "labels.jsonl"
    with running(tiny_gpt, path) as (url, _):
        assert post(url, {"name": "Ada", "index": 1, "ranking": "1 2 3"})[0] == 200
        yield url, path


@pytest.mark.parametrize("body, status, message", [
    (b"{not json", 400, "not JSON"),
    (b"\xff\xfe", 400, "not JSON"),
    (b"[1, 2]", 400, "JSON object"),
    ({"name": "Ada", "index": 0}, 400, "missing ranking"),
    ({"ranking": "1 2 3"}, 400, "missing name, index"),
    ({"name": "Ada", "index": 99, "ranking": "1 2 3"}, 400, "no item 99"),
    ({"name": "Ada", "index": "0", "ranking": "1 2 3"}, 400, "no item '0'"),
    ({"name": "Ada", "index": True, "ranking": "1 2 3"}, 400, "no item True"),
    ({"name": "Ada", "index": 0, "ranking": "1 2"}, 400, "rank all 3"),
    ({"name": "Ada", "index": 0, "ranking": "1 1 2"}, 400, "exactly once"),
    ({"name": "Ada", "index": 0, "ranking": [0, 1, 2]}, 400, "as text"),
    ({"name": "   ", "index": 0, "ranking": "1 2 3"}, 400, "type a name"),
    ({"name": "x" * 41, "index": 0, "ranking": "1 2 3"}, 400, "type a name"),
    ({"name": "a\nb", "index": 0, "ranking": "1 2 3"}, 400, "type a name"),
    ({"name": 7, "index": 0, "ranking": "1 2 3"}, 400, "type a name"),
    ({"name": "gold", "index": 0, "ranking": "1 2 3"}, 400, "scripted labeler"),
    ({"name": "Ada", "index": 1, "ranking": "1 2 3"}, 409, "already ranked"),
])
def test_a_malformed_or_duplicate_submission_is_refused_and_nothing_is_written(ada_ranked_one, body, status, message):
    url, path = ada_ranked_one
    before = path.read_bytes()
    got, answer = post(url, body)
    assert got == status and message in answer["error"] and "\n" not in answer["error"]
    assert path.read_bytes() == before


def test_bodies_without_a_length_or_too_long_and_other_paths_are_refused(tiny_gpt, tmp_path):
    path = tmp_path / "labels.jsonl"
    with running(tiny_gpt, path) as (url, _):
        host, port = url.removeprefix("http://").split(":")
        for target, body, headers, status in [("/api/rank", None, {}, 400),
                                              ("/api/rank", b"x" * 10_001, {}, 400),
                                              ("/api/rank", b"{}", {"Content-Length": "lots"}, 400),
                                              ("/api/other", b"{}", {}, 404)]:
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            connection.request("POST", target, body, headers)
            response = connection.getresponse()
            assert response.status == status and "error" in json.loads(response.read())
            connection.close()
    assert path.read_bytes() == b""


def test_a_restart_keeps_every_ranking_and_shows_the_same_answers(tiny_gpt, tmp_path):
    path = tmp_path / "labels.jsonl"
    with running(tiny_gpt, path) as (url, labels):
        post(url, {"name": "Ada", "index": 0, "ranking": "1 2 3"})
        post(url, {"name": "Ben", "index": 0, "ranking": "3 2 1"})
        items, matrix = labels.items, get(url + "/api/matrix")[1]
    saved = path.read_bytes()
    with running(tiny_gpt, path) as (url, labels):
        assert labels.items == items and not labels.cut
        assert get(url + "/api/item?name=Ada")[1]["index"] == 1          # Ada continues
        assert get(url + "/api/matrix")[1] == matrix
        assert post(url, {"name": "Ada", "index": 0, "ranking": "1 2 3"})[0] == 409
    assert path.read_bytes() == saved


def test_a_line_cut_short_by_a_crash_is_dropped_on_restart(tiny_gpt, tmp_path):
    path = tmp_path / "labels.jsonl"
    with running(tiny_gpt, path) as (url, _):
        post(url, {"name": "Ada", "index": 0, "ranking": "1 2 3"})
    saved = path.read_bytes()
    with open(path, "a") as f:
        f.write('{"index": 1, "prompt": "wh')     # the crash: half a line, no newline
    with running(tiny_gpt, path) as (url, labels):
        assert labels.cut and path.read_bytes() == saved
        assert get(url + "/api/item?name=Ada")[1]["index"] == 1          # asked again
        assert post(url, {"name": "Ada", "index": 1, "ranking": "2 1 3"})[0] == 200
    assert [(r["labeler"], r["index"]) for r in lines(path)] == [("Ada", 0), ("Ada", 1)]


def test_a_file_of_other_answers_stops_the_server_with_one_line(tiny_gpt, tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps({"index": 0, "prompt": PROMPTS[0], "responses": ["a", "b", "c"],
                                "ranking": [0, 1, 2], "labeler": "Ada"}) + "\n")
    with pytest.raises(SystemExit, match=r"labels\.jsonl:1 is not a ranking of these answers"):
        make_server(*tiny_gpt, PROMPTS, str(path), K, SEED, port=0)


def test_serve_without_a_checkpoint_names_the_script_to_run_first(tmp_path):
    with pytest.raises(SystemExit, match=r"sft\.pt not found\. Run `python train_sft\.py` first"):
        main(["--serve", "--checkpoint", str(tmp_path / "sft.pt"), "--out", str(tmp_path / "l.jsonl")])


def test_no_two_scripted_labelers_share_their_noise(monkeypatch):
    """Two copies of one noisy labeler must slip on different pairs: each draws its own noise."""
    import nanorlhf.label_server as server
    noisy = lambda prompt, responses, rng: labeler.rank(prompt, responses, rng, noise=labeler.DEFAULT_NOISE)
    monkeypatch.setattr(server, "scripted_labelers", lambda: {"one": noisy, "two": noisy})
    answers = ["7 plus 5 is 12.", "12.", "It is 13.", "I think it might be 12, not sure."]
    items = [{"index": i, "prompt": "What is 7 plus 5?", "responses": answers} for i in range(30)]
    rankings = server.scripted_rankings(items, seed=0)
    assert rankings == server.scripted_rankings(items, seed=0)              # the same after a restart
    assert sum(rankings["one"][i] != rankings["two"][i] for i in range(30)) >= 5


def test_a_port_in_use_stops_with_one_line(tiny_gpt, tmp_path):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(SystemExit, match=r"error: cannot serve on 127.0.0.1:\d+ .*choose another --port"):
            make_server(*tiny_gpt, PROMPTS, str(tmp_path / "labels.jsonl"), K, SEED, port=taken.getsockname()[1])
