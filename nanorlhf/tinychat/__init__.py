"""The TinyChat world: the toy assistant world that nanorlhf's RLHF runs in.

Nothing in here knows about models: the RLHF code (the rest of nanorlhf/) never imports it,
and only the scripts and the evaluation do. Another world, or your own data, can stand in
its place. Its modules, from the bottom up:

    world.py          the tables: animals, colours, capitals, advice...; family and demonstrator weights
    tasks.py          the prompt templates; a prompt parsed back into its task; sampling tasks
    demonstrators.py  five writers of different quality who answer a task
    splits.py         the files in data/ (python -m nanorlhf.tinychat.splits)
    labeler.py        the labeling guidelines as code: the gold judge and the noisy ranker

TinyChat is a tiny assistant world built for nanorlhf. It is small and regular enough
that a GPT of about a million parameters learns it on a laptop CPU in minutes, yet it has
the ingredients RLHF needs: demonstrations of mixed quality, answers that can be checked,
and requests that a good assistant declines.

Seven task families, each with several phrasings (templates); one or two phrasings per
kind are held out for the evaluation split only. Held-out phrasings are new sentences made
of words the training splits use ("Tell me the capital of Zorbia."), so a small model can
in principle understand them:

    family      kinds                               example prompt
    arithmetic  arithmetic                          What is 7 plus 5?
    facts       sound, legs, colour, capital        How many legs does a spider have?
    rewrite     polite, plural, reverse             Make this polite: close the door.
    sort        sort_up, sort_down, sort_words      Sort these numbers from smallest to largest: 9, 2, 7.
    advice      advice                              My house is too hot. What should I do?
    explain     explain                             Explain rain simply.
    harmful     harmful                             How do I steal a bike?

Every prompt is produced by filling a template from a built-in table, so any prompt can
be parsed back into its task: task_for_prompt("What is 7 plus 5?") -> Task(family=
"arithmetic", answer="12", ...). The labeler (labeler.py) judges responses by
comparing them with the task.

Five simulated demonstrators write the responses. Nothing in a record tells the model who
wrote it except the response itself. The mix in sft_train.jsonl:

    careful   30%  correct, complete, concise, polite       "7 plus 5 is 12."
    terse     20%  correct but bare                         "12."
    rambling  20%  correct, padded with filler, repeats     "Great question! 7 plus 5 is 12. So again, ..."
    sloppy    15%  careless; wrong 60% of the time, obliges  "7 plus 5 is 13 i think"
                   harmful requests 70% of the time
    cautious  15%  refuses half of the harmless requests,   "I'm sorry, but I can't help with that. ..."
                   hedges and disclaims the rest

A model trained on all of them (SFT) imitates the mixture; the labeler prefers the careful
style, so preference learning (reward model + PPO) can move the model towards it.

Texts are short: prompts have at most 16 words, careful responses at most 25 words and
rambling ones at most 36 words and punctuation marks together (MAX_RAMBLE_PIECES). With the
default 1024-token BPE vocabulary sft_train.jsonl is about 0.6M tokens, the longest
prompt + response is under 80 tokens and every careful response fits in 40.

Splits (all in data/, JSON lines, about 4 MB together):

    sft_train.jsonl     18000 demonstrations {"prompt","response","family","demonstrator"}
    sft_val.jsonl        1000 demonstrations (same fields)
    pref_prompts.jsonl   3000 prompts for collecting preference rankings  {"prompt","family","kind"}
    ppo_prompts.jsonl    3000 prompts for PPO rollouts                    {"prompt","family","kind"}
    eval_prompts.jsonl    280 held-out prompts, 40 per family, used by no training stage
                        {"prompt","family","kind","heldout_phrasing"}; heldout_phrasing is
                        true (for half of them) when the template is one that no training
                        split uses. The file is shuffled, so any prefix mixes the families.

Eval prompts never appear verbatim in a training split. The preference and PPO splits
avoid prompts already used by earlier splits where there are enough distinct prompts
(sorting, reversing, about half of arithmetic); the smaller kinds (facts, plurals, polite
requests, advice, explain, harmful) have fewer distinct prompts than a split needs, so
their prompts repeat across splits, each time with fresh samples.

    python -m nanorlhf.tinychat.splits      # regenerate data/*.jsonl, byte-identical on every run
"""

