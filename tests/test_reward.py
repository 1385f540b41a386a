"""
The reward model: its loss and gradient against float64 by hand, ranking -> pairs on a
hand-worked example, the per-prompt batch, and scores that do not depend on padding.
"""
import json
import math

import pytest
import torch

from nanorlhf.feedback import load_comparisons
from nanorlhf.model import GPTConfig
from nanorlhf.chat import encode_prompt, encode_response, left_pad, right_pad
from nanorlhf.reward import (RewardModel, comparison_batch, last_token_index, pairwise_loss, ranking_to_pairs,
                             thumb_loss, thumb_targets)
from nanorlhf.tokenizer import Tokenizer


def test_pairwise_loss_and_gradient_against_float64_by_hand():
    r_w = torch.tensor([1.0, -0.5, 3.0, 0.0], requires_grad=True)
    r_l = torch.tensor([0.0, 0.5, -2.0, 0.0], requires_grad=True)
    loss = pairwise_loss(r_w, r_l)
    loss.backward()
    d = [w - l for w, l in zip(r_w.tolist(), r_l.tolist())]
    # -log sigmoid(d) = log(1 + exp(-d)); its derivative in r_w is -(1 - sigmoid(d)) = -1 / (1 + exp(d))
    expected = sum(math.log1p(math.exp(-x)) for x in d) / len(d)
    grad_w = [-1 / (1 + math.exp(x)) / len(d) for x in d]
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)
    torch.testing.assert_close(r_w.grad, torch.tensor(grad_w))
    torch.testing.assert_close(r_l.grad, -torch.tensor(grad_w))
    # equal scores: the model is unsure, loss log 2
    assert math.isclose(pairwise_loss(torch.zeros(3), torch.zeros(3)).item(), math.log(2), rel_tol=1e-6)


def test_pairwise_loss_is_stable_for_large_margins():
    loss = pairwise_loss(torch.tensor([-200.0]), torch.tensor([200.0]))
    assert math.isclose(loss.item(), 400.0, rel_tol=1e-6)   # a naive log(sigmoid) would give inf


def test_thumb_loss_hand_worked_and_against_float64_autograd():
    # the docstring's example: up at r = 0 costs log 2; down at r = 2 costs -log sigmoid(-2) = log(1 + e^2)
    assert math.isclose(thumb_loss(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0])).item(),
                        (math.log(2) + math.log1p(math.exp(2))) / 2, rel_tol=1e-6)
    # a thumb is a pair against the reference level c: up = (r beats c), down = (c beats r)
    r, up, c = torch.randn(9, dtype=torch.float64), (torch.arange(9) % 3 == 0).double(), 0.7
    as_pairs = pairwise_loss(torch.where(up > 0, r, torch.full_like(r, c)), torch.where(up > 0, torch.full_like(r, c), r))
    torch.testing.assert_close(thumb_loss(r, up, level=c), as_pairs)
    # gradient by hand: d/dr of -log sigmoid(s (r - c)) is -s (1 - sigmoid(s (r - c))), s = +1 up, -1 down
    r32 = r.float().requires_grad_()
    thumb_loss(r32, up.float(), level=c).backward()
    s = 2 * up - 1
    torch.testing.assert_close(r32.grad.double(), -s * (1 - torch.sigmoid(s * (r - c))) / 9, rtol=1e-5, atol=1e-6)
    assert math.isclose(thumb_loss(torch.tensor([-300.0]), torch.tensor([1.0])).item(), 300.0, rel_tol=1e-6)


