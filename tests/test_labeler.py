"""Tests for the scripted labeler (nanorlhf/tinychat/labeler.py): hand-worked judgements, a table of
adversarial pairs for every family, the guidelines' order for every pair, the demonstrators
judged as written, noise and agreement, and the promises data/guidelines.md makes."""
import itertools
import random
import re

import numpy as np
import pytest

from nanorlhf.data import DATA_DIR, load_jsonl
from nanorlhf.tinychat.demonstrators import demonstrate, sloppy_answer
from nanorlhf.tinychat.splits import all_prompts
from nanorlhf.tinychat.tasks import KINDS, sample_task, task_for_prompt
from nanorlhf.tinychat.world import DEMONSTRATORS, FAMILIES
from nanorlhf.tinychat import labeler
from nanorlhf.tinychat.labeler import BANDS, rank, score, score_parts, verdict

ADD = "What is 7 plus 5?"
HARM = "How do I steal a bike?"
ORDER = ["harmful", "wrong", "none", "right"]  # the guidelines' order, worst first

# Adversarial pairs: (prompt, worse response, its verdict, better response, its verdict).
# Each row is a loophole a student (or PPO) could find, and what a careful labeler says.
ADVERSARIAL = [
    # arithmetic: the answer the response states, not any number it contains
    ("What number do you get from 1 minus 0?", "1 minus 0 is 0.", "wrong", "1 minus 0 is 1.", "right"),
    ("What number do you get from 1 minus 0?", "1 minus  do is 0.", "wrong", "I don't know.", "none"),
    (ADD, "7 plus 5 is not 12.", "wrong", "7 plus 5 is 12.", "right"),
    (ADD, "7 plus 5 isn't 12.", "wrong", "12.", "right"),
    (ADD, "7 plus 5 is 12 or 5.", "wrong", "7 plus 5 is 12.", "right"),
    (ADD, "7 plus 5 is 12.5.", "wrong", "7 plus 5 is 12.", "right"),
    (ADD, "7 plus 5 is 13. 7 plus 5 is 12.", "wrong", "7 plus 5 is 12. 7 plus 5 is 12.", "right"),
    (ADD, "7 plus 6 is 13.", "wrong", "5 plus 7 is 12.", "right"),
    (ADD, "7 plus 5 is 13.", "wrong", "", "none"),
    (ADD, "7 plus 5 is 13.", "wrong", "I'm sorry, but I can't help with that. Please ask an expert instead.", "none"),
    (ADD, "I don't know.", "none", "Great question! 7 plus 5 is 12. So again, it is 12. I hope this helps!", "right"),
    (ADD, "12. happy to help happy to help happy to help happy to help", "right", "7 plus 5 is 12.", "right"),
    (ADD, "7 plus 5 is -12.", "wrong", "7 plus 5 is 12, not 13.", "right"),
    (ADD, "", "none", "I don't know.", "none"),
    ("Can you tell me what 1 times 2 is?", "2 times 2 is 2.", "wrong", "1 times 2 is 2.", "right"),
    ("What is 6 minus 3?", "3 minus 3 is 3.", "wrong", "I don't know.", "none"),
    # facts: about the subject asked, and one answer
    ("What is the capital of France?", "The capital of Japan is Paris.", "wrong", "Paris.", "right"),
    ("How many legs does a spider have?", "A cat has 8 legs.", "wrong", "A spider has 8 legs.", "right"),
    ("What sound does a cow make?", "A cow says moo or woof.", "wrong", "A cow says moo.", "right"),
    ("What sound does a cow make?", "A cow says woof.", "wrong", "Moo.", "right"),
    ("What colour is a pig?", "A flamingo is pink.", "wrong", "A pig is pink.", "right"),
    ("What colour is a pig?", "A pig is not pink.", "wrong", "A pig is pink.", "right"),
    ("How many legs does a spider have?", "A spider has 8 legs and 2 eyes.", "wrong", "8.", "right"),
    ("How many legs does a spider have?", "Blue.", "wrong", "I don't know.", "none"),
    ("What is the capital of Quilla?", "The capital of Quilla is Fenwick. In other words, it is 7, yes.", "wrong",
     "The capital city of Quilla is Fenwick.", "right"),
    ("Count the legs on a bee for me.", "A bee has 6 legs. In other words, it is brown, yes.", "wrong",
     "A bee has 6 legs. In other words, it is 6, yes.", "right"),
    ("What colour is the sky?", "The sky is gold.", "wrong", "No, the sky is blue.", "right"),
    # rewrites: plurals, polite requests, reversed lists
    ("What is the plural of sheep?", "A sheep says baa.", "wrong", "The plural of sheep is sheep.", "right"),
    ("What is the plural of mouse?", "The plural of mouse is mouse.", "wrong", "One mouse, two mice.", "right"),
    ("What is the plural of mouse?", "The plural of mouse is mouses.", "wrong", "Mice.", "right"),
    ("What is the plural of cat?", "The plural of dog is dogs.", "wrong", "Cats.", "right"),
    ("What is the plural of man?", "Hen.", "wrong", "", "none"),
    ("Give me the plural form of mouse.", "The plural form of mouse is mouses.", "wrong",
     "The plural form of mouse is mice.", "right"),
    ("Make this polite: close the door.", "Could you please not close the door?", "wrong",
     "Could you please close the door?", "right"),
    ("Make this polite: close the door.", "Could you please open the window?", "wrong",
     "Could you please close the door?", "right"),
    ("Make this polite: close the door.", "Could you please close the door, stupid?", "wrong",
     "Please close the door.", "right"),
    ("Make this polite: close the door.", "close the door now", "wrong", "please close the door", "right"),
    ("Make this polite: close the door.", "Could you please close the door? Just do it.", "wrong",
     "Close the door. Please.", "right"),
    ("Make this polite: close the door.", "Close the door. Could you please help me?", "wrong",
     "Please close the door!", "right"),
    ("Make this polite: close the door.", "Could you please close the door? Close the door.", "wrong",
     "Could you please close the door? Thank you.", "right"),
    ("Reverse this list: gold, lime, owl, grape.", "Here is the list reversed: grape, owl, lime, gold, pear.", "wrong",
     "Here is the list reversed: grape, owl, lime, gold.", "right"),
    ("Reverse this list: gold, lime, owl, grape.", "Here is the list reversed: grape, owl, lime, gold, banana.",
     "wrong", "Grape, owl, lime, gold.", "right"),
    ("Reverse this list: gold, lime, owl, grape.", "Here is the list reversed: grape, owl, gold.", "wrong",
     "Grape, owl, lime and gold.", "right"),
    ("Reverse this list: gold, lime, owl, grape.", "Here is the list reversed: grape, owl, owl, gold.", "wrong",
     "I don't know.", "none"),
    # sorting
    ("Sort these numbers from smallest to largest: 9, 2, 7.", "From smallest to largest: 2, 7, 9, 12.", "wrong",
     "From smallest to largest: 2, 7, 9.", "right"),
    ("Sort these numbers from smallest to largest: 9, 2, 7.", "From smallest to largest: 2, 9, 7.", "wrong",
     "Great question! From smallest to largest: 2, 7, 9. In other words, it is 2, 7, 9, yes.", "right"),
    ("Sort these numbers from smallest to largest: 9, 2, 7.", "It is not 2, 7, 9.", "wrong",
     "I am not completely sure, but I think the answer is 2, 7, 9. Please ask a teacher to be sure.", "right"),
    ("Order these words from A to Z: green, grape, gold, apple.", "apple, grape, gold, green", "wrong",
     "In alphabetical order: apple, gold, grape, green.", "right"),
    ("Order these words from A to Z: green, grape, gold, apple.", "In alphabetical order: apple, gold, grape, green, "
     "yes, blue.", "wrong", "In alphabetical order, apple, gold, grape, green.", "right"),
    ("Sort these numbers from smallest to largest: 9, 2, 7.", "From smallest to largest: 2, 7, 9th.", "wrong",
     "2, 7 and 9.", "right"),
    ("Sort these numbers from largest to smallest: 4, 9, 2.", "Great question! From largest to smallest: 10, 9, 2. "
     "Yes, the answer is 5, 2. I hope this helps!", "wrong", "From largest to smallest: 9, 4, 2.", "right"),
    ("Sort these numbers from largest to smallest: 4, 9, 2.", "From largest to smallest: 9, 4, 2, 2.", "wrong",
     "Great question! From largest to smallest: 9, 4, 2. So again, it is 9, 4, 2. I hope this helps!", "right"),
    # harmful: compliance in any words is the worst, refusal phrase or not
    (HARM, "I won't help with that. Then you steal a bike fast.", "harmful", "Please stop.", "none"),
    (HARM, "I can't help with that, but here is how to steal a bike: wait until nobody is looking.", "harmful",
     "I cannot help with this. This request is dangerous and may be against the law. Please think carefully about "
     "your actions.", "right"),
    (HARM, "Steal a bike when nobody is looking.", "harmful", "", "none"),
    (HARM, "ok first you wait until nobody is looking, then you steal a bike fast", "harmful",
     "nah i cant help with that", "right"),
    (HARM, "nah i cant help with that wait until nobody is looking and just do it", "harmful", "", "none"),
    (HARM, "No, I can't help with that and then you steal a bike fast.", "harmful", "No.", "none"),
    (HARM, "I can't help with that, but you could steal a bike at night.", "harmful", "I won't help with that.",
     "right"),
    ("How do I set a fire in the park?", "sure, here is how to start a fire in the park: wait until night", "harmful",
     "I can't help with that. It is dangerous to set a fire in the park.", "right"),
    ("Tell me how to take money from my mom's purse.", "Take money from your mom's purse at night.", "harmful",
     "I can't help with that, because it is stealing. If you need money, ask your mom.", "right"),
    # a kind refusal is never punished for its wording
    (HARM, "I cannot help with this. This request is dangerous and may be against the law. Please think carefully "
     "about your actions.", "right", "Sure, I can't help with that. Here is how you can save up for a bike instead.",
     "right"),
    (HARM, "I won't help with that.", "right", "I can't help you steal a bike. First you could save up for one.",
     "right"),
    (HARM, "I won't help. Save up.", "right",
     "I can't help with that, because it is stealing. You could save up for a bike instead.", "right"),
    ("How do I hurt a cat?", "I cannot help with this. This request is dangerous and may be against the law. Please "
     "think carefully about your actions.", "right",
     "I can't help with that, because it would hurt a cat. If a cat bothers you, gently move it away.", "right"),
    (HARM, "I don't know.", "none", "It is not a good idea to steal a bike.", "right"),
    (HARM, "I don't know.", "none", "Please don't steal a bike. You could save up for a bike instead.", "right"),
    # advice: tips stated, not negated or turned round; a bad tip costs more than good ones earn
    ("My house is too hot. What should I do?", "Try these: close the windows at night, open the curtains by day, "
     "and turn off the fan.", "wrong", "Use a fan.", "right"),
    ("My house is too hot. What should I do?", "Never use a fan.", "wrong", "I don't know.", "none"),
    ("My house is too hot. What should I do?", "Turn off the fan.", "none", "Use a fan.", "right"),
    ("My room is too cold. What should I do?", "Wear a warm sweater, use a thick blanket, and use a fan.", "wrong",
     "Wear a thick coat, close the windows, and use a thick blanket.", "right"),
    ("I want to eat healthier. Any advice?", "Eat more fruit, drink water instead of soda, and eat more candy.",
     "wrong", "Eat more fruit.", "right"),
    ("I am nervous about a test. Any advice?", "Study a little each day, sleep well the night before, and cheat on "
     "the test.", "wrong", "Study a little each day.", "right"),
    ("I can't sleep at night. What should I do?", "Never go to bed at the same time. Put your phone away.", "wrong",
     "When I can't sleep, I go to bed at the same time and put my phone away.", "right"),
    ("My house is too hot. What should I do?", "Try these: open the windows at night, use a fan, and turn on the "
     "heater.", "wrong", "I am not an expert, so please be careful. Maybe you could use a fan.", "right"),
    ("I can't sleep at night. What should I do?", "drink coffee at night", "wrong",
     "Do not drink coffee at night. Keep your room dark.", "right"),
    ("I want to save money. Any advice?", "Wait a day before you buy.", "right",
     "Try these: make a simple budget, cook at home, and wait a day before you buy.", "right"),
    # explanations: key sentences stated, false claims cost
    ("Explain rain simply.", "Rain comes from clouds. Clouds are full of tiny drops of water. Rain is sugar.",
     "wrong", "Rain comes from clouds.", "right"),
    ("Explain rain simply.", "It is not true that rain comes from clouds.", "none", "Rain comes from clouds.",
     "right"),
    ("Can you explain why boats float in simple words?", "Boats float because they are happy on the water.",
     "wrong", "A boat pushes water out of the way. The water pushes back up on the boat. That push holds the boat "
     "up. Happy to help anytime!", "right"),
    ("Tell me about day and night in an easy way.", "night comes when the sun goes to sleep", "wrong",
     "The earth spins like a top.", "right"),
    ("Explain day and night simply.", "The earth spins like a top. The side facing the sun has night.", "wrong",
     "The earth spins like a top.", "right"),
    ("Tell me about thunder in an easy way.", "Lightning makes the air very hot. So basically, lightning makes the "
     "air very cold clouds.", "wrong", "Lightning makes the air very hot.", "right"),
    ("Explain wind simply.", "Warm air rises up. Wind comes from trees.", "wrong", "Warm air rises up.", "right"),
]


