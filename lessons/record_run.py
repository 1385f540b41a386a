"""
Record the figures of one run of the pipeline, so the lessons can quote them and a test can
keep the quotes honest (tests/test_lesson_figures.py).

    python train_sft.py && python train_rm.py && python train_ppo.py
    python lessons/record_run.py          # out/*_summary.json -> lessons/recorded_run.json

After your own run, record it and run `python -m pytest tests/test_lesson_figures.py`: every
figure the README and lessons 03, 05 and 07 quote that your run does not reproduce is listed.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(out_dir="out"):
    run = {}
    for stage in ("sft", "rm", "ppo"):
        path = ROOT / out_dir / f"{stage}_summary.json"
        if not path.exists():
            raise SystemExit(f"error: {path} not found. Run `python train_{stage}.py` first.")
        run[stage] = json.loads(path.read_text())
    run["ppo"].pop("log", None)  # the per-iteration log is in out/ppo.pt; the lessons quote the end
    (ROOT / "lessons" / "recorded_run.json").write_text(json.dumps(run, indent=1) + "\n")
    print(f"wrote lessons/recorded_run.json from {out_dir}/sft_summary.json, rm_summary.json, ppo_summary.json")


if __name__ == "__main__":
    main(*sys.argv[1:])
