"""The bookkeeping of lesson 04's feedback study (nanorlhf/feedback_study.py): every format
spends the same budget under the cost model, no answer is judged twice, and the panel
relabels the same answers round-robin."""
import json

import numpy as np
import pytest

from nanorlhf.feedback_study import BUDGET, FORMATS, POOL_ANSWERS, cost, judgments, relabel
from nanorlhf.feedback import load_comparisons
from nanorlhf.tinychat.panel import PANEL

POOL = {"prompts": ["What is 7 plus 5?", "What colour is a plum?", "How many legs does a spider have?"] * 20,
        "answers": [[f"answer {i}-{j}." for j in range(POOL_ANSWERS)] for i in range(60)]}
SMALL_BUDGET = 450   # thumbs take answers 0 to 3 of the 60 prompts, pairs 0 to 5, rankings of 8 only 0 to 7 of 50


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_spends_the_budget_and_reads_each_answer_once(name, tmp_path):
    k = FORMATS[name]
    records = judgments(POOL, k, np.random.default_rng(0), SMALL_BUDGET)
    assert len(records) == SMALL_BUDGET // cost(k) and SMALL_BUDGET - cost(k) < len(records) * cost(k) <= SMALL_BUDGET
    read = [y for r in records for y in ([r["response"]] if k == 1 else r["responses"])]
    assert len(read) == len(records) * k and len(set(read)) == len(read)   # no answer judged twice
    path = tmp_path / "f.jsonl"   # and the file reads back as train_rm.py reads it
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    loaded = load_comparisons(str(path))
    assert len(loaded) == len(records) and all(("thumb" in r) == (k == 1) for r in loaded)


def test_cost_model():
    assert [cost(k) for k in (1, 2, 4, 8)] == [2, 3, 5, 9]
    assert BUDGET == 2000 * cost(4)   # the default run's 2000 training rankings of four


def test_relabel_keeps_the_answers_and_goes_round_robin():
    records = [{"prompt": "What is 7 plus 5?", "responses": ["12.", "7 plus 5 is 12.", "13.", ""], "ranking": [0, 1, 2, 3]}
               for _ in range(7)]
    labelers = [PANEL["brief"], PANEL["thorough"], PANEL["hasty"]]
    out = relabel(records, labelers, np.random.default_rng(0))
    assert [r["labeler"] for r in out] == ["brief", "thorough", "hasty"] * 2 + ["brief"]
    assert all(r["responses"] == records[0]["responses"] and sorted(r["ranking"]) == [0, 1, 2, 3] for r in out)