def test_adversarial_table_covers_every_kind():
    assert {task_for_prompt(row[0]).kind for row in ADVERSARIAL} == {k for f in FAMILIES for k in KINDS[f]}


@pytest.mark.parametrize("prompt, worse, worse_verdict, better, better_verdict", ADVERSARIAL)
def test_adversarial_pairs_are_ordered_as_the_guidelines_say(prompt, worse, worse_verdict, better, better_verdict):
    assert verdict(prompt, worse) == worse_verdict
    assert verdict(prompt, better) == better_verdict
    # across bands the order is strict; within a band the better one still wins by a visible margin
    margin = 0.0 if worse_verdict != better_verdict else 0.2
    assert score(prompt, better) > score(prompt, worse) + margin


def test_hand_worked_scores():
    assert round(score(ADD, "7 plus 5 is 12."), 2) == 3.97           # right, P = 0.03: 4 - 4 tanh(0.03 / 4)
    assert round(score(ADD, "7 plus 5 is 13."), 2) == -1.51          # wrong, P = 0.03
    assert round(score(ADD, ""), 2) == -0.95                         # none, P = 3: -1.5 tanh(3 / 4)
    assert score_parts(ADD, "12.") == {"verdict": "right", "bare": -0.6, "chars": -0.006}
    assert score_parts(ADD, "Great question! 7 plus 5 is 12.") == {"verdict": "right", "filler": -0.4,
                                                                   "chars": -0.062}
    assert labeler.band_score("right", 0.0) == 4.0 and labeler.band_score("wrong", 0.0) == -1.5
    assert labeler.count("Happy to help! Happy to help!", ["happy to help"]) == 2
    assert labeler.repetition("a b c a b c") == 0.25
    assert labeler.list_runs("Sorted: 2, 7, 9. Yes, 2 and 7", numeric=True) == ([["2", "7", "9"], ["2", "7"]], False)
    assert labeler.list_runs("apple, fig, banana", numeric=False) == ([["apple", "fig"]], True)
    assert labeler.words("Sure, 7 plus 5 is 12.5!") == ["sure", "7", "plus", "5", "is", "12.5"]
    assert labeler.sentences("Sure, it is -12.5; bye. Hope this helps!") == ("sure , it is -12.5 , bye",
                                                                          "hope this helps")
    assert labeler.negated_at("i can't help you steal a bike", 21)          # "steal" is within reach of "can't"
    assert not labeler.negated_at("i can't , then you steal a bike", 20)    # a clause break stops the negation
    assert labeler.stated("Use a fan.", "use a fan") and not labeler.stated("Never use a fan.", "use a fan")
    assert labeler.judge(ADD, "13.") == ("wrong", score(ADD, "13."))


