"""OpenNMT-py 3.5.1 on the Tatoeba recipe's split and tokenizer, for the equal-time comparison.

    python benchmarks/tatoeba_opennmt.py [--pair de-en] [--minutes 25] [--onmt-bin DIR]

Run the recipe first (`python recipes/tatoeba/run.py`): this script reads what it prepared, the
carved files (`.cache/nmt/tatoeba-<pair>/holdout-*/`) and the joint SentencePiece model
(`tokenizers/tatoeba-<pair>/`), so both toolkits train, validate and test on the same pairs and
the same pieces. Then, in `--work` (default ~/.cache/nmt-peers/tatoeba-<pair>):
1. every split is encoded to space-separated pieces (OpenNMT-py reads pieces; BLEU is computed
   on the decoded text, as for nmt);
2. `onmt_build_vocab` keeps the pieces the training data use on each side (its best setting for
   speed: a smaller output layer, as nmt's `target_pieces: seen`);
3. `onmt_train` trains the reference model (the peers' Multi30k config: bi-LSTM 2 x 256, LSTM 512,
   Luong general attention, Adam 1e-3, label smoothing 0.1, 4,096-token batches) with
   `input_feed 0`, the setting nmt's recipe uses too, because it is the faster one on a budget;
   checkpoints every `--save-steps`; the process is stopped once the budget has passed;
4. the last checkpoint saved within `--minutes` of the training loop's start (OpenNMT-py's own
   log timestamps) translates the test set greedy and with beam 5 (batch 64), scored with
   sacreBLEU exactly as the recipe scores nmt.

OpenNMT-py must be installed already (../shared/peers/onmt_multi30k.sh setup puts it in
~/.cache/nmt-peers/onmt). Prints one JSON object and writes it to `<work>/results.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nmt.metrics import score  # noqa: E402
from nmt.tokenizer import Tokenizer  # noqa: E402

CONFIG = """\
save_data: {work}/run/data
src_vocab: {work}/vocab.src
tgt_vocab: {work}/vocab.tgt
overwrite: true
data:
  corpus_1:
    path_src: {work}/train.sp.src
    path_tgt: {work}/train.sp.tgt
    transforms: [filtertoolong]
  valid:
    path_src: {work}/valid.sp.src
    path_tgt: {work}/valid.sp.tgt
    transforms: [filtertoolong]
