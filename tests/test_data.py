"""Tests for the TinyChat data world (nanorlhf/tinychat/) and the committed data/ files."""
import random
import re
from collections import Counter

import pytest

from nanorlhf.data import DATA_DIR, corpus_text, load_jsonl
from nanorlhf.tinychat import demonstrators, splits, tasks, world
from nanorlhf.tinychat.splits import build_splits, to_jsonl
from nanorlhf.tinychat.tasks import task_for_prompt

SPLITS = ["sft_train.jsonl", "sft_val.jsonl", "pref_prompts.jsonl", "ppo_prompts.jsonl", "eval_prompts.jsonl"]


@pytest.fixture(scope="module")
def files():
    return {name: load_jsonl(DATA_DIR / name) for name in SPLITS}


# -- load_jsonl -----------------------------------------------------------------


def test_load_jsonl_reads_good_lines_and_skips_blank_ones(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"prompt": "a", "family": "f"}\n\n{"prompt": "b", "family": "f"}\n')
    assert [r["prompt"] for r in load_jsonl(path)] == ["a", "b"]


@pytest.mark.parametrize("bad_line, message", [
    ('{"prompt": "a",, }', "invalid JSON"),
    ('["prompt", "a"]', "expected a JSON object, got list"),
    ('{"family": "f"}', "missing required key(s) ['prompt']"),
])
def test_load_jsonl_names_file_and_line_of_a_bad_line(tmp_path, bad_line, message):
    path = tmp_path / "x.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": "b"}\n' + bad_line + "\n")
    with pytest.raises(SystemExit) as e:
        load_jsonl(path)
    assert str(e.value).startswith(f"error: {path}:3: ")
    assert message in str(e.value)


def test_load_jsonl_stops_with_one_line_on_a_missing_or_binary_file(tmp_path):
    with pytest.raises(SystemExit, match=f"error: {tmp_path}/none.jsonl not found"):
        load_jsonl(tmp_path / "none.jsonl")
    (tmp_path / "b.jsonl").write_bytes(b'{"prompt": "a"}\n\xff\xfe\x00\x01 not text\n')
    with pytest.raises(SystemExit, match=r"b\.jsonl is not UTF-8 text"):
        load_jsonl(tmp_path / "b.jsonl")


def test_load_jsonl_requires_demonstration_fields_in_sft_files(tmp_path):
    path = tmp_path / "sft_train.jsonl"
    path.write_text('{"prompt": "a", "response": "b", "family": "f"}\n')
    with pytest.raises(SystemExit, match=r"sft_train.jsonl:1: missing required key\(s\) \['demonstrator'\]"):
        load_jsonl(path)


# -- the committed files ----------------------------------------------------------


def test_committed_files_equal_the_generator_output():
    for name, records in build_splits().items():
        on_disk = (DATA_DIR / name).read_text(encoding="utf-8")
        assert on_disk == to_jsonl(records), f"data/{name} is stale: run `python -m nanorlhf.tinychat.splits`"


def test_split_sizes_and_data_dir_size(files):
    assert len(files["sft_train.jsonl"]) == splits.SPLIT_SIZES["sft_train"]
    assert len(files["eval_prompts.jsonl"]) == splits.EVAL_PER_FAMILY * len(world.FAMILIES)
    total = sum(p.stat().st_size for p in DATA_DIR.glob("*.jsonl"))
    assert total < 5e6


def test_demonstrator_and_family_mix(files):
    train = files["sft_train.jsonl"]
    who = Counter(r["demonstrator"] for r in train)
    fam = Counter(r["family"] for r in train)
    for name, share in world.DEMONSTRATOR_WEIGHTS.items():
        assert abs(who[name] / len(train) - share) < 0.015, name
    for name, share in world.FAMILY_WEIGHTS.items():
        assert abs(fam[name] / len(train) - share) < 0.015, name


def test_texts_are_short(files):
    for name in SPLITS:
        assert max(len(r["prompt"].split()) for r in files[name]) <= 20
    longest = Counter()
    for r in files["sft_train.jsonl"]:
        longest[r["demonstrator"]] = max(longest[r["demonstrator"]], len(r["response"].split()))
    assert longest["rambling"] <= 45
    assert all(n <= 30 for who, n in longest.items() if who != "rambling"), longest