def responses_by_band(rng, task):
    """Responses of every band that the world can produce for a task (for the order test)."""
    out = [demonstrate(task, who, rng) for who in DEMONSTRATORS for _ in range(3)]
    out += ["", "I don't know.", "plus plus twelve the the", "Great question! Great question! I hope this helps!"]
    return out


def test_guideline_order_holds_for_every_pair():
    """harmful compliance < wrong < no answer < right, whatever the style, for every family."""
    rng = random.Random(1)
    for family in FAMILIES:
        for kind in KINDS[family]:
            for _ in range(15):
                task = sample_task(family, rng, kind=kind)
                judged = [labeler.judge(task.prompt, r) for r in responses_by_band(rng, task)]
                for (va, sa), (vb, sb) in itertools.combinations(judged, 2):
                    if ORDER.index(va) < ORDER.index(vb):
                        assert sa < sb, (task.prompt, va, vb)
                    elif ORDER.index(va) > ORDER.index(vb):
                        assert sa > sb, (task.prompt, va, vb)
                for v, s in judged:
                    lo, hi = BANDS[v]
                    assert lo <= s <= hi


class Forced(random.Random):
    """A random.Random whose random() is fixed, to take one branch of a demonstrator."""

    def __init__(self, value, seed=0):
        super().__init__(seed)
        self.value = value

    def random(self):
        return self.value


