"""nmt against OpenNMT-py 3.5.1: the same model on the same machine and data, in one run, as ratios.

The reference model of both: bi-LSTM encoder 256 per direction, LSTM decoder 512 with Luong
`general` attention and input feeding, embeddings 256, joint SentencePiece unigram 8k (the one
`nmt prepare` trains for Multi30k de-en; OpenNMT-py reads the same pieces, pre-encoded, with all
8,000 as its vocabulary), 4,096-token batches, Adam 1e-3, label smoothing 0.1, dropout 0.3,
gradient norm 1, fp32 (bf16 is measured only where the CPU has it natively).

What runs, each toolkit in its own process (peak RSS from `os.wait4`):
1. a GEMM peak: the best fp32 GFLOP/s of a (4096 x 512) x (512 x 8000) product on this CPU now;
2. training, `--steps` steps each, no validation: target tokens/s over the steps after
   `--warmup` (EOS counted, BOS and padding not: OpenNMT-py's own count), the useful GFLOP/s this
   implies (`flops_per_target_token`, the same count for both) and its share of the GEMM peak;
   nmt also in its own best settings (target vocabulary cut to the pieces seen in training, and
   the fused path without input feeding), marked as such;
3. decoding test2016 (1,000 sentences, batch 64, greedy and beam 5, load time excluded: OpenNMT-py's
   "Total translation time", nmt's `Translator.translate` wall time) with the models just trained,
   or with `--nmt-model` / `--onmt-model` (e.g. 25-minute runs), scored with sacreBLEU; nmt also
   with `--int8`.

OpenNMT-py is installed into `--peers-root` (default `$PEERS_ROOT`, else ~/.cache/nmt-peers),
outside this repository, with the pinned torch of `constraints.txt`, unless it is there already;
`--onmt-python P` uses a Python that imports OpenNMT-py already (e.g. on a machine without a
package index, with the wheels installed by hand).

`--device cuda` runs the same comparison on GPU 0: the GEMM peak in fp32 and bf16 there, both
toolkits in fp32 and in their mixed precision (nmt bf16-mixed, OpenNMT-py fp16 amp: it has no
bf16), DataLoader workers 2 for both (OpenNMT-py's default), decoding on the GPU (no int8 rows:
int8 is a CPU option). Peak RSS is then host memory; nmt also reports its peak GPU memory.

    python benchmarks/compare_opennmt.py                      # 15 to 20 minutes on 2 cores
    python benchmarks/compare_opennmt.py --steps 60 --skip-decode
    python benchmarks/compare_opennmt.py --nmt-model runs/X/export --onmt-model ~/.cache/nmt-peers/run/model_step_605.pt
    python benchmarks/compare_opennmt.py --device cuda --steps 300 --warmup 50
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from train_speed import VARIANTS, machine, run_child  # noqa: E402  (sibling script)

from nmt.commands.decoding_options import shortlist_sizes  # noqa: E402
from nmt.config import ShortlistConfig  # noqa: E402

ONMT_VERSION = "3.5.1"
ONMT_REPORT_EVERY = 10  # OpenNMT-py's throughput is read from its step reports: the window edges must fall on one
# OpenNMT-py imports every transform module at start-up, hence spacy, fasttext and ahocorasick
ONMT_DEPENDENCIES = ["configargparse", "pyyaml", "sentencepiece", "sacrebleu", "tensorboard", "six", "rapidfuzz",
                     "pyonmttok>=1.37,<2", "pyahocorasick", "fasttext-wheel", "spacy"]
NMT_VARIANTS = {  # row name -> (train_speed variant, what it is)
    "same-model": ("luong-feed-all", "the reference exactly: input feeding, all 8,000 target pieces"),
    "seen-vocab": ("luong-feed", "the reference with the output layer over the 3,963 target pieces seen in training"),
    "fused": ("luong-fused", "Luong general without input feeding (fused path), seen pieces: the recipe's model"),
}


# ----------------------------------------------------------------------------- work per token


def flops_per_target_token(vocab: int, input_feeding: bool = True, src_per_tgt: float = 1.03,
                           src_len: float = 16.0) -> float:
    """Useful training FLOPs (forward + backward = 3 x forward) per target token of the reference
    model; source-side work is charged at `src_per_tgt` source tokens per target token (Multi30k
    de-en: 15.2 / 14.7 pieces). Embedding look-ups and element-wise work are not counted."""
    emb, enc, dec = 256, 256, 512
    memory = 2 * enc
    encoder = 2 * 4 * enc * (emb + enc)  # two directions, four gates
    keys = memory * dec  # `general`: W_a h_j once per source token
    decoder = 4 * dec * (emb + dec + (dec if input_feeding else 0))
    attention = 2 * src_len * memory  # scores and context
    combine = dec * (dec + memory)  # W_c [h; ctx]
    output = dec * vocab
    macs = src_per_tgt * (encoder + keys) + decoder + attention + combine + output
    return 3 * 2 * macs


def gemm_peak(threads: int, repeats: int = 8, device: str = "cpu", dtype: str = "float32") -> float:
    """Best GFLOP/s of an output-layer-shaped product, in a fresh process with `threads` threads
    (on a GPU: the product repeated 20 times per timing, TF32 off as in both toolkits' fp32)."""
    inner = 20 if device != "cpu" else 1
    code = (
        "import time, torch\n"
        f"torch.set_num_threads({threads})\n"
        "torch.backends.cuda.matmul.allow_tf32 = False\n"
        f"a = torch.randn(4096, 512, device={device!r}, dtype=torch.{dtype})\n"
        f"b = torch.randn(512, 8000, device={device!r}, dtype=torch.{dtype})\n"
        "sync = torch.cuda.synchronize if a.is_cuda else (lambda: None)\n"
        "best = 0.0\n"
        f"for _ in range({repeats}):\n"
        "    sync(); t = time.perf_counter()\n"
        f"    for _ in range({inner}): torch.mm(a, b)\n"
        "    sync(); dt = time.perf_counter() - t\n"
        f"    best = max(best, {inner} * 2 * 4096 * 512 * 8000 / dt / 1e9)\n"
        "print(best)\n"
    )
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


# ----------------------------------------------------------------------------- OpenNMT-py


def onmt_tools(root: Path, python: Optional[str] = None) -> dict[str, list[str]]:
    """The commands that run OpenNMT-py's train and translate: through `python` if given, else
    from its virtual environment under `root` (created first if missing)."""
    if python:
        return {tool: [python, "-m", f"onmt.bin.{tool}"] for tool in ("train", "translate")}
    bin_dir = ensure_onmt(root)
    return {tool: [str(bin_dir / f"onmt_{tool}")] for tool in ("train", "translate")}


def ensure_onmt(root: Path) -> Path:
    """The OpenNMT-py virtual environment's bin directory, created first if missing."""
    venv = root / "onmt"
    bin_dir = venv / "bin"
    if (bin_dir / "onmt_train").is_file():
        return bin_dir
    print(f"installing OpenNMT-py {ONMT_VERSION} into {venv}", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "-q", "-c", str(REPO / "constraints.txt")]
    subprocess.run(pip + ["torch"], check=True)  # the pinned CPU build first: OpenNMT-py's metadata wants torch<2.3
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q", "--no-deps", f"OpenNMT-py=={ONMT_VERSION}"],
                   check=True)
    subprocess.run(pip[:-2] + ONMT_DEPENDENCIES, check=True)
    return bin_dir