src_seq_length: 100
tgt_seq_length: 100
model_type: text
encoder_type: brnn
decoder_type: rnn
rnn_type: LSTM
enc_layers: 1
dec_layers: 1
src_word_vec_size: 256
tgt_word_vec_size: 256
enc_hid_size: 512
dec_hid_size: 512
global_attention: general
input_feed: 0
bridge: false
dropout: [0.3]
optim: adam
learning_rate: 0.001
decay_method: none
start_decay_steps: 10000000
max_grad_norm: 1.0
label_smoothing: 0.1
batch_type: tokens
batch_size: 4096
normalization: tokens
valid_batch_size: 64
accum_count: [1]
param_init: 0.1
seed: 1234
world_size: 1
gpu_ranks: []
num_workers: 0
report_every: 50
save_model: {work}/run/model
keep_checkpoint: -1
"""

STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d+) INFO\] (.*)$")


def stamp(line: str):
    match = STAMP.match(line)
    if not match:
        return None, None
    when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").timestamp() + int(match.group(2)) / 1000
    return when, match.group(3)


def encode(model, source: Path, target: Path) -> int:
    lines = source.read_text(encoding="utf-8").splitlines()
    target.write_text("".join(" ".join(model.encode(line, out_type=str)) + "\n" for line in lines), encoding="utf-8")
    return len(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", default="de-en")
    parser.add_argument("--minutes", type=float, default=25.0)
    parser.add_argument("--save-steps", type=int, default=100)
    parser.add_argument("--valid-steps", type=int, default=500)
    parser.add_argument("--onmt-bin", type=Path, default=Path.home() / ".cache" / "nmt-peers" / "onmt" / "bin")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--skip-training", action="store_true", help="only translate and score")
    args = parser.parse_args()
    src_lang, tgt_lang = args.pair.split("-")
    name = f"tatoeba-{args.pair}"
    work = args.work or Path.home() / ".cache" / "nmt-peers" / name
    (work / "run").mkdir(parents=True, exist_ok=True)
    holdout = max((REPO / ".cache" / "nmt" / name).glob("holdout-*"), key=lambda p: p.stat().st_mtime)
    tokenizer = Tokenizer.load(REPO / "tokenizers" / name)
    counts = {}
    for split in ("train", "valid", "test"):
        counts[split] = encode(tokenizer.src_model, holdout / f"{split}.{src_lang}", work / f"{split}.sp.src")
        encode(tokenizer.tgt_model, holdout / f"{split}.{tgt_lang}", work / f"{split}.sp.tgt")
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    config = work / "onmt.yaml"
    config.write_text(CONFIG.format(work=work), encoding="utf-8")
    log = work / "run" / "train.log"
    if not args.skip_training:
        subprocess.run([str(args.onmt_bin / "onmt_build_vocab"), "-config", str(config), "-n_sample", "-1"],
                       env=env, check=True, capture_output=True)
        for old in (work / "run").glob("model_step_*.pt"):
            old.unlink()
        with open(log, "w") as out:
            child = subprocess.Popen([str(args.onmt_bin / "onmt_train"), "-config", str(config),
                                      "-train_steps", "1000000", "-valid_steps", str(args.valid_steps),
                                      "-save_checkpoint_steps", str(args.save_steps)],
                                     env=env, stdout=out, stderr=subprocess.STDOUT)
            started = None
            while child.poll() is None:  # stop it once the budget (plus one save interval) has passed
                time.sleep(5)
                if started is None:
                    for line in log.read_text(errors="replace").splitlines():
                        when, text = stamp(line)
                        if text and text.startswith("Start training loop"):
                            started = when
                if started is not None and time.time() - started > args.minutes * 60 + 120:
                    child.terminate()
                    child.wait(60)
    lines = log.read_text(errors="replace").splitlines()
    started = next(when for when, text in map(stamp, lines) if text and text.startswith("Start training loop"))
    saved = [(when - started, int(m.group(1))) for when, text in map(stamp, lines)
             if text and (m := re.search(r"Saving checkpoint .*model_step_(\d+)\.pt", text))]
    within = [(t, step) for t, step in saved if t <= args.minutes * 60]
    seconds, step = within[-1]
    checkpoint = work / "run" / f"model_step_{step}.pt"
    tok_s = [float(m.group(1)) for line in lines if (m := re.search(r"; \d+/(\d+) tok/s", line))]
    references = (holdout / f"test.{tgt_lang}").read_text(encoding="utf-8").splitlines()
    test = {}
    for beam in (1, 5):
        output = work / f"test.beam{beam}.sp"
        began = time.perf_counter()
        subprocess.run([str(args.onmt_bin / "onmt_translate"), "-model", str(checkpoint), "-src", str(work / "test.sp.src"),
                        "-output", str(output), "-beam_size", str(beam), "-batch_size", "64", "-batch_type", "sents",
                        "-gpu", "-1"], env=env, check=True, capture_output=True)
        wall = time.perf_counter() - began
        hypotheses = [tokenizer.tgt_model.decode(line.split()) for line in output.read_text(encoding="utf-8").splitlines()]
        (work / f"test.beam{beam}.{tgt_lang}").write_text("".join(h + "\n" for h in hypotheses), encoding="utf-8")
        bleu, chrf = score(hypotheses, [references], metrics=("bleu", "chrf"))
        test["greedy" if beam == 1 else f"beam{beam}"] = {
            "bleu": round(bleu.score, 2), "bleu_signature": bleu.signature, "chrf": round(chrf.score, 2),
            "translate_process_s": round(wall, 1)}
    result = {"toolkit": "OpenNMT-py 3.5.1", "pair": args.pair, "budget_minutes": args.minutes,
              "holdout": str(holdout), "sentences": counts, "checkpoint": str(checkpoint), "step": step,
              "saved_after_s": round(seconds, 1), "target_tok_s_logged_median": sorted(tok_s)[len(tok_s) // 2] if tok_s else None,
              "test": test}
    (work / "results.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