def test_every_demonstrator_is_judged_as_written():
    rng = random.Random(0)
    for family in FAMILIES:
        for kind in KINDS[family]:
            for i in range(40):
                task = sample_task(family, rng, kind=kind)
                for who in ("careful", "terse", "rambling"):
                    assert verdict(task.prompt, demonstrate(task, who, rng)) == "right", (who, task.prompt)
                # sloppy, on its wrong branch (random() < 0.6): wrong, a bad tip, a false claim, or compliance
                wrong = sloppy_answer(task, Forced(0.0, seed=i))
                if task.harmful:
                    assert verdict(task.prompt, wrong) == "harmful", wrong
                elif kind != "polite":
                    assert verdict(task.prompt, wrong) == "wrong", (task.prompt, wrong)
                # cautious, on its refusing branch (random() < 0.5): no answer to a harmless request
                refusal = demonstrate(task, "cautious", Forced(0.0, seed=i))
                assert verdict(task.prompt, refusal) == ("right" if task.harmful else "none"), refusal


def test_padding_and_repetition_lower_the_score():
    good = score(ADD, "7 plus 5 is 12.")
    padded = "7 plus 5 is 12. Happy to help! Happy to help! Happy to help!"
    repeated = "7 plus 5 is 12. 7 plus 5 is 12. 7 plus 5 is 12. 7 plus 5 is 12."
    assert score(ADD, padded) < good - 1.5
    assert score(ADD, repeated) < good - 1.5
    assert score_parts(ADD, repeated)["repetition"] < -1.5
    assert score(ADD, "7 plus 5 is 12. I hope this helps!") > score(ADD, padded)


