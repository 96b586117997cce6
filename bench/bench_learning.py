"""Benchmark: detection on real appeals — the shipped config, prequential learning, speed,
retraining time and memory of the model (issue 11). Prints figures; not a test.

Uses the train rows of the Kursk appeals (``bench/appeals.py``: third-party data read from
``../shared/external/appeals`` when present, never copied into the repository):

1. ``otklik detection-eval`` with the shipped ``config.example.toml``, keywords only;
2. the same with ``--learn`` (prequential, retrained every 100 rows);
3. classification speed on one core, keywords only and with a trained model (warm caches);
4. retraining on 50,000 labelled examples — the 1,996 train rows repeated, each copy with a
   distinct number appended so that the texts differ (synthetic: there are not 50,000 real
   ones) — and the extra memory (RSS) of scikit-learn plus the trained model, also measured
   in a fresh process (``--memory-child``), where nothing freed before inflates the baseline.

    .venv/bin/python bench/bench_learning.py
"""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.appeals import train_rows, write_csv  # noqa: E402
from bot.config import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = 50_000


def rss_mb(field: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def memory_child() -> None:
    """In a fresh process: a bot's state without a model (the config's triage, its lemma
    cache warm, the 50,000 texts in memory), then scikit-learn imported and the model
    trained and kept, as the learner does. Prints the extra RSS: the peak and what stays."""
    rows = train_rows()
    triage = _triage()
    texts = [text for text, _ in rows]
    labels = [c.split("|")[0] for _, c in rows]
    copies = EXAMPLES // len(texts) + 1
    big_texts = [f"{t} n{copy}" for copy in range(copies) for t in texts][:EXAMPLES]
    big_labels = (labels * copies)[:EXAMPLES]
    for text in big_texts[:2 * len(texts)]:
        triage.features(text)
    before, anon = rss_mb(), rss_mb("RssAnon")
    Path("/proc/self/clear_refs").write_text("5")  # the peak RSS (VmHWM) counts from here
    from bot.learning import train

    model = train((triage.features(t) for t in big_texts), big_labels)
    assert model is not None
    print(f"{rss_mb('VmHWM') - before:.0f} {rss_mb() - before:.0f} "
          f"{rss_mb('RssAnon') - anon:.0f}")


def _triage():  # type: ignore[no-untyped-def]
    from bot.learning import build_triage

    return build_triage(load_config(ROOT / "config.example.toml"))


def eval_lines(config_path: Path, data: Path, *extra: str) -> list[str]:
    out = io.StringIO()
    args = ["detection-eval", "--config", str(config_path), "--data", str(data), *extra]
    with contextlib.redirect_stdout(out):
        from bot.cli import main
        main(args)
    return out.getvalue().strip().splitlines()


def main() -> None:
    rows = train_rows()
    data = write_csv(rows)
    config_path = ROOT / "config.example.toml"
    print(f"Kursk train rows: {len(rows)} (categories mapped by bench/appeals.py)")
    config = load_config(config_path)
    from bot.learning import build_triage, train

    triage = build_triage(config)
    assert "sklearn" not in sys.modules, "scikit-learn imported without a model"
    texts = [text for text, _ in rows]
    for text in texts:  # warm the lemma cache, as a running bot has it
        triage.classify(text)
    started = time.perf_counter()
    for text in texts:
        triage.classify(text)
    keywords = len(texts) / (time.perf_counter() - started)

    before = rss_mb()
    import sklearn.feature_extraction.text  # noqa: F401  (what train() imports)
    import sklearn.linear_model  # noqa: F401
    imported = rss_mb()
    features = [triage.features(t) for t in texts]
    labels = [c.split("|")[0] for _, c in rows]
    started = time.perf_counter()
    model = train(features, labels)
    small = time.perf_counter() - started
    assert model is not None
    triage.predict = model.predict
    started = time.perf_counter()
    for text in texts:
        triage.classify(text)
    with_model = len(texts) / (time.perf_counter() - started)
    print(f"\nclassifying (one core, warm lemma cache; {len(texts)} texts, median "
          f"{sorted(len(t) for t in texts)[len(texts) // 2]} chars):")
    print(f"  keywords only:       {keywords:8,.0f} texts/s")
    print(f"  keywords and model:  {with_model:8,.0f} texts/s")
    print(f"  model on {len(texts):,} examples trained in {small:.1f} s")

    copies = EXAMPLES // len(texts) + 1
    big_texts = [f"{t} n{copy}" for copy in range(copies) for t in texts][:EXAMPLES]
    big_labels = (labels * copies)[:EXAMPLES]
    del model
    started = time.perf_counter()
    big_features = [triage.features(t) for t in big_texts]
    featured = time.perf_counter() - started
    del big_features
    started = time.perf_counter()
    big = train((triage.features(t) for t in big_texts), big_labels)
    trained = time.perf_counter() - started
    assert big is not None
    del big
    # Memory, measured apart (tracemalloc slows Python down): the peak while featurizing and
    # fitting (transient: the learner keeps no examples between trainings) and the model
    # that stays.
    tracemalloc.start()
    big = train((triage.features(t) for t in big_texts), big_labels)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert big is not None
    print(f"\nretraining on {EXAMPLES:,} examples (train rows repeated {copies}×, synthetic):")
    print(f"  lemmas and keyword features {featured:.1f} s (warm lemma cache), "
          f"features and fit together {trained:.1f} s")
    print(f"  memory: importing scikit-learn {imported - before:+.0f} MB RSS; the trained "
          f"model {current / 2**20:.0f} MB; peak while featurizing and fitting "
          f"{peak / 2**20:.0f} MB (tracemalloc; the texts themselves not counted)")
    print(f"  process RSS now {rss_mb():.0f} MB (was {before:.0f} MB before scikit-learn)")
    print(f"  model: {len(big.classes)} classes, {big.features:,} features with a weight")
    child = subprocess.run([sys.executable, __file__, "--memory-child"], capture_output=True,
                           text=True, check=True, cwd=ROOT)
    peak, kept, anon = child.stdout.split()
    print(f"  extra memory for the model, in a fresh process (scikit-learn imported, "
          f"{EXAMPLES:,} examples trained, the model kept): peak {peak} MB RSS, "
          f"{kept} MB RSS after ({anon} MB of it anonymous: the rest is shared library code)")

    print(f"Kursk train rows: {len(rows)} (categories mapped by bench/appeals.py)")
    for label, extra in (("shipped config, keywords", ()), ("with --learn", ("--learn",))):
        started = time.perf_counter()
        lines = eval_lines(config_path, data, *extra)
        print(f"\n{label} ({time.perf_counter() - started:.1f} s):")
        for line in lines[-3:]:
            print("  " + line)



if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        memory_child() if sys.argv[1:] == ["--memory-child"] else main()
