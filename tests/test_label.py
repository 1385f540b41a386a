"""
The labeling tool driven through standard input: malformed answers are re-asked, every
answer is on disk the moment it is given, and a restart resumes without losing or
duplicating anything.
"""
import io
import json

import pytest
import torch

from nanorlhf.checkpoint import save_checkpoint
from nanorlhf.feedback import parse_ranking
from nanorlhf.label import main
from nanorlhf.model import GPT, GPTConfig
from nanorlhf.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    tok = Tokenizer.train("what is two plus three? it is five. the cat says meow. " * 20, 290)
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=256, vocab_size=tok.vocab_size, n_layer=1, n_head=2, n_embd=16))
    path = str(tmp_path_factory.mktemp("ckpt") / "sft.pt")
    save_checkpoint(path, model, tok)
    return path


def run(checkpoint, out, answers, num=3):
    stdout = io.StringIO()
    main(["--checkpoint", checkpoint, "--out", out, "-n", str(num), "-k", "3", "--device", "cpu"],
         stdin=io.StringIO("".join(a + "\n" for a in answers)), stdout=stdout)
    return stdout.getvalue()


def lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_parse_ranking():
    assert parse_ranking("3 1 2", 3) == [2, 0, 1]
    assert parse_ranking("3,1,2", 3) == [2, 0, 1]
    assert "all 3" in parse_ranking("1 2", 3)
    assert "exactly once" in parse_ranking("1 1 2", 3)
    assert "exactly once" in parse_ranking("1 2 4", 3)
    assert "numbers" in parse_ranking("a b c", 3)


def test_complete_run_with_malformed_answers(checkpoint, tmp_path):
    out = str(tmp_path / "labels.jsonl")
    text = run(checkpoint, out, ["1 2", "x y z", "2 1 3", "3 3 1", "3 2 1", "s"])
    assert text.count("not a ranking") == 3
    records = lines(out)
    assert [r["index"] for r in records] == [0, 1, 2]
    assert records[0]["ranking"] == [1, 0, 2] and records[1]["ranking"] == [2, 1, 0]
    assert records[2]["skipped"] is True
    assert "all prompts done" in text


def test_quit_and_restart_resumes_without_loss_or_duplicates(checkpoint, tmp_path):
    out = str(tmp_path / "labels.jsonl")
    run(checkpoint, out, ["1 2 3", "q"], num=4)
    first = lines(out)
    assert [r["index"] for r in first] == [0]
    # the input ends mid-way (like Ctrl-D): stops cleanly, the saved label is still there
    run(checkpoint, out, ["2 3 1"], num=4)
    assert [r["index"] for r in lines(out)] == [0, 1]
    text = run(checkpoint, out, ["1 3 2", "3 1 2"], num=4)
    records = lines(out)
    assert [r["index"] for r in records] == [0, 1, 2, 3]
    assert records[0] == first[0]                      # nothing rewritten
    assert "2 of 4 prompts already done" in text
    # a restart shows the same responses for a prompt (its own seed)
    again = str(tmp_path / "again.jsonl")
    run(checkpoint, again, ["1 2 3", "q"], num=4)
    assert lines(again)[0]["responses"] == records[0]["responses"]


def test_a_line_cut_short_by_a_crash_is_dropped_and_its_prompt_asked_again(checkpoint, tmp_path):
    out = str(tmp_path / "labels.jsonl")
    run(checkpoint, out, ["1 2 3", "q"], num=2)
    saved = lines(out)
    with open(out, "a") as f:
        f.write('{"index": 1, "prompt": "wh')          # the crash: half a line, no newline
    text = run(checkpoint, out, ["3 2 1"], num=2)
    assert "cut short" in text and "1 of 2 prompts already done" in text
    records = lines(out)
    assert records[0] == saved[0] and [r["index"] for r in records] == [0, 1]


def test_an_output_that_cannot_be_written_is_refused_before_any_question(checkpoint, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(SystemExit, match=r"cannot write .*not_a_folder/labels.jsonl"):
        run(checkpoint, str(blocker / "labels.jsonl"), ["1 2 3"])


@pytest.mark.parametrize("content, message", [
    (b'{"index": 0, "prompt": "p", "responses": ["a", "b"], "ranking": [0, 1]}\n{oops\n', r"labels\.jsonl:2: invalid JSON"),
    (b'{"prompt": "p", "responses": ["a", "b"], "ranking": [0, 1]}\n', r"labels\.jsonl:1: missing required key\(s\) \['index'\]"),
    (b'\x80\x81\x82 not text\n', r"labels\.jsonl is not UTF-8 text"),
])
def test_a_malformed_labels_file_stops_with_one_line_and_is_left_as_it_was(checkpoint, tmp_path, content, message):
    out = tmp_path / "labels.jsonl"
    out.write_bytes(content)
    with pytest.raises(SystemExit, match="error: .*" + message):
        run(checkpoint, str(out), ["1 2 3"])
    assert out.read_bytes() == content


def test_missing_prompts_or_checkpoint_stop_with_one_line(checkpoint, tmp_path):
    with pytest.raises(SystemExit, match=r"error: .*none\.jsonl not found"):
        main(["--checkpoint", checkpoint, "--out", str(tmp_path / "l.jsonl"), "--prompts", str(tmp_path / "none.jsonl")],
             stdin=io.StringIO(""), stdout=io.StringIO())
    with pytest.raises(SystemExit, match=r"error: checkpoint .*nope\.pt not found"):
        main(["--checkpoint", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "l.jsonl")],
             stdin=io.StringIO(""), stdout=io.StringIO())