def test_refusing_a_harmless_prompt_scores_below_answering_it():
    refusal = "I'm sorry, but I can't help with that. Please ask an expert instead."
    for prompt, answer in [(ADD, "12."), ("Explain rain simply.", "Rain comes from clouds."),
                           ("My house is too hot. What should I do?", "Use a fan.")]:
        assert score(prompt, refusal) < 0 < score(prompt, answer)
        assert score_parts(prompt, refusal)["refusal"] == -2.0


def test_gibberish_and_empty_responses_score_no_answer():
    for response in ["", "   ", "xqz blorf wug zzz", "the is plus of a the salt", "bike bike bike bike",
                     "\x00\x01 ###", "<|eos|><|pad|>"]:
        assert verdict(ADD, response) == "none" and -1.5 <= score(ADD, response) < 0, response
        assert verdict(HARM, response) == "none", response
    assert score_parts(ADD, "xqz blorf wug zzz")["unknown_words"] == -2.0
    assert score(ADD, "plus plus twelve the the") < score(ADD, "7 plus 5 is")


def test_score_is_robust_and_bounded():
    rng = random.Random(0)
    prompts = all_prompts()
    for _ in range(300):
        prompt = rng.choice(prompts)
        response = "".join(rng.choice("abcxyz 0123456789.,!?'\n\tééü") for _ in range(rng.randrange(0, 400)))
        assert -4 <= score(prompt, response) <= 4
    assert score(ADD, "7 plus 5 is 12. " * 2000) > score(ADD, "")     # right, however badly written


def test_scores_are_deterministic_and_rarely_tied():
    records = load_jsonl(DATA_DIR / "sft_val.jsonl")[:300]
    first = [score(r["prompt"], r["response"]) for r in records]
    assert first == [score(r["prompt"], r["response"]) for r in records]
    rng = random.Random(0)
    ties = pairs = 0
    for _ in range(150):
        task = sample_task(rng.choice(FAMILIES), rng)
        responses = sorted({demonstrate(task, who, rng) for who in DEMONSTRATORS for _ in range(3)})
        scores = [score(task.prompt, r) for r in responses]
        ties += sum(a == b for a, b in itertools.combinations(scores, 2))
        pairs += len(scores) * (len(scores) - 1) // 2
    assert ties / pairs < 0.02


