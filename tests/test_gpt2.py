"""GPT-2 in nanorlhf: a tiny random GPT-2 saved by Hugging Face transformers (a test-only package,
installed by .ci/run) gives the same logits in the handwritten GPT, its vocab.json and merges.txt
the same token ids in GPT2Tokenizer as in transformers' tokenizers, and the embedding grown for
the chat template's special tokens leaves the old tokens' logits as they were."""
import io
import os

import pytest
import torch

from nanorlhf.checkpoint import load_checkpoint, save_checkpoint
from nanorlhf.gpt2 import GPT2Tokenizer, bytes_to_unicode, load_gpt2
from nanorlhf.model import GPT, GPTConfig
from nanorlhf.tokenizer import SPECIAL_TOKENS

from conftest import make_tiny_gpt2

transformers = pytest.importorskip("transformers", reason="transformers (test-only) is not installed")


@pytest.mark.parametrize("safetensors", [True, False], ids=["model.safetensors", "pytorch_model.bin"])
def test_from_pretrained_gives_the_logits_of_transformers(tmp_path, safetensors):
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=101, n_positions=48, n_embd=32, n_layer=2, n_head=4)
    reference = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():   # biases, LayerNorm gains and the MLP's input away from their initial values,
        for name, p in reference.named_parameters():   # so that they are tested too and GELU's input is of order 1
            if name.endswith(("bias", "ln_1.weight", "ln_2.weight", "ln_f.weight", "mlp.c_fc.weight")):
                p.normal_(0.0, 0.5)
    reference.save_pretrained(tmp_path, safe_serialization=safetensors)
    assert (tmp_path / ("model.safetensors" if safetensors else "pytorch_model.bin")).exists()
    model = GPT.from_pretrained(str(tmp_path)).eval()
    assert model.config.bias and model.config.mlp == "gelu_tanh" and not model.config.rotary
    assert model.lm_head.weight is model.transformer.wte.weight        # the tied head
    idx = torch.randint(0, 101, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, _ = model(idx)
        theirs = reference(idx).logits
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    # the exact GELU in place of GPT-2's tanh approximation is a hundred times further off
    for block in model.transformer.h:
        block.mlp.activation = torch.nn.functional.gelu
    with torch.no_grad():
        exact_gelu = model(idx)[0]
    assert (exact_gelu - theirs).abs().max() > 100 * (ours - theirs).abs().max()


def test_from_pretrained_refuses_other_models(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(ValueError, match="only GPT-2 checkpoints load here"):
        GPT.from_pretrained(str(tmp_path))


TEXTS = ["Hello world! It's 2024, isn't it?  Two  spaces\n\nnew lines\t\ttabs  ", "héllo wörld 日本語 🙂 café",
         "12345678 3.14159 007", "   leading", "trailing   ", "a\r\nb\n\n\n", "I'll we've they're 'S 'd", "",
         "Never say <|eos|> or <|endoftext|> here."]


def test_bytes_to_unicode_is_gpt2s_table():
    table = bytes_to_unicode()
    assert (table[32], table[10], table[65], table[0], table[173]) == ("Ġ", "Ċ", "A", "Ā", "Ń")
    assert len(set(table.values())) == 256


def test_gpt2_tokenizer_gives_the_ids_of_transformers(tmp_path):
    folder = make_tiny_gpt2(tmp_path / "gpt2")
    tok = GPT2Tokenizer.from_folder(folder)
    slow = transformers.GPT2Tokenizer(f"{folder}/vocab.json", f"{folder}/merges.txt")
    fast = transformers.GPT2TokenizerFast(vocab_file=f"{folder}/vocab.json", merges_file=f"{folder}/merges.txt")
    guidelines = open(os.path.join(os.path.dirname(__file__), "..", "data", "guidelines.md"), encoding="utf-8").read()
    for text in TEXTS[:-1] + [guidelines[15000:]]:   # text the merges were not learned from
        ids = tok.encode(text)
        assert ids == slow.encode(text) == fast.encode(text), text
        assert tok.decode(ids) == text
    assert max(tok.encode(guidelines[15000:])) > 400        # the merges are used, not only bytes
    # a special token's text stays text; the four specials get the ids after GPT-2's own (<|endoftext|> 456)
    ids = tok.encode(TEXTS[-1])
    assert max(ids) < 456 and tok.decode(ids) == TEXTS[-1]
    assert tok.special_tokens == {s: 457 + i for i, s in enumerate(SPECIAL_TOKENS)} and tok.vocab_size == 461
    assert tok.decode([tok.user_id, 72, tok.eos_id, 456]) == "<|user|>i<|eos|><|endoftext|>"


def test_a_gpt2_folder_with_a_file_missing_stops_with_one_line(tmp_path):
    folder = make_tiny_gpt2(tmp_path / "gpt2")
    os.remove(f"{folder}/merges.txt")
    with pytest.raises(SystemExit, match=r"^error: \S+gpt2 has no merges.txt \(a Hugging Face GPT-2 folder"):
        load_gpt2(folder)
    open(f"{folder}/merges.txt", "w").write("#version: 0.2\nĠ t\nnot-a-token x\n")
    with pytest.raises(SystemExit, match=r"merges.txt:2: 'Ġ t' is not two tokens of vocab.json whose merge has id 256"):
        load_gpt2(folder)


def test_gpt2s_tokenizer_takes_a_third_of_a_megabyte_in_a_checkpoint():
    """50,000 merges (here every pair of two bytes, distinct tokens) as GPT-2 has them, stored as a
    flat list of ids: about 0.3 MB beside GPT-2 small's 500 MB of weights, and rebuilt exactly."""
    merges = [(i, j) for i in range(256) for j in range(256)][:50000]
    tok = GPT2Tokenizer(merges, {"<|endoftext|>": 50256})
    assert tok.vocab_size == 50261 and tok.eos_id == 50257
    buffer = io.BytesIO()
    torch.save(tok.to_dict(), buffer)
    assert buffer.tell() < 350_000, buffer.tell()
    buffer.seek(0)
    again = GPT2Tokenizer.from_dict(torch.load(buffer, weights_only=True))
    assert again.merges == tok.merges and again.encode("Ab, cd!") == tok.encode("Ab, cd!")


@pytest.mark.parametrize("tie_head", [True, False])
def test_resize_vocab_keeps_the_old_tokens_logits(tie_head):
    torch.manual_seed(0)
    model = GPT(GPTConfig(block_size=16, vocab_size=20, n_layer=1, n_head=2, n_embd=8, tie_head=tie_head)).eval()
    idx = torch.randint(0, 20, (2, 10))
    with torch.no_grad():
        before = model(idx)[0]
        old = model.lm_head.weight.clone()
        model.resize_vocab(24)
        after = model(idx)[0]
    assert after.shape == (2, 10, 24) and model.config.vocab_size == 24
    torch.testing.assert_close(after[..., :20], before, rtol=0, atol=0)
    torch.testing.assert_close(model.lm_head.weight[20:], old.mean(0).expand(4, -1))   # the mean of the old rows
    assert (model.lm_head.weight is model.transformer.wte.weight) == tie_head
    GPT(model.config).load_state_dict(model.state_dict())    # the grown model is an ordinary GPT of its config


def test_load_gpt2_grows_the_embedding_and_crops_positions_and_its_checkpoint_rebuilds_it(tmp_path):
    folder = make_tiny_gpt2(tmp_path / "gpt2", n_positions=64)
    reference = transformers.GPT2LMHeadModel.from_pretrained(folder).eval()
    model, tok = load_gpt2(folder, block_size=40)
    assert model.config.vocab_size == tok.vocab_size == 461 and model.config.block_size == 40
    idx = torch.tensor([tok.encode("The labeler ranks four answers.")])
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(idx)[0][..., :457], reference(idx).logits, atol=1e-5, rtol=1e-4)
    save_checkpoint(f"{tmp_path}/sft.pt", model, tok)
    again, tok_again, _ = load_checkpoint(f"{tmp_path}/sft.pt", kind="gpt")
    assert isinstance(tok_again, GPT2Tokenizer) and tok_again.to_dict() == tok.to_dict()
    assert again.config == model.config and tok_again.encode(TEXTS[1]) == tok.encode(TEXTS[1])
