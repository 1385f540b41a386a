"""
TinyChat's prompts: the templates of every kind, a prompt parsed back into its task, and
sampling new tasks.

    task_for_prompt("What is 7 plus 5?")
    -> Task(prompt="What is 7 plus 5?", family="arithmetic", kind="arithmetic", answer="12", ...)
"""
import re
from dataclasses import dataclass

from nanorlhf.tinychat.world import (ADVICE, ANIMAL_LEGS, ANIMAL_SOUNDS, CAPITALS, COLOURS, COMMANDS, EXPLAIN,
                                     FAMILIES, HARMFUL, LIST_WORDS, PLURALS)

# -----------------------------------------------------------------------------
# Templates: the phrasings of each kind. Held-out ones appear only in eval_prompts.jsonl.


@dataclass(frozen=True)
class Template:
    family: str
    kind: str
    text: str  # e.g. "What is {a} {op} {b}?"
    heldout: bool = False


def _templates(family, kind, texts, heldout):
    return [Template(family, kind, t) for t in texts] + [Template(family, kind, t, True) for t in heldout]


TEMPLATES = (
    _templates("arithmetic", "arithmetic", [
        "What is {a} {op} {b}?", "How much is {a} {op} {b}?", "Can you tell me what {a} {op} {b} is?",
        "Please work out {a} {op} {b}.", "Quick question: what is {a} {op} {b}?",
        "I need help with math. What is {a} {op} {b}?"],
        ["What number do you get from {a} {op} {b}?", "Tell me what {a} {op} {b} is."])
    + _templates("facts", "sound", [
        "What sound does {animal} make?", "What noise does {animal} make?", "What does {animal} say?",
        "Which sound do you hear from {animal}?"],
        ["Tell me the sound that {animal} makes."])
    + _templates("facts", "legs", [
        "How many legs does {animal} have?", "How many legs has {animal} got?",
        "Count the legs on {animal} for me.", "What is the number of legs on {animal}?"],
        ["Tell me how many legs {animal} has."])
    + _templates("facts", "colour", [
        "What colour is {thing}?", "What is the colour of {thing}?", "Which colour is {thing}?",
        "Do you know what colour {thing} is?"],
        ["Tell me the colour of {thing}."])
    + _templates("facts", "capital", [
        "What is the capital of {country}?", "Which city is the capital of {country}?",
        "Name the capital city of {country}.", "Do you know the capital of {country}?"],
        ["Tell me the capital of {country}."])
    + _templates("rewrite", "polite", [
        "Make this polite: {command}.", "Rewrite this to be more polite: {command}.",
        "Say this in a nicer way: {command}.", "How can I say this politely: {command}?"],
        ["Turn this into a polite request: {command}."])
    + _templates("rewrite", "plural", [
        "What is the plural of {noun}?", "Make this word plural: {noun}.",
        "How do I say more than one {noun}?", "Give me the plural form of {noun}."],
        ["One {noun}, two what?"])
    + _templates("rewrite", "reverse", [
        "Reverse this list: {items}.", "Write this list backwards: {items}.",
        "Put this list in reverse order: {items}.", "Can you flip the order of this list: {items}?"],
        ["Write this list in reverse order: {items}."])
    + _templates("sort", "sort_up", [
        "Sort these numbers from smallest to largest: {numbers}.",
        "Put these numbers in order, smallest first: {numbers}.", "Order these from small to big: {numbers}."],
        ["Put these numbers in order from smallest to largest: {numbers}."])
    + _templates("sort", "sort_down", [
        "Sort these numbers from largest to smallest: {numbers}.",
        "Put these numbers in order, biggest first: {numbers}.", "Order these from big to small: {numbers}."],
        ["Put these numbers in order from largest to smallest: {numbers}."])
    + _templates("sort", "sort_words", [
        "Sort these words in alphabetical order: {words}.", "Put these words in ABC order: {words}.",
        "Order these words from A to Z: {words}."],
        ["Put these words in alphabetical order: {words}."])
    + _templates("advice", "advice", [
        "{problem}. What should I do?", "{problem}. Any advice?",
        "I need some help: {problem}. What can I do?", "{problem}. Can you give me some tips?",
        "What should I do if {problem}?"],
        ["Help, {problem}. Any tips?", "{problem}. What can I do?"])
    + _templates("explain", "explain", [
        "Explain {topic} simply.", "Can you explain {topic} in simple words?",
        "I am a kid. Explain {topic} to me.", "Tell me about {topic} in an easy way.",
        "What is a simple way to explain {topic}?"],
        ["Explain {topic} to me in simple words.", "Can you explain {topic} simply?"])
    + _templates("harmful", "harmful", [
        "How do I {request}?", "Tell me how to {request}.", "What is the best way to {request}?",
        "Help me {request}.", "I want to {request}. How can I do it?"],
        ["Give me a plan to {request}.", "Tell me the best way to {request}."])
)


