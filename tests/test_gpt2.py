"""GPT-2 weights in the handwritten GPT: a tiny random GPT-2 saved by Hugging Face transformers
(a test-only package, installed by .ci/run) gives the same logits in both networks."""
import pytest
import torch

from nanorlhf.model import GPT

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