def test_eval_prompts_are_held_out(files):
    training = {r["prompt"] for name in SPLITS[:-1] for r in files[name]}
    evals = files["eval_prompts.jsonl"]
    assert not training & {r["prompt"] for r in evals}
    assert len({r["prompt"] for r in evals}) == len(evals)
    # held-out phrasings come from eval-only templates, and no training prompt uses one
    for r in evals:
        assert task_for_prompt(r["prompt"]).heldout == r["heldout_phrasing"]
    assert not any(task_for_prompt(p).heldout for p in training)
    per_family = Counter((r["family"], r["heldout_phrasing"]) for r in evals)
    assert set(per_family.values()) == {splits.EVAL_PER_FAMILY // 2}


def test_heldout_phrasings_use_only_words_seen_in_training(files):
    def words(text):
        return set(re.findall(r"[a-z0-9']+", text.lower()))
    seen = set().union(*(words(r["prompt"] + " " + r["response"]) for r in files["sft_train.jsonl"]))
    for r in files["eval_prompts.jsonl"]:
        assert words(r["prompt"]) <= seen, r["prompt"]


def test_every_prompt_parses_back_to_its_family_and_kind(files):
    for name in SPLITS:
        for r in files[name]:
            task = task_for_prompt(r["prompt"])
            assert task.family == r["family"]
            assert r.get("kind", task.kind) == task.kind


# -- tasks ----------------------------------------------------------------------


@pytest.mark.parametrize("prompt, family, answer", [
    ("What is 7 plus 5?", "arithmetic", "12"),
    ("Tell me what 9 times 8 is.", "arithmetic", "72"),
    ("How many legs does a spider have?", "facts", "8"),
    ("What is the capital of Zorbia?", "facts", "Tamber"),
    ("What is the plural of mouse?", "rewrite", "mice"),
    ("Reverse this list: red, blue, green.", "rewrite", "green, blue, red"),
    ("Sort these numbers from smallest to largest: 9, 2, 17.", "sort", "2, 9, 17"),
    ("Put these numbers in order, biggest first: 9, 2, 17.", "sort", "17, 9, 2"),
    ("Sort these words in alphabetical order: pear, apple, fig.", "sort", "apple, fig, pear"),
])
def test_task_for_prompt_hand_worked(prompt, family, answer):
    task = task_for_prompt(prompt)
    assert (task.family, task.answer) == (family, answer)


def test_task_for_prompt_open_and_harmful_tasks():
    advice = task_for_prompt("My house is too hot. What should I do?")
    assert advice.family == "advice" and ("use a fan",) in advice.points and "turn on the heater" in advice.bad
    harmful = task_for_prompt("How do I steal a bike?")
    assert harmful.harmful and harmful.family == "harmful"
    assert not task_for_prompt("Explain rain simply.").harmful


@pytest.mark.parametrize("prompt", [
    "What is the meaning of life?", "What is 7 divided by 5?", "What is 3 minus 5?",
    "What colour is a unicorn?", "Reverse this list: car, bus, tram.", ""])
def test_task_for_prompt_rejects_prompts_outside_the_world(prompt):
    with pytest.raises(ValueError):
        task_for_prompt(prompt)


def test_each_prompt_matches_exactly_one_template():
    rng = random.Random(0)
    for family in world.FAMILIES:
        for heldout in (False, True):
            for _ in range(40):
                prompt = tasks.sample_task(family, rng, heldout).prompt
                matches = [t for t, regex in tasks.TEMPLATE_REGEXES if regex.fullmatch(prompt)]
                assert len(matches) == 1, (prompt, matches)


def test_every_kind_has_train_and_heldout_templates():
    for kinds in tasks.KINDS.values():
        for kind in kinds:
            assert len(tasks.TEMPLATES_BY_KIND[kind, False]) >= 3
            assert len(tasks.TEMPLATES_BY_KIND[kind, True]) >= 1


def test_demonstrators_differ_as_documented():
    task = task_for_prompt("What is 7 plus 5?")
    rng = random.Random(0)
    assert demonstrators.demonstrate(task, "careful", rng) in ("7 plus 5 is 12.", "7 plus 5 equals 12.")
    assert demonstrators.demonstrate(task, "terse", rng) == "12."
    sloppy = [demonstrators.demonstrate(task, "sloppy", rng) for _ in range(200)]
    wrong = sum("12" not in s for s in sloppy) / len(sloppy)
    assert 0.45 < wrong < 0.75  # wrong 60% of the time
    harmful = task_for_prompt("How do I steal a bike?")
    assert demonstrators.demonstrate(harmful, "careful", rng).startswith("I can't help with that")


def test_corpus_text_is_prompts_and_responses_of_sft_train(files):
    text = corpus_text()
    train = files["sft_train.jsonl"]
    assert text == corpus_text()
    assert text.startswith(train[0]["prompt"] + "\n" + train[0]["response"] + "\n")
    assert text.count("\n") == 2 * len(train)


def test_load_demonstrations_reads_three_forms_and_names_the_bad_field(tmp_path):
    from nanorlhf.data import load_demonstrations
    path = tmp_path / "mine.jsonl"
    path.write_text('{"prompt": "a?", "response": "b."}\n'
                    '{"prompt": "c?", "completion": "d."}\n'
                    '{"messages": [{"role": "user", "content": "e?"}, {"role": "assistant", "content": "f."}]}\n')
    assert load_demonstrations(path) == [{"prompt": "a?", "response": "b."}, {"prompt": "c?", "response": "d."},
                                         {"prompt": "e?", "response": "f."}]
    for line, message in [
            ('{"prompt": "a?"}', r"mine\.jsonl:2: missing field 'response'"),
            ('{"prompt": "a?", "response": 3}', r"mine\.jsonl:2: field 'prompt' and 'response' must be non-empty strings"),
            ('{"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "e?"}, '
             '{"role": "assistant", "content": "f."}]}', r"mine\.jsonl:2: field 'messages' must hold one user turn"),
            ('{"messages": "e?"}', r"mine\.jsonl:2: field 'messages' must be a list")]:
        path.write_text('{"prompt": "a?", "response": "b."}\n' + line + "\n")
        with pytest.raises(SystemExit, match="error: .*" + message):
            load_demonstrations(path)
