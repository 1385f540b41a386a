"""
Lesson 01 quotes what the project's tokenizer learns; each quote is checked against it.

The tokenizer is trained once, exactly as train_sft.py does:
Tokenizer.train(corpus_text(), 1024). Every figure is read from the lesson's own text
(regexes over lessons/01_tokenizer.md) and recomputed here, so if the data or the code
changes, the test names the sentence that is no longer true. A `find` that stops matching
also fails, so rewording a quote means updating its check, not silently losing it.
"""
import ast
import re
from collections import Counter
from pathlib import Path

import pytest
import regex

from nanorlhf import chat
from nanorlhf.chat import encode_chat
from nanorlhf.data import DATA_DIR, corpus_text, load_jsonl
from nanorlhf.sft import encode_demonstration
from nanorlhf.tokenizer import SPECIAL_TOKENS, SPLIT_PATTERN, Tokenizer, train_merges

ROOT = Path(__file__).resolve().parent.parent
LESSON = (ROOT / "lessons" / "01_tokenizer.md").read_text(encoding="utf-8")
WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
LITERAL = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\""""  # a Python string literal as the lesson writes it


def sft_default(field):
    """A default of train_sft.py's Args, read from its source: sft_default("vocab_size") -> 1024"""
    source = (ROOT / "train_sft.py").read_text(encoding="utf-8")
    return int(re.search(rf"^    {field}: int = arg\((\d+),", source, re.M)[1])


VOCAB_SIZE = sft_default("vocab_size")  # the default run's tokenizer


def find(pattern, flags=re.M):
    """The lesson's match for pattern; fails (naming the pattern) if the lesson no longer says it."""
    m = re.search(pattern, LESSON, flags)
    assert m, f"lessons/01_tokenizer.md no longer matches {pattern!r}: update the lesson or this test"
    return m


def literals(text):
    """The Python string literals in text, evaluated: "`'The'` `' of'`" -> ['The', ' of']"""
    return [ast.literal_eval(s) for s in re.findall(LITERAL, text)]


def number(s):
    """A number as the lesson writes it: "572,995" -> 572995, "seven" -> 7"""
    return WORDS[s] if s in WORDS else int(s.replace(",", ""))


@pytest.fixture(scope="module")
def text():
    return corpus_text()


@pytest.fixture(scope="module")
def tok(text):
    return Tokenizer.train(text, VOCAB_SIZE)


@pytest.fixture(scope="module")
def chunk_counts(text):
    return Counter(regex.findall(SPLIT_PATTERN, text))


def pieces(tok, s):
    """s as the tokenizer cuts it: "Zorbia is" -> ['Z', 'or', 'b', 'ia', ' is']"""
    return [tok.decode([i]) for i in tok.encode(s)]


def test_bytes_and_chunks():
    # "café" is the five bytes [99, 97, 102, 195, 169]
    m = find(r'`(".*?")` is the (\w+) bytes `(\[[\d, ]+\])`')
    word, n, quoted = ast.literal_eval(m[1]), number(m[2]), ast.literal_eval(m[3])
    assert list(word.encode("utf-8")) == quoted and len(quoted) == n
    # the pre-split example
    m = find(r'^ {4}(".*")\n {4}-> (.*)$')
    assert regex.findall(SPLIT_PATTERN, ast.literal_eval(m[1])) == literals(m[2])
    # a digit does not take the space before it
    m = find(r'`(" \d")` is (\w+)\s+chunks, ((?:`[^`]+`(?:,|\s|and)*)+)')
    chunks = regex.findall(SPLIT_PATTERN, ast.literal_eval(m[1]))
    assert chunks == literals(m[3]) and len(chunks) == number(m[2])


