"""The BPE tokenizer against a hand-worked example and naive pure-Python references."""
import regex

from nanorlhf.tokenizer import SPLIT_PATTERN, Tokenizer

PARAGRAPH = (
    "The cat sat on the mat. The dog didn't; it's 2024, and 12345 dogs ran!\n"
    "  Indented line\twith a tab,\r\nCRLF, and trailing spaces   \n\n\n"
    "Café naïve façade — «quoted» 日本語のテキスト 🙂🚀 done...\n"
    "What is 7 plus 5? 7 plus 5 is 12. I'll say: they're here, we've gone.\n"
)
# a small corpus with enough repetition for real merges
CORPUS = PARAGRAPH * 3 + " ".join(f"word{i % 17} the then there {i}" for i in range(300))


def naive_train(text, num_merges):
    """minbpe's plain loop: recount every pair after every merge; ties -> smallest pair."""
    words = [list(chunk.encode("utf-8")) for chunk in regex.findall(SPLIT_PATTERN, text)]
    merges = []
    for k in range(num_merges):
        counts = {}
        for ids in words:
            for pair in zip(ids, ids[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            break
        pair = sorted(counts, key=lambda p: (-counts[p], p))[0]
        merges.append(pair)
        for w, ids in enumerate(words):
            out, i = [], 0
            while i < len(ids):
                if ids[i:i + 2] == list(pair):
                    out.append(256 + k)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            words[w] = out
    return merges


def naive_encode(text, merges):
    """Apply the merges in training order (minbpe's encode), chunk by chunk."""
    rank = {pair: 256 + k for k, pair in enumerate(merges)}
    out = []
    for chunk in regex.findall(SPLIT_PATTERN, text):
        ids = list(chunk.encode("utf-8"))
        while len(ids) >= 2:
            pairs = list(zip(ids, ids[1:]))
            pair = min(pairs, key=lambda p: rank.get(p, float("inf")))
            if pair not in rank:
                break
            # merge every occurrence, left to right
            new, j = [], 0
            while j < len(ids):
                if j + 1 < len(ids) and (ids[j], ids[j + 1]) == pair:
                    new.append(rank[pair])
                    j += 2
                else:
                    new.append(ids[j])
                    j += 1
            ids = new
        out += ids
    return out


def test_worked_example():
    # "aaabdaaabac": (a,a) is the most frequent pair (4 times) -> 256 = "aa";
    # then "aa a b d aa a b a c" has (256,97) and (97,98) twice each: the tie goes to the
    # smaller pair (97,98) -> 257 = "ab"; then (256,257) twice -> 258 = "aaab".
    tok = Tokenizer.train("aaabdaaabac", vocab_size=256 + 3 + 4)
    assert tok.merges == [(97, 97), (97, 98), (256, 257)]
    assert tok.encode("aaabdaaabac") == [258, 100, 258, 97, 99]  # "aaab" d "aaab" a c
    assert tok.decode([258, 100]) == "aaabd"
    assert (tok.eos_id, tok.pad_id, tok.user_id, tok.assistant_id) == (259, 260, 261, 262)
    assert tok.vocab_size == 263


def test_train_matches_naive_loop():
    tok = Tokenizer.train(CORPUS, vocab_size=256 + 60 + 4)
    assert tok.merges == naive_train(CORPUS, 60)


def test_tiktoken_matches_naive_encode():
    tok = Tokenizer.train(CORPUS, vocab_size=256 + 60 + 4)
    for text in [PARAGRAPH, "the then there word3 word16 99999 theretherethe"]:
        ids = tok.encode(text)
        assert ids == naive_encode(text, tok.merges)
        assert len(ids) < len(text.encode("utf-8"))  # the merges were actually used


def test_round_trip_unicode():
    tok = Tokenizer.train(CORPUS, vocab_size=256 + 60 + 4)
    for text in [PARAGRAPH, "", " ", "\n\n\t  \r\n", "🙂" * 5, "ñ日本🚀 a\u200bb", "x<|eos|>y <|pad|>"]:
        assert tok.decode(tok.encode(text)) == text


def test_special_strings_in_text_stay_text():
    tok = Tokenizer.train(CORPUS, vocab_size=256 + 60 + 4)
    ids = tok.encode("hello <|eos|><|user|>")
    assert not set(ids) & set(tok.special_tokens.values())
    assert tok.decode(ids) == "hello <|eos|><|user|>"


def test_special_tokens_and_chat_template():
    tok = Tokenizer.train(CORPUS, vocab_size=256 + 60 + 4)
    assert tok.pad_id != tok.eos_id
    assert len({tok.eos_id, tok.pad_id, tok.user_id, tok.assistant_id}) == 4
    assert min(tok.special_tokens.values()) == 256 + len(tok.merges)  # right after the merges
    assert max(tok.special_tokens.values()) == tok.vocab_size - 1
    assert tok.decode([tok.eos_id, tok.pad_id, tok.user_id, tok.assistant_id]) == \
        "<|eos|><|pad|><|user|><|assistant|>"


def test_save_load_and_dict(tmp_path):
    tok = Tokenizer.train(CORPUS, vocab_size=256 + 60 + 4)
    path = tmp_path / "tok.json"
    tok.save(path)
    for other in [Tokenizer.load(path), Tokenizer.from_dict(tok.to_dict())]:
        assert other.merges == tok.merges and other.name == tok.name
        assert other.encode(PARAGRAPH) == tok.encode(PARAGRAPH)
        assert other.vocab_size == tok.vocab_size and other.eos_id == tok.eos_id