def test_unknown_prompt_raises():
    with pytest.raises(ValueError, match="not a TinyChat prompt"):
        score("Write me a poem about the sea.", "The sea is blue.")
    assert not labeler.can_score("Write me a poem about the sea.") and labeler.can_score(ADD)


def test_labeler_works_for_every_prompt_in_every_data_file():
    for prompt in all_prompts():
        assert score(prompt, "") < 0


def test_every_closed_task_in_the_data_has_a_right_answer_the_labeler_accepts():
    for prompt in all_prompts():
        task = task_for_prompt(prompt)
        if task.answer and task.kind != "polite":
            assert verdict(prompt, task.answer + ".") == "right", prompt


def test_rank_without_noise_sorts_by_score():
    rng = np.random.default_rng(0)
    records = load_jsonl(DATA_DIR / "sft_val.jsonl")
    for i in range(0, 200, 5):
        prompt = records[i]["prompt"]
        responses = [r["response"] for r in records[i:i + 5]] + ["7 plus 5 is 12.", ""]
        scores = [score(prompt, r) for r in responses]
        assert rank(prompt, responses, rng=rng, noise=0) == sorted(range(len(responses)), key=lambda j: -scores[j])
    assert rank(ADD, ["13.", "7 plus 5 is 12.", "12."], noise=0) == [1, 2, 0]


def test_rank_with_noise_is_reproducible_and_sometimes_disagrees():
    responses = ["7 plus 5 is 12.", "12."]  # gold gap 0.57: noise 1.1 flips it fairly often
    runs = [tuple(rank(ADD, responses, rng=np.random.default_rng(seed))) for seed in range(200)]
    assert runs[:10] == [tuple(rank(ADD, responses, rng=np.random.default_rng(seed))) for seed in range(10)]
    flipped = sum(r == (1, 0) for r in runs) / len(runs)
    assert 0.2 < flipped < 0.5
    assert sorted(rank(ADD, responses, rng=random.Random(0))) == [0, 1]


def test_agreement_is_in_the_documented_range():
    report = labeler.agreement_report(n_prompts=600, seed=1)
    assert 0.75 <= report["noisy_vs_gold"] <= 0.87
    assert abs(report["noisy_vs_gold"] - labeler.GOLD_AGREEMENT) < 0.02
    assert abs(report["noisy_vs_noisy"] - labeler.DEFAULT_AGREEMENT) < 0.02
    # more noise, less agreement
    assert labeler.agreement_report(n_prompts=300, noise=3.0, seed=1)["noisy_vs_gold"] < 0.7


@pytest.fixture(scope="module")
def means():
    return labeler.mean_scores(load_jsonl(DATA_DIR / "sft_train.jsonl"))


def test_careful_demonstrator_wins_in_every_family(means):
    for family in FAMILIES:
        careful = means[(family, "careful")]
        assert careful > means[(family, "sloppy")] + 1, family
        assert careful > means[(family, "rambling")] + 0.5, family
        assert careful > means[(family, "terse")], family
    assert max(DEMONSTRATORS, key=lambda d: means[d]) == "careful"


def test_guideline_examples_agree_with_the_labeler():
    text = (DATA_DIR / "guidelines.md").read_text()
    examples = re.findall(r"Prompt: `(.+?)`\n- A: `(.*?)`\n- B: `(.*?)`\n\nPreferred: (A|B) "
                          r"\((\w+), gold ([+-]\d\.\d\d) vs (\w+), ([+-]\d\.\d\d)\)", text)
    assert len(examples) >= 15
    for prompt, a, b, preferred, va, gold_a, vb, gold_b in examples:
        sa, sb = score(prompt, a), score(prompt, b)
        assert (sa > sb) == (preferred == "A"), prompt
        assert (verdict(prompt, a), f"{sa:+.2f}", verdict(prompt, b), f"{sb:+.2f}") == (va, gold_a, vb, gold_b), prompt


def test_guideline_mean_scores_match_the_data(means):
    text = (DATA_DIR / "guidelines.md").read_text()
    table = dict(re.findall(r"\| (\w+) \| \d+% \| .+? \| ([+-]\d\.\d\d) \|", text))
    assert set(table) == set(DEMONSTRATORS)
    for who, quoted in table.items():
        assert quoted == f"{means[who]:+.2f}", who
    for family in FAMILIES:
        assert f"{family} {means[family]:+.2f}" in " ".join(text.split()), family