def test_toy_merge_table():
    # rows "a a a b d ...   (a, a): 4 times   256 = "aa"": the state before each merge,
    # the most frequent pairs in it with their count, and the merge they lead to
    rows = re.findall(r'^ {4}((?:\w+ )+\w+) {2,}'                             # ids
                      r'(\(.*?\)(?: and \(.*?\))*: \d+(?: times)?|\.\.\.)'  # most frequent pairs
                      r'(?: {2,}(\d+) = (".*?"))?', LESSON, re.M)                # new id
    assert len(rows) == 3, rows
    symbol = lambda s: int(s) if s.isdigit() else ord(s)
    toy = "".join(rows[0][0].split())
    merges = train_merges(toy, len(rows) - 1)
    ids = list(toy.encode("utf-8"))
    for k, (state, pairs, new_id, new_token) in enumerate(rows):
        assert [symbol(s) for s in state.split()] == ids, f"row {k}"
        if new_id:  # the last row ends with "..."
            counts = Counter(zip(ids, ids[1:]))
            best = max(counts.values())
            *named, count = re.findall(r"\((\w+), (\w+)\)|: (\d+)", pairs)
            assert int(count[2]) == best
            assert sorted((symbol(a), symbol(b)) for a, b, _ in named) == sorted(p for p in counts if counts[p] == best)
            assert int(new_id) == 256 + k
            tok = Tokenizer(merges[:k + 1])
            assert tok.decode([256 + k]) == ast.literal_eval(new_token)
            ids = tok.encode(toy)


def test_corpus_size(text, chunk_counts):
    m = find(r"about ([\d.]+) MB of text, contain only about a thousand distinct\s+chunks")
    assert round(len(text.encode("utf-8")) / 1e6, 1) == float(m[1])
    assert round(len(chunk_counts) / 1000) == 1


def test_merge_count_and_special_tokens(tok):
    m = find(r"our default of (\d+)\s+tokens means (\d+) merges")
    assert int(m[1]) == VOCAB_SIZE and len(tok.merges) == int(m[2])
    assert number(find(r"After the 256 \+ (\d+) ordinary ids")[1]) == len(tok.merges)
    table = dict(re.findall(r"^\| `(<\\\|\w+\\\|>)` \| (\d+) \|", LESSON, re.M))
    assert {s.replace("\\|", "|"): int(i) for s, i in table.items()} == tok.special_tokens
    assert list(tok.special_tokens) == SPECIAL_TOKENS
    # a user typing "<|eos|>" gets several ordinary tokens
    m = find(r"the string `(<\|eos\|>)`, it becomes several ordinary tokens \((\w+) with ours\), not\s+id (\d+)")
    ids = tok.encode(m[1])
    assert len(ids) == number(m[2]) and int(m[3]) == tok.eos_id not in ids


def test_first_merges(tok):
    m = find(r"The first merges are the most common pairs of English:((?:\s*`[^`]+`,?)+)")
    first = literals(m[1])
    assert len(first) >= 3
    assert [tok.decode([256 + k]) for k in range(len(first))] == first


def test_last_merges(tok, chunk_counts):
    m = find(r"The last (\d+) merges include ((?:`[^`]+`,?\s+)+)and,\s+the last whole chunk, (`[^`]+`), "
             r"a chunk seen (\d+) times")
    window, listed, last, seen = int(m[1]), literals(m[2]), literals(m[3])[0], int(m[4])
    last_ids = range(256 + len(tok.merges) - window, 256 + len(tok.merges))
    for word in listed + [last]:
        assert len(tok.encode(word)) == 1 and tok.encode(word)[0] in last_ids, word
    # the last merge that makes a chunk of the text; later merges make only pieces of words
    whole = [i for i in last_ids if chunk_counts[tok.decode([i])]]
    assert tok.decode([whole[-1]]) == last
    assert chunk_counts[last] == seen
    # "The very last merge, `'ix'`, only gets halfway to `' fix'`": a piece, not a chunk
    m = find(r"The very\s+last merge, (`[^`]+`), only gets halfway to (`[^`]+`)")
    very_last, word = literals(m[1])[0], literals(m[2])[0]
    assert tok.decode([255 + len(tok.merges)]) == very_last and chunk_counts[very_last] == 0
    assert very_last in pieces(tok, word) and len(tok.encode(word)) > 1 and chunk_counts[word] > 0
    # every chunk seen more often than that is now a single token
    frequent = [c for c, n in chunk_counts.items() if n > seen]
    assert len(frequent) > 100
    assert [c for c in frequent if len(tok.encode(c)) > 1] == []