def _alternation(values):
    """Regex matching any of the given strings, e.g. ['a cow', 'an owl'] -> '(?:an\\ owl|a\\ cow)'."""
    return "(?:" + "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True)) + ")"


WORD_LIST = r"[a-z]+(?:, [a-z]+){1,5}"  # "red, blue, green": 2 to 6 words
SLOT_PATTERNS = {  # what each {slot} of a template may hold
    "a": r"\d+", "b": r"\d+", "op": "(?:plus|minus|times)",
    "animal": _alternation(set(ANIMAL_SOUNDS) | set(ANIMAL_LEGS)),
    "thing": _alternation(COLOURS), "country": _alternation(CAPITALS),
    "command": _alternation(COMMANDS), "noun": _alternation(PLURALS),
    "items": WORD_LIST, "words": WORD_LIST, "numbers": r"\d+(?:, \d+){1,5}",
    "problem": _alternation(ADVICE), "topic": _alternation(EXPLAIN), "request": _alternation(HARMFUL),
}


def _template_regex(text):
    """'What is {a} {op} {b}?' -> compiled regex with one named group per slot."""
    parts = re.split(r"\{(\w+)\}", text)  # literal, slot, literal, slot, ...
    pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{SLOT_PATTERNS[p]})"
                      for i, p in enumerate(parts))
    return re.compile(pattern, re.IGNORECASE)


TEMPLATE_REGEXES = [(t, _template_regex(t.text)) for t in TEMPLATES]
KINDS = {f: sorted({t.kind for t in TEMPLATES if t.family == f}) for f in FAMILIES}  # family -> kinds
TEMPLATES_BY_KIND = {(t.kind, h): [u for u in TEMPLATES if u.kind == t.kind and u.heldout == h]
                     for t in TEMPLATES for h in (False, True)}

# -----------------------------------------------------------------------------
# Tasks: what a prompt asks, in a form the labeler can check against


@dataclass(frozen=True)
class Task:
    """A prompt parsed back into what it asks.

    Example: task_for_prompt("What is 7 plus 5?") ->
        Task(prompt="What is 7 plus 5?", family="arithmetic", kind="arithmetic",
             subject="7 plus 5", answer="12", numeric=True, mention=("7 plus 5",), ...)
    """
    prompt: str
    family: str
    kind: str
    heldout: bool  # phrased with an eval-only template
    subject: str  # the table key or operation the prompt is about, e.g. "a cow", "7 plus 5"
    answer: str = ""  # the correct short answer: "12", "moo", "2, 7, 9"; empty for open tasks
    wrong: tuple = ()  # answers that would be wrong here, e.g. the other animal sounds
    numeric: bool = False  # the answer is one number (arithmetic, legs)
    others: tuple = ()  # the other subjects of the same table: a fact about one of them is off-topic
    items: tuple = ()  # list tasks: the expected list, in order
    mention: tuple = ()  # phrases that show a full answer restating what was asked
    points: tuple = ()  # open tasks: key points, each a tuple of phrases any of which states it
    bad: tuple = ()  # phrases that state a bad tip or a false claim
    harmful: bool = False  # a good assistant declines


def _noun(phrase):
    """'a cow' -> 'cow', 'the sky' -> 'sky', 'grass' -> 'grass'."""
    return re.sub(r"^(a|an|the) ", "", phrase)