def encode_pieces(data_dir: Path, spm_model: Path, work: Path) -> dict:
    """Multi30k de-en as space-separated pieces of `spm_model` (what OpenNMT-py reads), and its vocabulary."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=str(spm_model))
    files = {}
    for split in ("train", "val", "test2016"):
        for lang in ("de", "en"):
            out = work / f"{split}.sp.{lang}"
            lines = (data_dir / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()
            out.write_text("".join(" ".join(processor.encode(line.strip(), out_type=str)) + "\n" for line in lines),
                           encoding="utf-8")
            files[f"{split}.{lang}"] = out
    vocab = work / "vocab.txt"  # every piece, no counts: the softmax is as wide as nmt's `all`
    vocab.write_text("".join(processor.id_to_piece(i) + "\n" for i in range(processor.get_piece_size())),
                     encoding="utf-8")
    files["vocab"] = vocab
    return files


def onmt_config(files: dict, work: Path, steps: int, device: str = "cpu", fp16: bool = False) -> Path:
    """OpenNMT-py's config for the reference model (as `../shared/peers/onmt_multi30k.yaml`);
    on a GPU with its default two DataLoader workers, and `fp16`: its mixed precision (torch amp)."""
    import yaml

    config = {
        "save_data": str(work / "onmt-data"), "src_vocab": str(files["vocab"]), "tgt_vocab": str(files["vocab"]),
        "overwrite": True,
        "data": {"corpus_1": {"path_src": str(files["train.de"]), "path_tgt": str(files["train.en"]),
                              "transforms": ["filtertoolong"]},
                 "valid": {"path_src": str(files["val.de"]), "path_tgt": str(files["val.en"]),
                           "transforms": ["filtertoolong"]}},
        "src_seq_length": 100, "tgt_seq_length": 100,
        "model_type": "text", "encoder_type": "brnn", "decoder_type": "rnn", "rnn_type": "LSTM",
        "enc_layers": 1, "dec_layers": 1, "src_word_vec_size": 256, "tgt_word_vec_size": 256,
        "share_embeddings": False, "share_decoder_embeddings": False, "enc_hid_size": 512, "dec_hid_size": 512,
        "global_attention": "general", "input_feed": 1, "bridge": False, "dropout": [0.3],
        "optim": "adam", "learning_rate": 0.001, "decay_method": "none", "start_decay_steps": 10_000_000,
        "max_grad_norm": 1.0, "label_smoothing": 0.1, "batch_type": "tokens", "batch_size": 4096,
        "normalization": "tokens", "valid_batch_size": 64, "accum_count": [1], "param_init": 0.1, "seed": 1234,
        "world_size": 1, "gpu_ranks": [0] if device == "cuda" else [], "num_workers": 2 if device == "cuda" else 0,
        "model_dtype": "fp16" if fp16 else "fp32", "report_every": ONMT_REPORT_EVERY,
        "train_steps": steps, "valid_steps": 10 * steps, "save_checkpoint_steps": steps,
        "save_model": str(work / ("onmt-fp16-model" if fp16 else "onmt-model")),
    }
    path = work / ("onmt-fp16.yaml" if fp16 else "onmt.yaml")
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def run_measured(command: list[str], log: Path, env: dict) -> tuple[float, float, int]:
    """Run `command` with stdout and stderr to `log`: (wall seconds, peak RSS MB, exit status)."""
    start = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


STEP_LINE = re.compile(r"^\[(\S+ \S+) INFO\] Step\s+(\d+)/\s*\d+;.*?bsz:\s*\d+/\s*(\d+)/\s*\d+;")


def onmt_throughput(log: Path, warmup: int) -> dict:
    """Target tokens/s between the report at step `warmup` and the last one (as `parse_log.py`)."""
    rows = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        match = STEP_LINE.search(line)
        if match:
            stamp = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
            rows.append((stamp, int(match.group(2)), int(match.group(3))))
    start = [r for r in rows if r[1] <= warmup]
    after = [r for r in rows if r[1] > warmup]
    if not start or not after:
        raise RuntimeError(f"{log}: no step reports around step {warmup}; see the log")
    tokens, previous = 0, start[-1][1]
    for _, step, per_batch in after:  # a report gives the mean target tokens per batch of its window
        tokens += per_batch * (step - previous)
        previous = step
    seconds = (after[-1][0] - start[-1][0]).total_seconds()
    steps = after[-1][1] - start[-1][1]
    return {"steps": steps, "wall_s": round(seconds, 1), "tgt_tokens_per_s": round(tokens / seconds, 1),
            "s_per_step": round(seconds / steps, 3)}


def train_onmt(tools: dict, config: Path, work: Path, threads: int, warmup: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}  # its checkpoints hold pickled options
    log = work / f"{config.stem}-train.log"
    wall, rss, status = run_measured(tools["train"] + ["-config", str(config)], log, env)
    if status != 0:
        raise RuntimeError(f"onmt_train failed ({status}); see {log}")
    checkpoints = sorted(work.glob(f"{config.stem}-model_step_*.pt"), key=lambda p: int(p.stem.rsplit("_", 1)[1]))
    return {**onmt_throughput(log, warmup), "process_wall_s": round(wall, 1), "peak_rss_mb": round(rss, 1),
            "checkpoint": str(checkpoints[-1])}


def decode_onmt(tools: dict, checkpoint: Path, files: dict, spm_model: Path, work: Path, beam: int,
                threads: int, length: Optional[int] = None, device: str = "cpu") -> dict:
    import sentencepiece as spm

    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
           "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    pieces, log = work / f"onmt.beam{beam}.sp", work / f"onmt.beam{beam}.log"
    command = tools["translate"] + [
        "-model", str(checkpoint), "-src", str(files["test2016.de"]), "-output", str(pieces), "-beam_size", str(beam),
        "-batch_size", "64", "-batch_type", "sents", "-gpu", "0" if device == "cuda" else "-1", "-report_time"]
    if length:  # every hypothesis exactly `length` pieces: the same steps as nmt's fixed-length run
        command += ["-min_length", str(length), "-max_length", str(length)]
    wall, rss, status = run_measured(command, log, env)
    if status != 0:
        raise RuntimeError(f"onmt_translate failed ({status}); see {log}")
    seconds = float(re.search(r"Total translation time \(s\): ([\d.]+)", log.read_text()).group(1))
    processor = spm.SentencePieceProcessor(model_file=str(spm_model))
    outputs = [line.split() for line in pieces.read_text(encoding="utf-8").splitlines()]
    hyps = [processor.decode(output) for output in outputs]
    tokens = sum(len(output) + 1 for output in outputs)  # + EOS
    return {"seconds": seconds, "process_wall_s": round(wall, 1), "peak_rss_mb": round(rss, 1),
            "sentences_per_s": round(len(hyps) / seconds, 1), "output_tokens": tokens, "hyps": hyps}


# ----------------------------------------------------------------------------- nmt


def decode_nmt(export: Path, lines: list[str], beam: int, threads: int, int8: bool, length: Optional[int] = None,
               device: str = "cpu", shortlist: Optional["ShortlistConfig"] = None, early_stop: bool = False) -> dict:
    """In a child process (its own RSS and thread setting): `Translator.translate` wall time."""
    code = (
        "import json, sys, time, torch\n"
        f"torch.set_num_threads({threads})\n"
        "from nmt.training.allocator import tune_malloc\n"
        "from nmt.decoding.translator import Translator\n"
        "tune_malloc()\n"
        "lines = json.load(sys.stdin)\n"
        f"t = Translator.load({str(export)!r}, device={device!r}, batch_size=64, int8={int8}, shortlist={shortlist.sizes() if shortlist else None!r})\n"
        f"config = t.search_config.model_copy(update={{'beam_size': {beam}, 'nbest': 1, 'early_stop': {early_stop}}})\n"
        + (f"config = config.fixed_length({length})\n" if length else "") +
        "start = time.perf_counter(); out = t.translate(lines, config); seconds = time.perf_counter() - start\n"
        "tokens = sum(len(x.hypotheses[0].tokens) for x in out if x.hypotheses)\n"
        "print(json.dumps({'seconds': seconds, 'output_tokens': tokens, 'hyps': [x.text for x in out]}))\n"
    )
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=out,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                    [str(REPO)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))})
        proc.stdin.write(json.dumps(lines).encode())
        proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"nmt decoding of {export} failed")
        out.seek(0)
        result = json.loads(out.read())
    return {**result, "seconds": round(result["seconds"], 2), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "sentences_per_s": round(len(lines) / result["seconds"], 1)}


def bleu(hyps: list[str], refs: list[str]) -> float:
    import sacrebleu

    return round(sacrebleu.corpus_bleu(hyps, [refs]).score, 2)


# ----------------------------------------------------------------------------- the run


def decode_table(tools: dict, nmt_model: Path, onmt_model: Path, files: dict, spm_model: Path, work: Path,
                 args: argparse.Namespace) -> dict:
    """test2016 greedy and beam 5 in both toolkits, nmt exact and int8 (CPU), each also with the
    vocabulary shortlist unless `--no-shortlist`; as the models end their outputs, and with every output `--fixed-length` pieces long (like for like in work).
    Beam 5 as the models end also runs nmt with `--early-stop`, alone and with the last label's options."""
    lines = (args.data_dir / "test2016.de").read_text(encoding="utf-8").splitlines()
    refs = (args.data_dir / "test2016.en").read_text(encoding="utf-8").splitlines()
    rows = []
    for length in [None] + ([args.fixed_length] if args.fixed_length else []):
        for beam in (1, 5):
            theirs = fastest(args.decode_repeats, lambda: decode_onmt(tools, onmt_model, files, spm_model, work, beam,
                                                                      args.threads, length, args.device))
            base = {"output_length": length or "as the model ends it", "beam": beam,
                    "opennmt_sent_per_s": theirs["sentences_per_s"], "opennmt_bleu": bleu(theirs["hyps"], refs),
                    "opennmt_output_tokens": theirs["output_tokens"], "opennmt_peak_rss_mb": theirs["peak_rss_mb"],
                    "opennmt_runs_sent_per_s": theirs["runs_sent_per_s"]}
            labels = ("exact", "int8") if args.device == "cpu" else ("exact",)
            if args.shortlist:
                labels += tuple(f"{label}+shortlist" if label != "exact" else "shortlist" for label in labels)
            if args.early_stop and beam > 1 and length is None:  # a fixed length leaves nothing to stop early
                fast = labels[-1]
                labels += ("early-stop",) + ((f"{fast}+early-stop",) if fast != "exact" else ())
            for label in labels:
                mine = fastest(args.decode_repeats, lambda: decode_nmt(
                    nmt_model, lines, beam, args.threads, int8="int8" in label, length=length, device=args.device,
                    shortlist=args.shortlist if "shortlist" in label else None, early_stop="early-stop" in label))
                rows.append({**base, "nmt": label, "nmt_sent_per_s": mine["sentences_per_s"],
                             "nmt_bleu": bleu(mine["hyps"], refs), "nmt_output_tokens": mine["output_tokens"],
                             "speed_vs_opennmt": ratio(mine["sentences_per_s"], theirs["sentences_per_s"]),
                             "nmt_peak_rss_mb": mine["peak_rss_mb"], "nmt_runs_sent_per_s": mine["runs_sent_per_s"]})
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {"nmt_model": str(nmt_model), "opennmt_model": str(onmt_model), "sentences": len(lines),
            "batch_size": 64, "rows": rows}


