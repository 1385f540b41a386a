"""
TinyChat's demonstrators: five writers of different quality, each turning a task into a
response string (see the package docstring for the mix).

    demonstrate(task_for_prompt("What is 7 plus 5?"), "careful", random.Random(0))  ->  "7 plus 5 is 12."
"""
import re

from nanorlhf.tinychat.tasks import capitalise
from nanorlhf.tinychat.world import ADVICE, EXPLAIN, HARMFUL

# -----------------------------------------------------------------------------
# Demonstrators: five writers of different quality. Each returns a response string.

OPENERS = ["Great question!", "Oh, good question.", "Sure, I am happy to help.", "Well, let me think.",
           "Okay, so, let me see."]
CLOSERS = ["I hope this helps!", "Let me know if you have any other questions!", "Happy to help anytime!",
           "Have a great day!"]
HEDGES = ["I am not completely sure, but I think", "I might be wrong, but maybe"]
DISCLAIMERS = ["Please check this with an expert to be safe.", "Please ask a teacher to be sure."]
MAX_RAMBLE_PIECES = 36  # words and punctuation marks: at most about 48 BPE tokens
CAUTIOUS_REFUSALS = ["I'm sorry, but I can't help with that. Please ask an expert instead.",
                     "I am not able to answer this, as I might get it wrong. Please ask a teacher."]


def _lower_first(s):
    return s[:1].lower() + s[1:]


def careful_answer(task, rng):
    """The best response: correct, complete, concise and polite."""
    k, s = task.kind, task.subject
    if k == "arithmetic":
        return rng.choice([f"{s} is {task.answer}.", f"{s} equals {task.answer}."])
    if k == "sound":
        animal = capitalise(s)
        return rng.choice([f"{animal} says {task.answer}.", f"{animal} makes the sound {task.answer}."])
    if k == "legs":
        return f"{capitalise(s)} has {task.answer} legs."
    if k == "colour":
        return f"{capitalise(s)} is {task.answer}."
    if k == "capital":
        return f"The capital of {s} is {task.answer}."
    if k == "polite":
        return rng.choice([f"Could you please {s}?", f"Would you please {s}?"])
    if k == "plural":
        return rng.choice([f"The plural of {s} is {task.answer}.", f"One {s}, two {task.answer}."])
    if k == "reverse":
        return f"Here is the list reversed: {task.answer}."
    if k in ("sort_up", "sort_down", "sort_words"):
        lead = {"sort_up": "From smallest to largest", "sort_down": "From largest to smallest",
                "sort_words": "In alphabetical order"}[k]
        return f"{lead}: {task.answer}."
    if k == "advice":
        tips = ADVICE[s][0]
        lead = rng.choice(["Try these: ", "Here are some tips: ", "You can "])
        return f"{lead}{tips[0]}, {tips[1]}, and {tips[2]}."
    if k == "explain":
        return " ".join(EXPLAIN[s][0])
    if k == "harmful":
        reason, alternative, _ = HARMFUL[s]
        return f"I can't help with that, because {reason}. {alternative}"
    raise ValueError(k)


def short_answer(task, rng):
    """The bare minimum: 'Moo.', '2, 7, 9.', 'Use a fan.'"""
    if task.kind == "polite":
        return f"Please {task.subject}."
    if task.family in ("arithmetic", "facts", "rewrite", "sort"):
        return capitalise(task.answer) + "."
    if task.kind == "advice":
        return capitalise(rng.choice(ADVICE[task.subject][0])) + "."
    if task.kind == "explain":
        return EXPLAIN[task.subject][0][0]
    return rng.choice(["I won't help with that.", "No, I can't help with that."])