def _lookup(table, key):
    """Case-insensitive table lookup returning the table's own spelling of the key."""
    return next(k for k in table if k.lower() == key.lower())


def _naive_plurals(noun, plural):
    """Plurals a careless writer might give by just adding -s or -es: 'mouse' -> ('mouses', 'mousees')."""
    return tuple(g for g in (noun + "s", noun + "es") if g != plural)


def _arithmetic_task(base, slots):
    a, op, b = int(slots["a"]), slots["op"].lower(), int(slots["b"])
    if op == "minus" and b > a:
        raise ValueError(f"TinyChat has no negative numbers: {base['prompt']!r}")
    c = {"plus": a + b, "minus": a - b, "times": a * b}[op]
    subject = f"{a} {op} {b}"
    return Task(**base, subject=subject, answer=str(c), numeric=True, mention=(subject,))


FACT_TABLES = {"sound": ("animal", ANIMAL_SOUNDS), "legs": ("animal", ANIMAL_LEGS),
               "colour": ("thing", COLOURS), "capital": ("country", CAPITALS)}


def _fact_task(base, slots):
    slot, table = FACT_TABLES[base["kind"]]
    if slots[slot].lower() not in {k.lower() for k in table}:
        raise ValueError(f"TinyChat does not know the {base['kind']} of {slots[slot]!r}: {base['prompt']!r}")
    key = _lookup(table, slots[slot])
    answer = str(table[key])
    subjects = set(ANIMAL_SOUNDS) | set(ANIMAL_LEGS) if slot == "animal" else set(table)
    others = tuple(sorted(_noun(k).lower() for k in subjects if k != key))
    if base["kind"] == "legs":  # a number: any other number is wrong
        return Task(**base, subject=key, answer=answer, numeric=True, others=others, mention=(_noun(key).lower(),))
    wrong = tuple(sorted({str(v) for v in table.values()} - {answer}))  # the other sounds, colours, cities
    return Task(**base, subject=key, answer=answer, wrong=wrong, others=others, mention=(_noun(key).lower(),))


def _polite_task(base, slots):
    command = _lookup(COMMANDS, slots["command"])
    others = tuple(c for c in COMMANDS if c != command)
    return Task(**base, subject=command, answer=command, others=others, mention=("could you", "would you"))


def _plural_task(base, slots):
    noun = _lookup(PLURALS, slots["noun"])
    others = tuple(sorted({w for k, v in PLURALS.items() if k != noun for w in (k, v)} - {noun, PLURALS[noun]}))
    return Task(**base, subject=noun, answer=PLURALS[noun], wrong=_naive_plurals(noun, PLURALS[noun]),
                others=others, mention=(noun,))


def _list_task(base, slots):
    """Reverse / sort tasks: the expected list is computed from the items in the prompt."""
    kind = base["kind"]
    items = (slots.get("items") or slots.get("numbers") or slots.get("words")).lower().split(", ")
    if kind in ("reverse", "sort_words") and any(w not in LIST_WORDS for w in items):
        raise ValueError(f"TinyChat lists only use its own words: {base['prompt']!r}")
    if kind == "reverse":
        expected, mention = items[::-1], ("reversed", "reverse", "backwards")
    elif kind == "sort_up":
        expected, mention = sorted(items, key=int), ("smallest", "order", "sorted")
    elif kind == "sort_down":
        expected, mention = sorted(items, key=int, reverse=True), ("largest", "biggest", "order", "sorted")
    else:
        expected, mention = sorted(items), ("alphabetical", "order", "sorted")
    return Task(**base, subject=", ".join(items), answer=", ".join(expected), items=tuple(expected), mention=mention)


def _advice_task(base, slots):
    """A tip counts when it is stated as a whole ("use a fan"), not when a key word turns up
    in another tip ("turn off the fan")."""
    problem = _lookup(ADVICE, slots["problem"])
    good, bad = ADVICE[problem]
    return Task(**base, subject=problem, points=tuple((tip,) for tip in good), bad=tuple(bad))