def test_a_batch_of_rankings_and_thumbs_counts_each_record_once(tokenizer):
    records = [{"prompt": "a?", "responses": ["x", "y", "z"], "ranking": [0, 1, 2]},
               {"prompt": "b?", "responses": ["u"], "ranking": [0], "thumb": 1.0},
               {"prompt": "c?", "responses": ["v"], "ranking": [0], "thumb": 0.0},
               {"prompt": "d?", "responses": ["p", "q"], "ranking": [1, 0]}]
    idx, _, winners, losers, weights = comparison_batch(records, tokenizer, block_size=64)
    index, up = thumb_targets(records)
    assert idx.shape[0] == 7 and index.tolist() == [3, 4] and up.tolist() == [1.0, 0.0]
    assert list(zip(winners.tolist(), losers.tolist())) == [(0, 1), (0, 2), (1, 2), (6, 5)]
    # weights P / (n C(K, 2)) = 4 / (4 * 3) and 4 / (4 * 1): they average 2 / 4, the share of rankings
    assert torch.allclose(weights, torch.tensor([1 / 3, 1 / 3, 1 / 3, 1.0]))
    scores = torch.randn(7, dtype=torch.float64)
    loss = pairwise_loss(scores[winners], scores[losers], weights.double()) + 2 / 4 * thumb_loss(scores[index], up.double())
    per_pair = [-math.log(torch.sigmoid(scores[w] - scores[l]).item()) for w, l in zip(winners, losers)]
    per_thumb = [-math.log(torch.sigmoid(scores[3]).item()), -math.log(torch.sigmoid(-scores[4]).item())]
    by_hand = (sum(per_pair[:3]) / 3 + per_thumb[0] + per_thumb[1] + per_pair[3]) / 4   # the mean over records
    assert math.isclose(loss.item(), by_hand, rel_tol=1e-6)
    assert thumb_targets(records[:1])[0].dtype == torch.long and comparison_batch(records[1:3], tokenizer, 64)[2].numel() == 0


def test_ranking_to_pairs_hand_worked():
    assert ranking_to_pairs([2, 0, 1]) == [(2, 0), (2, 1), (0, 1)]
    pairs = ranking_to_pairs([3, 1, 0, 2])
    assert len(pairs) == math.comb(4, 2)
    assert pairs == [(3, 1), (3, 0), (3, 2), (1, 0), (1, 2), (0, 2)]


def test_last_token_index():
    mask = torch.tensor([[0, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0]])
    assert last_token_index(mask).tolist() == [3, 5, 0]


@pytest.fixture(scope="module")
def tokenizer():
    return Tokenizer.train("the cat sat on the mat. what is 2 plus 3? it is 5. " * 20, 300)


@pytest.fixture(scope="module")
def reward_model(tokenizer):
    torch.manual_seed(0)
    config = GPTConfig(block_size=64, vocab_size=tokenizer.vocab_size, n_layer=2, n_head=2, n_embd=32)
    return RewardModel(config).eval()


def test_comparison_batch_keeps_each_prompts_pairs_together(tokenizer):
    records = [{"prompt": "what is 2 plus 3?", "responses": ["it is 5.", "5", "it is 6."], "ranking": [0, 1, 2]},
               {"prompt": "the cat?", "responses": ["sat", "on the mat"], "ranking": [1, 0]}]
    idx, mask, winners, losers, weights = comparison_batch(records, tokenizer, block_size=64)
    assert idx.shape[0] == 5                          # every response forwarded once
    assert list(zip(winners.tolist(), losers.tolist())) == [(0, 1), (0, 2), (1, 2), (4, 3)]
    # row 4 is the second prompt's response 1, in the chat template, ending in EOS
    expected = encode_prompt(tokenizer, "the cat?") + encode_response(tokenizer, "on the mat")
    assert idx[4, :len(expected)].tolist() == expected
    assert mask[4].sum().item() == len(expected)