def fastest(repeats: int, decode) -> dict:
    """The fastest of `repeats` runs of `decode()` (each a fresh process): on a shared machine
    the least disturbed run is the best estimate of each toolkit's own speed."""
    runs = [decode() for _ in range(max(1, repeats))]
    best = max(runs, key=lambda run: run["sentences_per_s"])
    return {**best, "runs_sent_per_s": [run["sentences_per_s"] for run in runs]}


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return round(a / b, 2) if a and b else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("NMT_DATA_DIR", "../shared/data/multi30k")))
    parser.add_argument("--peers-root", type=Path,
                        default=Path(os.environ.get("PEERS_ROOT", Path.home() / ".cache" / "nmt-peers")))
    parser.add_argument("--work", type=Path, help="where models and logs go (default: a new temporary directory)")
    parser.add_argument("--steps", type=int, default=120, help="training steps per toolkit (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=20, help="steps before the timed window (default: %(default)s)")
    parser.add_argument("--variant-steps", type=int, default=40,
                        help="timed steps of nmt's own-settings rows (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--nmt-model", type=Path, help="decode this nmt export instead of the one trained here")
    parser.add_argument("--onmt-model", type=Path, help="decode this OpenNMT-py checkpoint instead")
    parser.add_argument("--skip-decode", action="store_true")
    parser.add_argument("--skip-train", action="store_true", help="only decode --nmt-model and --onmt-model")
    parser.add_argument("--fixed-length", type=int, default=15,
                        help="also decode with every output exactly N pieces in both toolkits: the same work per "
                             "sentence whatever the models learnt (0: off; default: %(default)s)")
    parser.add_argument("--decode-repeats", type=int, default=1,
                        help="decode every row N times (fresh processes, both toolkits) and keep the fastest "
                             "(default: %(default)s)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="where both toolkits train and decode (default: %(default)s)")
    parser.add_argument("--shortlist", type=shortlist_sizes, default=ShortlistConfig(), metavar="F,K[,M]",
                        help="nmt's vocabulary shortlist rows: F frequent pieces + K per source piece, at least M "
                             f"(default: {ShortlistConfig()}; the nmt model needs its shortlist.safetensors: "
                             "`nmt shortlist MODEL_DIR`)")
    parser.add_argument("--no-shortlist", dest="shortlist", action="store_const", const=None)
    parser.add_argument("--no-early-stop", dest="early_stop", action="store_false",
                        help="leave out the beam-5 rows (as the models end) that nmt decodes with `--early-stop`, "
                             "alone and with the other fast options")
    parser.add_argument("--no-mixed", action="store_true", help="on a GPU: fp32 rows only")
    parser.add_argument("--onmt-python", help="a Python that imports OpenNMT-py already (skips the install)")
    args = parser.parse_args()
    n = ONMT_REPORT_EVERY
    if not args.skip_train and (args.warmup < n or args.warmup % n or args.steps <= args.warmup or args.steps % n):
        parser.error(f"--warmup and --steps must be multiples of {n} (OpenNMT-py reports every {n} steps), "
                     f"with --steps above --warmup; got --warmup {args.warmup} --steps {args.steps}")
    work = args.work or Path(tempfile.mkdtemp(prefix="compare-opennmt-"))
    work.mkdir(parents=True, exist_ok=True)
    data_dir = str(args.data_dir.resolve())
    gpu = args.device == "cuda"
    report: dict = {"benchmark": "compare_opennmt", **machine(gpu=gpu), "device": args.device, "threads": args.threads,
                    "data": data_dir, "work": str(work), "load_avg_start": [round(x, 2) for x in os.getloadavg()]}

    tools = onmt_tools(args.peers_root, args.onmt_python)
    peaks = {"32": gemm_peak(args.threads, device=args.device)}
    if gpu:
        peaks["mixed"] = gemm_peak(args.threads, device=args.device, dtype="bfloat16")
    report["gemm_peak_gflops"] = {k: round(v, 1) for k, v in peaks.items()}
    print(f"GEMM peak {report['gemm_peak_gflops']} GFLOP/s", file=sys.stderr, flush=True)

    if args.skip_train:
        if not (args.nmt_model and args.onmt_model):
            sys.exit("--skip-train needs --nmt-model and --onmt-model")
        spm_model = args.nmt_model / "tokenizers" / "src.model"
        files = encode_pieces(args.data_dir, spm_model, work)
        report["decoding"] = decode_table(tools, args.nmt_model, args.onmt_model, files, spm_model, work, args)
        print(json.dumps(report, indent=1))
        return

    # nmt, same model: its prepare makes the tokenizer both toolkits use
    spec = {"variant": NMT_VARIANTS["same-model"][0], "data_dir": data_dir, "precision": "32",
            "threads": args.threads, "warmup": args.warmup, "steps": args.steps - args.warmup,
            "run_dir": str(work / "nmt-run"), "accelerator": "gpu" if gpu else "cpu"}
    first = run_child(spec)
    if "error" in first:
        sys.exit(f"nmt training failed: {first['error']}")
    nmt_export = Path(first["export"])
    spm_model = nmt_export / "tokenizers" / "src.model"  # joint: both sides share it
    files = encode_pieces(args.data_dir, spm_model, work)
    onmt = train_onmt(tools, onmt_config(files, work, args.steps, args.device), work, args.threads, args.warmup)
    print(f"OpenNMT-py {onmt['tgt_tokens_per_s']} tok/s, nmt {first['tgt_tokens_per_s']} tok/s",
          file=sys.stderr, flush=True)
    # (row, OpenNMT-py run or nmt NMT_VARIANTS key, precision, result)
    rows = [("OpenNMT-py", None, "32", onmt), ("nmt same-model", "same-model", "32", first)]
    if gpu and not args.no_mixed:  # each toolkit's mixed precision: the same model, then nmt's own best settings
        try:
            fp16 = train_onmt(tools, onmt_config(files, work, args.steps, args.device, fp16=True), work,
                              args.threads, args.warmup)
        except RuntimeError as err:  # its mixed precision is a row of the table, not a reason to stop
            fp16 = {"error": str(err)}
        rows.append(("OpenNMT-py fp16 amp", None, "mixed", fp16))
        short = {**spec, "steps": args.variant_steps, "run_dir": None, "precision": "bf16-mixed"}
        rows.append(("nmt same-model bf16", "same-model", "mixed", run_child(short)))
        rows.append(("nmt fused bf16", "fused", "mixed", run_child({**short, "variant": NMT_VARIANTS["fused"][0]})))
    elif not gpu:
        for row in ("seen-vocab", "fused"):
            rows.append((f"nmt {row}", row, "32", run_child({**spec, "variant": NMT_VARIANTS[row][0],
                                                               "steps": args.variant_steps, "run_dir": None})))

    training = []
    baseline = {precision: result for name, key, precision, result in rows if key is None and "error" not in result}
    for name, key, precision, result in rows:
        if "error" in result:
            training.append({"toolkit": name, "precision": precision, "error": result["error"]})
            continue
        vocab = 3963 if key in ("seen-vocab", "fused") else 8000
        useful = result["tgt_tokens_per_s"] * flops_per_target_token(vocab, input_feeding=key != "fused") / 1e9
        about = NMT_VARIANTS[key][1] if key else "the reference, OpenNMT-py's own code"
        training.append({"toolkit": name, "precision": precision, "about": about,
                         "tgt_tokens_per_s": result["tgt_tokens_per_s"],
                         "vs_opennmt": ratio(result["tgt_tokens_per_s"], onmt["tgt_tokens_per_s"]),
                         "vs_opennmt_same_precision": ratio(result["tgt_tokens_per_s"],
                                                            baseline.get(precision, {}).get("tgt_tokens_per_s")),
                         "useful_gflops": round(useful, 1), "roofline_share": round(useful / peaks[precision], 3),
                         "peak_rss_mb": result.get("peak_rss_mb"),
                         "rss_vs_opennmt": ratio(result.get("peak_rss_mb"), baseline.get(precision, {}).get("peak_rss_mb")),
                         **({"gpu_peak_mb": result["gpu_peak_mb"]} if "gpu_peak_mb" in result else {})})
    report["training"] = {"steps": args.steps, "warmup": args.warmup, "rows": training}
    print(json.dumps(report["training"], indent=1), file=sys.stderr, flush=True)

    if not args.skip_decode:
        nmt_model = args.nmt_model or nmt_export
        onmt_model = args.onmt_model or Path(onmt["checkpoint"])
        report["decoding"] = decode_table(tools, nmt_model, onmt_model, files, spm_model, work, args)
    report["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
