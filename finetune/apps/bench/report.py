"""The bench's derived figures (bound, ratios, goals) and its markdown table."""

from __future__ import annotations

from finetune.apps.bench import flops, memory

NAMES = {"trainer_default": "Trainer, run_glue defaults (pad to max length)",
         "trainer_best": "Trainer at its best (dynamic padding, group_by_length)",
         "toolkit": "finetune", "toolkit_fp32": "finetune, fp32", "toolkit_compiled": "finetune, torch.compile"}
PRECISION = {"no": "fp32", "bf16": "bf16 autocast", "fp16": "fp16 autocast"}

# The goals on SST-2 (short sentences, where padding costs most).
GOAL_BOUND, GOAL_VS_DEFAULT, GOAL_VS_BEST = 0.85, 4.0, 1.2


def derived(record: dict) -> dict:
    """bound_tokens_per_s: a dense step's tokens/s (the toolkit's step, no pad token, at the data's
    mean length); bound_fraction: the toolkit's real tokens/s over it; toolkit / Trainer ratios."""
    runners, bound = record["runners"], record["dense"]["real_tokens_per_s"]
    out: dict = {"bound_tokens_per_s": bound}
    if "toolkit" in runners:
        ours = runners["toolkit"]
        out["bound_fraction"] = ours["real_tokens_per_s"] / bound
        out["ratios"] = {f"toolkit/{name}": ours["samples_per_s"] / runners[name]["samples_per_s"]
                         for name in ("trainer_default", "trainer_best") if name in runners}
    return out


def primary(result: dict) -> tuple[str, float] | None:
    dev = result.get("dev") or {}
    for key in ("accuracy", "f1", "matthews_correlation", "pearson"):
        if key in dev:
            return key, dev[key]
    return None


def goals(record: dict) -> list[tuple[str, bool]]:
    """(goal, met) for the toolkit against the Trainer, on what this run measured."""
    runners = record["runners"]
    if "toolkit" not in runners:
        return []
    ours = runners["toolkit"]
    checks = [(f"toolkit at >= {GOAL_BOUND:.2f} of the no-padding bound ({record['bound_fraction']:.2f})",
               record["bound_fraction"] >= GOAL_BOUND)]
    for name, goal in (("trainer_default", GOAL_VS_DEFAULT), ("trainer_best", GOAL_VS_BEST)):
        if name in runners:
            ratio = record["ratios"][f"toolkit/{name}"]
            checks.append((f">= {goal:g}x the {NAMES[name]} in samples/s ({ratio:.2f}x)", ratio >= goal))
    theirs = [(name, runners[name]) for name in ("trainer_default", "trainer_best") if name in runners]
    ours_score = primary(ours)
    for name, result in theirs:
        score = primary(result)
        if ours_score and score:
            checks.append((f"dev {ours_score[0]} no lower than the {NAMES[name]} after the same steps "
                           f"({100 * ours_score[1]:.2f} vs {100 * score[1]:.2f})", ours_score[1] >= score[1]))
    if theirs:
        least = min(result["peak_rss_mb"] for _, result in theirs)
        checks.append((f"peak memory no higher than the Trainer's ({ours['peak_rss_mb']:.0f} MB vs {least:.0f} MB)",
                       ours["peak_rss_mb"] <= least))
    return checks


def mfu(result: dict, record: dict, peaks: dict | None) -> float | None:
    """Model FLOPs a second of a training row over the matmul peak of its precision (flops.py)."""
    if not peaks or "dims" not in record or not result.get("samples_per_s"):
        return None
    peak = peaks.get("bf16" if result["precision"] == "bf16" else "fp32")
    per_token = flops.training_flops_per_token(result["mean_real_tokens"], record["dims"])
    return result["real_tokens_per_s"] * per_token / peak if peak else None


def _row(name: str, result: dict, record: dict, peaks: dict | None = None) -> str:
    ratios = [result["samples_per_s"] / record["runners"][base]["samples_per_s"] if base in record["runners"] else None
              for base in ("trainer_default", "trainer_best")]
    score = primary(result)
    cells = [NAMES.get(name, name), PRECISION.get(result["precision"], result["precision"]), f"{result['samples_per_s']:.1f}",
             f"{result['real_tokens_per_s']:.0f}", f"{100 * result['pad_fraction']:.1f}%", f"{result['peak_rss_mb']:.0f}",
             f"{100 * score[1]:.2f}" if score else "-",
             *(f"{r:.2f}x" if r else "-" for r in ratios),
             f"{result['real_tokens_per_s'] / record['bound_tokens_per_s']:.2f}"]
    share = mfu(result, record, peaks)
    cells.append(f"{100 * share:.1f}%" if share is not None else "-")
    return "| " + " | ".join(cells) + " |"