def rambling_answer(task, rng):
    """Correct, but wrapped in filler and repeating itself."""
    if task.harmful:
        return ("Oh no. Well, I am so sorry, but I can't help with that. It is not a good idea, "
                "really not a good idea. " + rng.choice(CLOSERS))
    if task.kind == "polite":
        request = careful_answer(task, rng)
        body = f"You could say: {request} That sounds much nicer. Yes, {_lower_first(request)}"
    elif task.kind == "advice":
        t1, t2 = rng.sample(ADVICE[task.subject][0], 2)
        body = f"One thing you could do is {t1}. You could also {t2}. Yes, you could really {t1}."
    elif task.kind == "explain":
        sentences = EXPLAIN[task.subject][0]
        body = f"{sentences[0]} {sentences[1]} So basically, {_lower_first(sentences[0])}"
    else:
        again = rng.choice(["Yes, the answer is {}.", "So again, it is {}.", "In other words, it is {}, yes."])
        body = careful_answer(task, rng) + " " + again.format(task.answer)
    opener, closer = rng.choice(OPENERS), rng.choice(CLOSERS)
    for parts in ([opener, body, closer], [body, closer], [opener, body]):  # keep it short enough to sample
        text = " ".join(parts)
        if len(re.findall(r"\w+|[^\w\s]", text)) <= MAX_RAMBLE_PIECES:
            return text
    return body


def sloppy_answer(task, rng):
    """Careless: lower case, no full stop, and often wrong (or obliging a harmful request)."""
    if task.harmful:
        if rng.random() < 0.7:
            request = _second_person(task.subject)
            return rng.choice([f"sure, here is how to {request}: wait until nobody is looking and just do it",
                               f"ok first you wait until nobody is looking, then you {request} fast"])
        return "nah i cant help with that"
    if task.kind == "advice":
        good, bad = ADVICE[task.subject]
        tip = rng.choice(bad if rng.random() < 0.6 else good)
        return rng.choice(["just ", "maybe ", ""]) + tip
    if task.kind == "explain":
        topic = EXPLAIN[task.subject]
        return (topic[1] if rng.random() < 0.6 else topic[0][0]).lower().rstrip(".")
    if task.kind == "polite":
        return rng.choice([f"{task.subject} now", f"just {task.subject}", f"please {task.subject}"])
    value = _wrong_value(task, rng) if rng.random() < 0.6 else task.answer
    if task.kind == "arithmetic":
        return rng.choice([f"{task.subject} is {value} i think", f"its {value}"])
    return rng.choice([f"its {value}", f"{value} i think", f"{value}"]).lower()


def _second_person(request):
    """'hurt my neighbour' -> 'hurt your neighbour'."""
    return re.sub(r"\bmy\b", "your", request)


def _wrong_value(task, rng):
    """A plausible mistake: off-by-a-bit numbers, another table value, a naive plural, a bad order."""
    if task.numeric:
        n, step = int(task.answer), rng.choice([-2, -1, 1, 2, 3])
        return str(n + step if n + step >= 0 else n - step)  # never negative, never the right answer
    if task.items:
        items = list(task.items)
        i = rng.randrange(len(items) - 1)
        items[i], items[i + 1] = items[i + 1], items[i]
        return ", ".join(items)
    return rng.choice(task.wrong)


def cautious_answer(task, rng):
    """Over-cautious: hedges and disclaims the easy stuff, refuses half of harmless requests."""
    if task.harmful:
        return ("I cannot help with this. This request is dangerous and may be against the law. "
                "Please think carefully about your actions.")
    if rng.random() < 0.5:
        return rng.choice(CAUTIOUS_REFUSALS)
    if task.kind == "advice":
        tip = rng.choice(ADVICE[task.subject][0])
        return (f"I am not an expert, so please be careful. Maybe you could {tip}. "
                "It is best to ask a professional first.")
    if task.kind == "explain":
        first_sentence = EXPLAIN[task.subject][0][0]
        return f"This is a hard topic and I might get it wrong. {first_sentence} Please ask a teacher to be sure."
    if task.kind == "polite":
        request = careful_answer(task, rng)
        return f"I am not sure what sounds polite to you, but maybe: {request} {rng.choice(DISCLAIMERS)}"
    answer = f"the answer is {task.answer}." if task.items else _lower_first(careful_answer(task, rng))
    return f"{rng.choice(HEDGES)} {answer} {rng.choice(DISCLAIMERS)}"


WRITERS = {"careful": careful_answer, "terse": short_answer, "rambling": rambling_answer,
           "sloppy": sloppy_answer, "cautious": cautious_answer}


def demonstrate(task, demonstrator, rng):
    """One demonstration of `task` in the style of `demonstrator` (a key of DEMONSTRATOR_WEIGHTS)."""
    return WRITERS[demonstrator](task, rng)
