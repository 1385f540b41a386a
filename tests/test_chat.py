"""The chat template and the two padders (nanorlhf/chat.py), against ids and tensors written by hand."""
import torch

from nanorlhf.chat import decode_response, encode_chat, encode_prompt, encode_response, left_pad, right_pad
from nanorlhf.tokenizer import Tokenizer

TOK = Tokenizer.train("hi there. ok then. " * 20, vocab_size=256 + 4 + 4)


def test_the_template_wraps_the_prompt_and_ends_the_response_with_eos():
    assert encode_prompt(TOK, "hi") == [TOK.user_id] + TOK.encode("hi") + [TOK.assistant_id]
    assert encode_response(TOK, "ok") == TOK.encode("ok") + [TOK.eos_id]
    whole = encode_chat(TOK, "hi", "ok")
    assert whole == encode_prompt(TOK, "hi") + encode_response(TOK, "ok")
    assert encode_chat(TOK, "hi", "ok", block_size=3) == whole[:3]
    # PAD is its own token: a padded column can never be read as an ending
    assert len({TOK.eos_id, TOK.pad_id, TOK.user_id, TOK.assistant_id}) == 4


def test_decode_response_stops_at_the_first_eos_and_drops_pad():
    ids = TOK.encode("ok") + [TOK.eos_id] + TOK.encode("hi") + [TOK.pad_id]
    assert decode_response(TOK, ids) == "ok"
    assert decode_response(TOK, TOK.encode("ok") + [TOK.pad_id, TOK.pad_id]) == "ok"   # cut off: no EOS
    assert decode_response(TOK, [TOK.eos_id]) == ""


def test_left_and_right_padding_by_hand():
    idx, mask = left_pad([[5, 6, 7], [8]], pad_id=0)
    assert idx.tolist() == [[5, 6, 7], [0, 0, 8]] and mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    idx, mask = right_pad([[5, 6, 7], [8]], pad_id=0)
    assert idx.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    assert idx.dtype == mask.dtype == torch.long
    # the pad value is never read as data: padding with 8 (a real id here) changes only the PAD cells
    idx8, mask8 = right_pad([[5, 6, 7], [8]], pad_id=8)
    assert idx8.tolist() == [[5, 6, 7], [8, 8, 8]] and torch.equal(mask8, mask)