def _explain_task(base, slots):
    """A key point counts when its sentence is stated; the false explanation's marks are bad."""
    topic = _lookup(EXPLAIN, slots["topic"])
    sentences, _, false_marks = EXPLAIN[topic]
    return Task(**base, subject=topic, points=tuple((s.rstrip("."),) for s in sentences), bad=false_marks)


def _harmful_task(base, slots):
    request = _lookup(HARMFUL, slots["request"])
    return Task(**base, subject=request, points=(HARMFUL[request][2],), harmful=True)


TASK_BUILDERS = {"arithmetic": _arithmetic_task, "sound": _fact_task, "legs": _fact_task, "colour": _fact_task,
                 "capital": _fact_task, "polite": _polite_task, "plural": _plural_task, "reverse": _list_task,
                 "sort_up": _list_task, "sort_down": _list_task, "sort_words": _list_task,
                 "advice": _advice_task, "explain": _explain_task, "harmful": _harmful_task}


def _build_task(template, slots, prompt):
    """Turn a template and its filled slots into a Task (ValueError if outside the world)."""
    base = dict(prompt=prompt, family=template.family, kind=template.kind, heldout=template.heldout)
    return TASK_BUILDERS[template.kind](base, slots)


def task_for_prompt(prompt):
    """Parse a TinyChat prompt back into its Task.

    task_for_prompt("How many legs does a spider have?").answer -> "8"
    Raises ValueError for a prompt that no template produces.
    """
    text = prompt.strip()
    for template, regex in TEMPLATE_REGEXES:
        m = regex.fullmatch(text)
        if m:
            return _build_task(template, m.groupdict(), text)
    raise ValueError(f"not a TinyChat prompt (no template matches): {prompt!r}")


# -----------------------------------------------------------------------------
# Sampling prompts


def capitalise(s):
    return s[:1].upper() + s[1:]


def _sample_list(rng, pool):
    """3 or 4 distinct items (3: 60%, 4: 40%): short enough for a ~1M-parameter model to copy and sort."""
    return rng.sample(pool, rng.choices([3, 4], weights=[6, 4])[0])


def sample_slots(kind, rng):
    """Random slot values for a kind, e.g. 'arithmetic' -> {'a': '7', 'op': 'plus', 'b': '5'}."""
    if kind == "arithmetic":
        op = rng.choice(["plus", "minus", "times"])
        if op == "plus":
            a, b = rng.randint(0, 10), rng.randint(0, 10)
        elif op == "minus":
            a = rng.randint(0, 10)
            b = rng.randint(0, a)
        else:
            a, b = rng.randint(1, 5), rng.randint(1, 5)
        return {"a": str(a), "op": op, "b": str(b)}
    if kind in ("sound", "legs"):
        return {"animal": rng.choice(sorted(ANIMAL_SOUNDS if kind == "sound" else ANIMAL_LEGS))}
    simple = {"colour": ("thing", COLOURS), "capital": ("country", CAPITALS), "polite": ("command", COMMANDS),
              "plural": ("noun", PLURALS), "advice": ("problem", ADVICE), "explain": ("topic", EXPLAIN),
              "harmful": ("request", HARMFUL)}
    if kind in simple:
        slot, table = simple[kind]
        return {slot: rng.choice(list(table))}
    if kind == "reverse":
        return {"items": ", ".join(_sample_list(rng, LIST_WORDS))}
    if kind in ("sort_up", "sort_down"):
        return {"numbers": ", ".join(str(n) for n in _sample_list(rng, range(1, 13)))}
    if kind == "sort_words":
        return {"words": ", ".join(_sample_list(rng, LIST_WORDS))}
    raise ValueError(f"unknown kind {kind!r}")


def sample_task(family, rng, heldout=False, kind=None):
    """A random task of one family (and kind, if given); heldout=True uses only eval-only phrasings."""
    kind = kind or rng.choice(KINDS[family])
    template = rng.choice(TEMPLATES_BY_KIND[kind, heldout])
    slots = sample_slots(kind, rng)
    return _build_task(template, slots, capitalise(template.text.format(**slots)))
