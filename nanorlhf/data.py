"""
Reading the data files: JSON lines, with an error that names the file and line.

    records = load_jsonl("data/sft_train.jsonl")   # [{"prompt": ..., "response": ..., ...}, ...]

The files in data/ are TinyChat's (made by nanorlhf/tinychat/splits.py); a file of your own
in the same format works the same way.
"""
import json
import os
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data"

# -----------------------------------------------------------------------------
# Reading the files

REQUIRED_KEYS = {"sft_train.jsonl": ("prompt", "response", "family", "demonstrator"),
                 "sft_val.jsonl": ("prompt", "response", "family", "demonstrator")}


def iter_jsonl(path):
    """Yield (line number, record) for each non-blank line of a JSON-lines file.

    These files are the user's input, so a file that cannot be read stops the program with
    one line (SystemExit) that names the file and, for a bad line, the line:
        error: data/sft_train.jsonl:17: invalid JSON (Expecting ',' delimiter: line 1 column 12 (char 11))
    """
    if not os.path.isfile(path):
        raise SystemExit(f"error: {path} not found")
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    raise SystemExit(f"error: {path}:{lineno}: invalid JSON ({e})") from None
                if not isinstance(record, dict):
                    raise SystemExit(f"error: {path}:{lineno}: expected a JSON object, got {type(record).__name__}")
                yield lineno, record
    except UnicodeDecodeError:
        raise SystemExit(f"error: {path} is not UTF-8 text (is it a JSON-lines file?)") from None


def load_jsonl(path, required=None):
    """Read a JSON-lines file into a list of dicts; blank lines are skipped.

    `required` lists keys every record must have; by default ("prompt", "response",
    "family", "demonstrator") for sft_*.jsonl and ("prompt",) for any other file.
    A malformed line stops the program with one line naming the file and line (see iter_jsonl).
    """
    path = Path(path)
    if required is None:
        required = REQUIRED_KEYS.get(path.name, ("prompt",))
    records = []
    for lineno, record in iter_jsonl(path):
        missing = [k for k in required if k not in record]
        if missing:
            raise SystemExit(f"error: {path}:{lineno}: missing required key(s) {missing}")
        records.append(record)
    return records


def load_demonstrations(path):
    """Demonstrations from a JSON-lines file of your own, in any of three forms, one per line:

        {"prompt": "...", "response": "..."}            nanorlhf's own
        {"prompt": "...", "completion": "..."}          TRL's prompt-completion form
        {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}

    -> list of {"prompt", "response"}. The chat template has one user turn and one answer, so
    a conversation of more turns is refused; so is a line in none of the forms, with the file,
    the line and the field named.
    """
    records = []
    for lineno, record in iter_jsonl(path):
        where = f"{path}:{lineno}"
        if "messages" in record:
            turns = record["messages"]
            if not (isinstance(turns, list) and all(isinstance(t, dict) for t in turns)):
                raise SystemExit(f"error: {where}: field 'messages' must be a list of {{\"role\", \"content\"}} objects")
            if [t.get("role") for t in turns] != ["user", "assistant"]:
                raise SystemExit(f"error: {where}: field 'messages' must hold one user turn, then one assistant "
                                 f"turn (the chat template has no more), got roles {[t.get('role') for t in turns]}")
            prompt, response = turns[0].get("content"), turns[1].get("content")
            field = "messages[].content"
        else:
            answer = "completion" if "completion" in record and "response" not in record else "response"
            missing = [k for k in ("prompt", answer) if k not in record]
            if missing:
                raise SystemExit(f"error: {where}: missing field {missing[0]!r} (need prompt and response, "
                                 f"prompt and completion, or messages)")
            prompt, response, field = record["prompt"], record[answer], f"prompt' and '{answer}"
        if not (isinstance(prompt, str) and isinstance(response, str) and prompt.strip() and response.strip()):
            raise SystemExit(f"error: {where}: field '{field}' must be non-empty strings")
        records.append({"prompt": prompt, "response": response})
    return records


def load_prompts(path, n_heldout):
    """Prompts of your own, one {"prompt": "..."} per line (other fields are ignored) -> (prompts
    to train on, held-out records to evaluate on): the last n_heldout lines, at most a tenth of
    them and at least one. A line without a non-empty "prompt" stops with file, line and field:
        error: mine.jsonl:3: field 'prompt' must be a non-empty string
    """
    records = []
    for lineno, record in iter_jsonl(path):
        if not isinstance(record.get("prompt"), str) or not record["prompt"].strip():
            problem = "is missing" if "prompt" not in record else "must be a non-empty string"
            raise SystemExit(f"error: {path}:{lineno}: field 'prompt' {problem}")
        records.append({"prompt": record["prompt"]})
    if len(records) < 2:
        raise SystemExit(f"error: {path} holds {len(records)} prompts; at least 2 are needed (one is held out)")
    n_heldout = max(1, min(n_heldout, len(records) // 10))
    return [r["prompt"] for r in records[:-n_heldout]], records[-n_heldout:]


def rl_prompts(path, n_eval):
    """-> (prompts to train on, held-out records to evaluate on) for PPO and GRPO: your own file's
    (load_prompts) if `path` is given, else TinyChat's ppo_prompts.jsonl and the first n_eval of
    eval_prompts.jsonl."""
    if path:
        return load_prompts(path, n_eval)
    return ([r["prompt"] for r in load_jsonl(DATA_DIR / "ppo_prompts.jsonl")],
            load_jsonl(DATA_DIR / "eval_prompts.jsonl")[:n_eval])


def corpus_text(path=None):
    """Text for training the tokenizer: every prompt and response of sft_train.jsonl, one per line."""
    records = load_jsonl(path or DATA_DIR / "sft_train.jsonl")
    return "".join(f"{r['prompt']}\n{r['response']}\n" for r in records)