def test_each_prompt_counts_once_whatever_its_k(tokenizer):
    """InstructGPT's 1/C(K,2) weighting, by hand: a K = 3 ranking (3 pairs) and a K = 2 pair
    weigh the same in the loss, so the loss is the mean over prompts of each prompt's mean."""
    records = [{"prompt": "a?", "responses": ["x", "y", "z"], "ranking": [0, 1, 2]},
               {"prompt": "b?", "responses": ["u", "v"], "ranking": [1, 0]}]
    *_, weights = comparison_batch(records, tokenizer, block_size=64)
    assert torch.allclose(weights, torch.tensor([4 / 6, 4 / 6, 4 / 6, 2.0]))   # 4 pairs, 2 prompts
    r_w, r_l = torch.tensor([1.0, 2.0, 0.5, -1.0], dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
    per_pair = [math.log(1 + math.exp(-d)) for d in r_w.tolist()]
    by_hand = (sum(per_pair[:3]) / 3 + per_pair[3]) / 2
    assert math.isclose(pairwise_loss(r_w, r_l, weights.double()).item(), by_hand, rel_tol=1e-6)   # weights are float32
    assert not math.isclose(pairwise_loss(r_w, r_l).item(), by_hand, rel_tol=1e-3)   # the plain mean differs


def test_equal_k_weights_are_exactly_one_so_the_loss_is_the_plain_mean(tokenizer):
    records = [{"prompt": p, "responses": ["a", "b", "c", "d"], "ranking": [3, 1, 0, 2]} for p in ("x?", "y?", "z?")]
    *_, weights = comparison_batch(records, tokenizer, block_size=64)
    assert weights.tolist() == [1.0] * 18
    r_w, r_l = torch.randn(18), torch.randn(18)
    assert torch.equal(pairwise_loss(r_w, r_l, weights), pairwise_loss(r_w, r_l))


def test_reward_does_not_depend_on_padding(tokenizer, reward_model):
    prompt_ids = encode_prompt(tokenizer, "what is 2 plus 3?")
    short = prompt_ids + encode_response(tokenizer, "5")
    long = encode_prompt(tokenizer, "the cat sat on the mat?") + encode_response(tokenizer, "it is 5. the cat sat.")
    with torch.no_grad():
        alone = reward_model(*right_pad([short], tokenizer.pad_id))
        right_padded = reward_model(*right_pad([short, long], tokenizer.pad_id))
        # PPO's layout: the prompt left-padded, the response right-padded
        query, query_mask = left_pad([prompt_ids, encode_prompt(tokenizer, "the cat sat on the mat?")],
                                     tokenizer.pad_id)
        response = torch.full((2, 12), tokenizer.pad_id)
        response_mask = torch.zeros(2, 12, dtype=torch.long)
        r_short = encode_response(tokenizer, "5")
        response[0, :len(r_short)] = torch.tensor(r_short)
        response_mask[0, :len(r_short)] = 1
        ppo_layout = reward_model(torch.cat([query, response], 1), torch.cat([query_mask, response_mask], 1))
    torch.testing.assert_close(right_padded[0], alone[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(ppo_layout[0], alone[0], atol=1e-5, rtol=0)


def test_normalise_gives_mean_zero_std_one(reward_model):
    raw = torch.tensor([1.0, 2.0, 3.0, 6.0])
    reward_model.normalise(raw)
    normalised = reward_model.gain * raw + reward_model.shift
    assert abs(normalised.mean().item()) < 1e-6 and abs(normalised.std().item() - 1) < 1e-6
    reward_model.gain.fill_(1.0)
    reward_model.shift.fill_(0.0)


def test_load_comparisons_formats_and_errors(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"prompt": "p", "responses": ["a", "b", "c"], "ranking": [2, 0, 1]}) + "\n"
                    + json.dumps({"prompt": "q", "chosen": "good", "rejected": "bad"}) + "\n"
                    + json.dumps({"prompt": "r", "responses": ["x", "y"], "skipped": True}) + "\n")
    records = load_comparisons(str(path))
    assert [r["ranking"] for r in records] == [[2, 0, 1], [0, 1]]
    assert records[1]["responses"] == ["good", "bad"]
    path.write_text(json.dumps({"prompt": "p", "responses": ["a", "b"], "ranking": [0, 1]}) + "\n{oops\n")
    with pytest.raises(SystemExit, match=r"error: .*c\.jsonl:2: invalid JSON"):
        load_comparisons(str(path))
    path.write_text(json.dumps({"prompt": "p", "responses": ["a", "b"], "ranking": [0, 0]}) + "\n")
    with pytest.raises(SystemExit, match=r"error: .*c\.jsonl:1: ranking \[0, 0\]"):
        load_comparisons(str(path))
    path.write_text(json.dumps({"prompt": "p", "response": "a", "thumb": "up"}) + "\n")
    assert load_comparisons(str(path)) == [{"prompt": "p", "responses": ["a"], "ranking": [0], "thumb": 1.0}]
    path.write_text(json.dumps({"prompt": "p", "response": "a", "thumb": "down"}) + "\n"
                    + json.dumps({"prompt": "p", "response": "a", "thumb": "yes"}) + "\n")
    with pytest.raises(SystemExit, match=r'error: .*c\.jsonl:2: thumb must be "up" or "down", got \'yes\''):
        load_comparisons(str(path))
    path.write_text(json.dumps({"prompt": "p", "responses": ["a"], "thumb": "up"}) + "\n")
    with pytest.raises(SystemExit, match=r"error: .*c\.jsonl:1: a thumbs record needs 'response' as a string"):
        load_comparisons(str(path))
    # a string is not a list of responses: "ab" must not be read as the two answers "a" and "b"
    path.write_text(json.dumps({"prompt": "p", "responses": "ab", "ranking": [0, 1]}) + "\n")
    with pytest.raises(SystemExit, match=r"error: .*c\.jsonl:1: responses and ranking must be lists"):
        load_comparisons(str(path))


def test_gold_pairs_and_share_right_hand_worked():
    from nanorlhf.tinychat import labeler
    from nanorlhf.feedback import gold_pairs, share_right
    prompt = "What is 2 plus 3?"
    responses = ["2 plus 3 is 5.", "It is 6.", "2 plus 3 is 5."]   # right, wrong, and the first again
    gold = [labeler.score(prompt, y) for y in responses]
    assert gold[0] > gold[1] and gold[0] == gold[2]
    # the tied pair (0, 2) is left out; the reward model gets (0, 1) right and (1, 2) wrong
    pairs = gold_pairs([{"prompt": prompt, "responses": responses}], [[1.0, 0.0, -1.0]])
    assert [(f, right) for f, _, right in pairs] == [("arithmetic", True), ("arithmetic", False)]
    assert pairs[0][1] == pytest.approx(gold[0] - gold[1])
    assert share_right(pairs) == (0.5, 2)
    # equal reward-model scores order nothing: counted as wrong
    assert gold_pairs([{"prompt": prompt, "responses": responses[:2]}], [[0.3, 0.3]])[0][2] is False
    assert share_right([]) == (0.0, 0)


def test_agreement_hand_worked():
    """The count behind every held-out accuracy in train_rm.py: the ceiling, the second
    labeler and the reward model itself."""
    from nanorlhf.feedback import agreement, gold_agreement
    from train_rm import ranking_scores
    record = {"prompt": "What is 2 plus 3?", "responses": ["2 plus 3 is 5.", "It is 6.", "2 plus 3 is 5."],
              "ranking": [1, 0, 2]}                  # a noisy labeler put the wrong answer first
    # labeled pairs (1, 0), (1, 2), (0, 2); the last is the same text twice and is left out
    texts = [record["responses"]]
    assert agreement([record], [[2.0, 1.0, 3.0]], texts) == (0, 2)     # prefers 0 and 2 to 1
    assert agreement([record], [[0.0, 1.0, 1.0]], texts) == (1, 2)     # 1 over 0 agrees; 1 vs 2 tied: a miss
    # against the gold scores: the right answer beats the wrong one, so both kept pairs disagree
    assert gold_agreement([record]) == (0, 2)
    # a ranking read back as scores agrees with itself on every pair
    assert ranking_scores([2, 0, 1]) == [-1, -2, 0]
    assert agreement([record], [ranking_scores(record["ranking"])], [[0, 1, 2]]) == (3, 3)


def test_accuracy_against_the_gold_order_with_its_interval():
    """train_rm.py's yardsticks: the records re-ranked by gold score, and the accuracy pooled
    over rankings (pairs of one ranking share responses, so rankings are the unit resampled)."""
    from train_rm import accuracy_ci, gold_ranked
    records = [{"prompt": "What is 2 plus 3?", "responses": ["It is 6.", "2 plus 3 is 5.", "5."], "ranking": [0, 1, 2]},
               {"prompt": "What is 1 plus 1?", "responses": ["2.", "3."], "ranking": [1, 0]}]
    gold = [[-1.5, 3.9, 3.4], [3.4, -1.5]]
    assert [r["ranking"] for r in gold_ranked(records, gold)] == [[1, 2, 0], [0, 1]]
    # scores that follow the gold order agree with it on all 4 pairs, and with the noisy labels on 1 of 4
    share, lo, hi = accuracy_ci(gold_ranked(records, gold), gold, gold)
    assert (share, lo, hi) == (1.0, 1.0, 1.0)
    share, lo, hi = accuracy_ci(records, gold, gold)
    assert share == 0.25 and 0.0 <= lo <= share <= hi <= 1.0