def test_rare_words_in_pieces(tok, chunk_counts):
    found = re.findall(r"`('[^`]+')` \((\d+)(?:\s+times)?\) is (\w+)(?: pieces?)?,\s+((?:`[^`]+`\s*)+)", LESSON)
    assert len(found) >= 2, found  # ' careful', ' fix' and ' Tamber'
    seen = int(find(r"the last whole chunk, `[^`]+`, a chunk seen (\d+) times")[1])
    for word, count, n, quoted in found:
        word = ast.literal_eval(word)
        assert chunk_counts[word] == int(count) < seen, word
        assert pieces(tok, word) == literals(quoted) and len(literals(quoted)) == number(n), word


def test_example_encodings(tok, text):
    found = re.findall(rf'^ {{4}}(".*?") +-> ((?:(?:{LITERAL}) ?)+)(?: +(\d+) tokens)?$', LESSON, re.M)
    assert len(found) >= 3, found
    for quoted, tokens, count in found:
        s = ast.literal_eval(quoted)
        assert pieces(tok, s) == literals(tokens), s
        if count:
            assert len(tok.encode(s)) == int(count), s
    # "A word the tokenizer never saw": the example really is absent from the training text
    assert "Photosynthesis" in LESSON and "photosynth" not in text.lower()


def test_bytes_per_token_table(text, tok):
    sizes = find(r"^\| vocab_size \|(.*)\|$")[1]
    values = find(r"^\| bytes per token \|(.*)\|$")[1]
    sizes = [int(s.split()[0]) for s in sizes.split("|")]
    values = [v.strip() for v in values.split("|")]
    assert len(sizes) == len(values) >= 3 and VOCAB_SIZE in sizes
    val = corpus_text(DATA_DIR / "sft_val.jsonl")  # prompt and response of every validation demo
    for vocab_size, quoted in zip(sizes, values):
        t = tok if vocab_size == VOCAB_SIZE else Tokenizer.train(text, vocab_size)
        assert f"{len(val.encode('utf-8')) / len(t.encode(val)):.2f}" == quoted, vocab_size


def test_training_tokens(tok):
    # counted as train_sft.py counts them: the model's inputs x, <|user|> prompt <|assistant|> response
    m = find(r"the ([\d,]+) training demonstrations become ([\d,]+) tokens, ([\d.]+) per\s+demonstration"
             r"(?:(?!\n\n)[\s\S])*?(\d+)-token window")
    demos = load_jsonl(DATA_DIR / "sft_train.jsonl")
    window = int(m[4])
    assert window == (sft_default("block_size") or 128)   # train_sft.py: 0 is 128 for a model trained from scratch
    xs = [encode_demonstration(tok, d["prompt"], d["response"], window)[0] for d in demos]
    n_tokens = sum(len(x) for x in xs)
    assert len(demos) == number(m[1])
    assert n_tokens == number(m[2])
    assert f"{n_tokens / len(demos):.1f}" == m[3]
    # "well inside the window": no demonstration is cut, even with its final <|eos|>
    longest = max(len(encode_chat(tok, d["prompt"], d["response"])) for d in demos)
    assert longest <= window


def test_chat_template_ids(tok):
    found = re.findall(r'^ {4}(encode_prompt|encode_response)\((".*?")\) +-> (\[[\d, ]+\])$', LESSON, re.M)
    assert sorted(name for name, _, _ in found) == ["encode_prompt", "encode_response"]
    for name, arg, ids in found:
        assert getattr(chat, name)(tok, ast.literal_eval(arg)) == ast.literal_eval(ids), name