def phase_lines(record: dict, peaks: dict | None) -> list[str]:
    """Where the toolkit's step goes, and the MFU of its forward and backward alone."""
    ours = record["runners"].get("toolkit")
    if not ours or "phase_seconds" not in ours:
        return []
    seconds, share = ours["phase_seconds"], ours["phase_fractions"]
    parts = ", ".join(f"{name} {100 * share[name]:.0f}% ({1000 * seconds[name] / ours['timed_steps']:.0f} ms)"
                      for name in seconds)
    line = f"Where finetune's step goes (a step's mean): {parts}."
    peak = (peaks or {}).get("bf16" if ours["precision"] == "bf16" else "fp32")
    if peak and "dims" in record:
        tokens = ours["real_tokens_per_s"] * ours["seconds"]
        forward = tokens * flops.training_flops_per_token(ours["mean_real_tokens"], record["dims"]) / 3
        line += (f" MFU of the forward alone {100 * forward / seconds['forward'] / peak:.0f}%, of the backward alone "
                 f"{100 * 2 * forward / seconds['backward'] / peak:.0f}%: the rest of the gap is the optimizer, data and "
                 f"other time above, and kernels below the peak on small matrices.")
    return ["", line]


def workload_table(name: str, record: dict, peaks: dict | None = None) -> list[str]:
    first = next(iter(record["runners"].values()), record["dense"])
    config = first["config"]
    dense = record["dense"]
    score = next((primary(r)[0] for r in record["runners"].values() if primary(r)), None)
    lines = [f"### {name}: {config['model']}, batch {config['batch_size']}, lr {config['lr']:g}, max length "
             f"{config['max_seq_length']}, {record['timed_steps']} timed steps after {record['warmup_steps']} warm-up steps",
             "",
             f"| runner | precision | samples/s | real tokens/s | pad | peak RSS MB | dev {score or 'score'} "
             f"| x Trainer default | x Trainer best | of bound | MFU |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    lines += [_row(runner, result, record, peaks) for runner, result in record["runners"].items()]
    optims = sorted({r["optim"] for r in record["runners"].values() if "optim" in r})
    lines += ["", "finetune: fused AdamW, length groups of up to 200 batches; its precision is train.precision=auto "
                  "unless toolkit_precision says otherwise." + (f" Trainer: optim {', '.join(optims)} (its default)." if optims else "")]
    lines += ["", f"No-padding bound: the toolkit's step ({PRECISION.get(dense['precision'], dense['precision'])}) on "
                  f"{config['batch_size']} x {dense['length']} real tokens (data mean {dense['mean_real_tokens_data']:.1f}): "
                  f"{dense['real_tokens_per_s']:.0f} tokens/s."]
    if peaks and "dims" in record:
        lines += ["", f"MFU: model FLOPs a second (3 x (2N + 4·L·h·T) a real token; N = {record['dims']['matmul_params'] / 1e6:.1f}M "
                      f"matmul parameters, L = {record['dims']['layers']}, h = {record['dims']['hidden']}, T the row's mean "
                      f"length) over this machine's matmul peak in the row's precision, measured in this run: "
                      + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in peaks.items()) + ". Pad tokens count as lost."]
    lines += phase_lines(record, peaks)
    if "eval" in record:
        ev = record["eval"]
        ours = ev["toolkit"]
        lines += ["", f"Dev-set prediction of the same {ours['questions']} questions ({ours['windows']} windows). "
                      "finetune's time holds the forward pass, window merging and scoring; Trainer.predict's only "
                      "the forward pass (transformers 5 removed pipeline(\"question-answering\")):",
                  "", "| predictor | precision | windows/s | questions/s | peak RSS MB | finetune x |", "|---|---|---|---|---|---|"]
        for runner, label in (("toolkit", "finetune (evaluate)"), ("trainer_default", "Trainer.predict, run_qa defaults (pad to max length)"),
                              ("trainer_best", "Trainer.predict, dynamic padding")):
            result = ev[runner]
            lines.append(f"| {label} | {PRECISION.get(result['precision'], result['precision'])} | {result['windows_per_s']:.1f} "
                         f"| {result['questions_per_s']:.1f} | {result['peak_rss_mb']:.0f} "
                         f"| {ours['windows_per_s'] / result['windows_per_s']:.2f}x |")
    return lines


def markdown(results: dict) -> str:
    machine = results["machine"]
    lines = ["# finetune bench", "",
             f"`{results['command']}` on {machine['device']} ({machine['cpu_cores']} cores, {machine['torch_threads']} torch "
             f"threads), torch {machine['torch']}, transformers {machine['transformers']}.", ""]
    if results.get("sample_data"):
        lines += ["**SAMPLE DATA**: the shipped samples, a smoke run; these figures measure nothing.", ""]
    for name, record in results["workloads"].items():
        lines += workload_table(name, record, results.get("peaks"))
        checks = goals(record) if name == "sst2" else []
        if checks:
            lines += ["", "Goals:"] + [f"- [{'x' if met else ' '}] {text}" for text, met in checks]
        lines.append("")
    if "memory" in results:
        lines += [*memory.table(results["memory"]), ""]
    return "\n".join(lines)
