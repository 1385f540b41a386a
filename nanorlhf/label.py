"""
Label comparisons yourself: the tool InstructGPT's labelers had, in a terminal.

    python -m nanorlhf.label --out out/my_labels.jsonl            # rank 20 prompts' answers
    python train_rm.py --comparisons out/my_labels.jsonl          # train a reward model on them
    python -m nanorlhf.label --serve --out out/class_labels.jsonl # a page a whole class labels on

For each preference prompt it shows K responses sampled from the SFT model and asks for
a ranking, best first, e.g. `3 1 4 2`. Each answer is appended to the file and flushed to
disk the moment it is given, so Ctrl-C, a crash or `q` loses nothing; run the same command
again and it continues where it stopped. The responses to a prompt are sampled with a seed
of their own, so a restart shows the same ones. At the end it tells you how often you
agreed with the scripted labeler's noise-free ranking.
"""
import argparse
import os
import sys

from nanorlhf.checkpoint import load_checkpoint
from nanorlhf.common import get_device, require_positive
from nanorlhf.data import load_jsonl
from nanorlhf.feedback import append_record, drop_cut_last_line, gold_agreement, parse_ranking, prompt_responses
from nanorlhf.label_server import serve
from nanorlhf.tinychat import labeler

HELP = "Rank the responses best first, e.g. `{example}` (s = skip, q = quit): "


def read_done(path):
    """Indices of the prompts already labeled (or skipped) in `path`, and the labeled records."""
    done, records = set(), []
    if os.path.exists(path):
        for record in load_jsonl(path, required=("index",)):
            done.add(record["index"])
            if not record.get("skipped"):
                records.append(record)
    return done, records


def main(argv=None, stdin=sys.stdin, stdout=sys.stdout):
    parser = argparse.ArgumentParser(description="Rank SFT responses by hand.")
    parser.add_argument("--out", default="out/my_labels.jsonl", help="comparisons file (appended to)")
    parser.add_argument("--checkpoint", default="out/sft.pt", help="the model whose answers you rank")
    parser.add_argument("--prompts", default="data/pref_prompts.jsonl", help="prompts to label")
    parser.add_argument("-n", "--num-prompts", type=int, default=20, help="how many prompts to label")
    parser.add_argument("-k", type=int, default=4, help="responses per prompt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--serve", action="store_true", help="serve a page a whole class labels on at once")
    parser.add_argument("--host", default="127.0.0.1", help="with --serve: 0.0.0.0 lets a classroom network in")
    parser.add_argument("--port", type=int, default=8000, help="with --serve: the port (0 = any free one)")
    args = parser.parse_args(argv)
    require_positive(args, "num_prompts")
    if args.k < 2:
        raise SystemExit(f"error: -k must be at least 2 (answers to rank against each other), got {args.k}")

    def say(text=""):
        print(text, file=stdout, flush=True)

    try:   # find out now, not after the first ranking has been typed, if the answers can be saved
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        open(args.out, "a").close()
    except OSError as e:
        raise SystemExit(f"error: cannot write {args.out} ({e.strerror}); choose another --out") from None
    model, tokenizer, _ = load_checkpoint(args.checkpoint, get_device(args.device), kind="gpt")
    prompts = [r["prompt"] for r in load_jsonl(args.prompts)[:args.num_prompts]]
    if args.serve:   # the same prompts and answers, on a web page (nanorlhf/label_server.py)
        return serve(model, tokenizer, prompts, args.out, args.k, args.seed, args.host, args.port, say)
    if drop_cut_last_line(args.out):
        say(f"the last line of {args.out} was cut short (a crash while it was saved); it is dropped, "
            "and its prompt will be asked again")
    done, records = read_done(args.out)
    say(f"{len(done)} of {len(prompts)} prompts already done in {args.out}")
    for index, prompt in enumerate(prompts):
        if index in done:
            continue
        responses = prompt_responses(model, tokenizer, prompt, index, args.k, args.seed)
        say(f"\n[{index + 1}/{len(prompts)}] > {prompt}")
        for i, response in enumerate(responses, 1):
            say(f"  {i}. {response}")
        while True:
            stdout.write(HELP.format(example=" ".join(str(i) for i in range(args.k, 0, -1))))
            stdout.flush()
            answer = stdin.readline()
            if answer == "" or answer.strip().lower() == "q":   # end of input counts as quit
                say("\nstopped; run the same command again to continue")
                return summarise(records, say)
            if answer.strip().lower() == "s":
                append_record(args.out, {"index": index, "prompt": prompt, "responses": responses,
                                         "skipped": True, "labeler": "human"})
                break
            ranking = parse_ranking(answer, args.k)
            if isinstance(ranking, str):
                say(f"  not a ranking: {ranking}")
                continue
            record = {"index": index, "prompt": prompt, "responses": responses, "ranking": ranking,
                      "labeler": "human"}
            append_record(args.out, record)
            records.append(record)
            break
    say("\nall prompts done")
    return summarise(records, say)


def summarise(records, say):
    agree, total = gold_agreement(records)
    if total:
        say(f"you agreed with the scripted labeler's noise-free ranking on {agree} of {total} pairs "
            f"({agree / total:.0%}); a noisy scripted labeler agrees with it about "
            f"{labeler.GOLD_AGREEMENT:.0%} of the time on demonstrations")
    return records


if __name__ == "__main__":
    main()
