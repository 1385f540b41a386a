"""
Talk to any checkpoint.

    python -m nanorlhf.sample out/sft.pt "What is 7 plus 5?"
    python -m nanorlhf.sample out/ppo.pt "my house is too hot" --compare out/sft.pt -n 3

Prints a few sampled responses per checkpoint (side by side with --compare) and, when the
prompt is one the TinyChat world knows, the gold labeler's score of each.
"""
import argparse

from nanorlhf.checkpoint import load_checkpoint
from nanorlhf.common import get_device, require_positive
from nanorlhf.sampling import generate_responses
from nanorlhf.tinychat import labeler


def gold_score(prompt, response):
    """The labeler's score, or None for a prompt outside the TinyChat world."""
    try:
        return labeler.score(prompt, response)
    except ValueError:
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description="Sample responses from a checkpoint.")
    parser.add_argument("checkpoint", help="e.g. out/sft.pt")
    parser.add_argument("prompt", help="the user's message, plain text")
    parser.add_argument("--compare", help="a second checkpoint to answer the same prompt")
    parser.add_argument("-n", "--num-samples", type=int, default=3, help="responses per checkpoint")
    parser.add_argument("--temperature", type=float, default=1.0, help="0 for greedy")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    require_positive(args, "num_samples", "max_new_tokens")
    if args.temperature < 0:
        parser.error(f"--temperature must be 0 (greedy) or above, got {args.temperature}")

    device = get_device(args.device)
    paths = [args.checkpoint] + ([args.compare] if args.compare else [])
    print(f"> {args.prompt}")
    for path in paths:
        model, tokenizer, _ = load_checkpoint(path, device)
        if not hasattr(model, "generate"):
            raise SystemExit(f"error: {path} is a reward model; it scores text but does not write it")
        responses = generate_responses(model, tokenizer, [args.prompt] * args.num_samples,
                                       args.max_new_tokens, args.temperature, args.seed)
        print(f"\n== {path}")
        for response in responses:
            score = gold_score(args.prompt, response)
            tag = f"[{score:+.2f}] " if score is not None else ""
            print(f"  {tag}{response}")


if __name__ == "__main__":
    main()
