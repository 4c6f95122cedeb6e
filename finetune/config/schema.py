"""The typed run config: every key a run understands, its type, default and meaning.

Keys every task understands live in RunConfig / DataConfig / TrainConfig. Keys specific to a task
(column names, label lists, ...) sit beside them at the top level of the YAML; the task's adapter
declares them as its own dataclass (`Adapter.Options`) and they land in `RunConfig.options`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from finetune.config import typed

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "configs"


@dataclass
class DataConfig:
    # auto: per split, a file found as given or under data.dir / $FINETUNE_DATA, else the sample
    # shipped in samples/, else the hub. files / sample / hub force one source.
    source: Literal["auto", "files", "sample", "hub"] = "auto"
    dir: str | None = None  # folder that relative file names are read from (default $FINETUNE_DATA)
    train: str | None = None  # a file path, or a split name of data.hub
    validation: str | None = None  # the dev set: a file path, or a split name of data.hub
    test: str | None = None  # the test set, predicted by `predict RUN`: a file path, or a split name of data.hub
    # More dev sets scored at every evaluation, by name (MNLI: mismatched -> its dev file).
    extra_validation: dict[str, str] = field(default_factory=dict)
    extra_test: dict[str, str] = field(default_factory=dict)  # more test sets, by name (MNLI: test_mismatched)
    hub: str | None = None  # a hub dataset id (nyu-mll/glue), for users online: data.source=hub
    hub_config: str | None = None  # the hub dataset's configuration (GLUE: sst2, mnli, ...)
    hub_splits: dict[str, str] = field(default_factory=dict)  # train/validation/... -> hub split name
    hub_rename: dict[str, str] = field(default_factory=dict)  # hub column -> the file's column name
    # squad: the nested SQuAD JSON; conll: one token a line, 'word ... tag' columns (NER), auto for
    # .conll .bio .iob .bmes .bioes
    format: Literal["auto", "csv", "tsv", "json", "jsonl", "squad", "conll"] = "auto"
    header: bool = True  # delimited files without a header row (CoLA) set False and give column_names
    column_names: list[str] | None = None  # the columns of delimited files without a header row, in order
    test_header: bool | None = None  # the test file's header, when it differs (CoLA's test has one)
    test_column_names: list[str] | None = None  # the test file's columns, when they differ
    max_train_samples: int | None = None  # the first N training rows only (null: all)
    max_eval_samples: int | None = None  # the first N rows of each dev set only
    max_predict_samples: int | None = None  # the first N rows of each test set only (a leaderboard submission needs them whole)
    max_seq_length: int = 128  # tokens a feature holds: longer inputs are truncated, or windowed (SQuAD, NER)
    # error: a malformed row stops the run before training (exit status 2, naming file and line).
    # skip: drop it instead; every skipped row is printed with its file, line and reason, and counted
    # in the run's metrics.json.
    bad_rows: Literal["error", "skip"] = "error"


@dataclass
class TrainConfig:
    epochs: float = 3.0  # passes over the training set
    max_steps: int | None = None  # optimizer steps; overrides epochs when set
    batch_size: int = 32  # the global batch: split across processes under `accelerate launch`
    eval_batch_size: int | None = None  # default: 2 x batch_size
    lr: float = 2e-5  # AdamW's peak learning rate, reached after warm-up
    # The input embedding matrix's peak learning rate (null: train.lr). Rows that vocab.add_tokens
    # added start far from where they must go; a higher rate here lets them get there in a few epochs.
    embedding_lr: float | None = None
    # Layer-wise learning-rate decay (ELECTRA; Zhang et al. 2021): the head and the top layer train at
    # train.lr, each layer below at this factor times the one above, the embeddings below the lowest
    # (0.9 on 6 layers: embeddings at 0.53 x). null: one rate for the whole model.
    layer_lr_decay: float | None = None
    weight_decay: float = 0.01  # AdamW's decoupled weight decay; biases and norm weights get none
    warmup_ratio: float = 0.0  # the fraction of optimizer steps that warm the learning rate up from 0
    warmup_steps: int | None = None  # overrides warmup_ratio when set
    scheduler: Literal["linear", "cosine", "constant"] = "linear"  # the learning rate's decay after warm-up
    grad_accum: int = 1  # batches of batch_size per optimizer step; the loss is normalised over all of them
    max_grad_norm: float | None = 1.0  # gradient-norm clipping (null: off)
    # auto: bf16 autocast where the hardware runs bf16 natively (CUDA Ampere+, CPUs with AVX512-BF16
    # or AMX), fp32 elsewhere: 1.4x on MiniLM here, and SST-2 / CoNLL-2003 scores held (docs/speed.md).
    # no: fp32 (bit-reproducible losses across machines). fp16 (CUDA only) uses loss scaling.
    precision: Literal["no", "bf16", "fp16", "auto"] = "auto"
    eval_every: int | None = None  # optimizer steps between evaluations; every epoch end regardless
    save_every: int | None = None  # optimizer steps between checkpoints; default: at each evaluation
    # step-N checkpoints kept (best/ apart). Resume after a kill needs only the newest (each is written
    # whole before an older one goes); 0 keeps one while training and none once the run has finished.
    keep_last: int = 1
    patience: int | None = None  # evaluations without improvement before stopping early
    log_every: int = 20  # optimizer steps between lines of log.jsonl
    # A torch.compile backend for the training forward ("inductor"; null: eager). Shapes are marked
    # dynamic, as batch lengths vary. On 2 CPU cores: +3.5% on SST-2 after a minute of compiling (make bench).
    compile: str | None = None
    group_by_length: bool = True  # batches of similar lengths: fewer pad tokens, same randomness
    # With group_by_length: at most how many batches' worth of random examples are sorted by length
    # together (and at most a quarter of the set). transformers caps it at 50 (full SST-2: 5% of the
    # tokens are pad); 200 leaves 2%, and batch order is shuffled anyway.
    length_megabatch: int = 200
    # Experiment trackers (accelerate's): tensorboard, wandb, mlflow, comet_ml, aim, clearml, dvclive, swanlab,
    # trackio, several comma-separated, or none. They get the config, losses, lr, throughput, dev metrics and summary.
    report_to: str = "none"
    # Before training, find the largest micro-batch that fits in memory (halving from batch_size)
    # and make up the rest with gradient accumulation: the optimizer steps on the same batches.
    auto_batch_size: bool = False
    # A NaN or infinite loss or gradient norm: stop (naming the step and the batch's examples; the
    # last checkpoint stays) or skip that optimizer step, counting skips in the log.
    on_nan_loss: Literal["stop", "skip"] = "stop"


# peft.lr's default per method (docs/peft.md): for LoRA, IA3 and prompt tuning the best of the rates
# tried on MiniLM with 2,000 SST-2 sentences (prompt: 1e-2, 3e-2, 1e-1 gave 0.604, 0.619, 0.565 after
# one epoch); prefix tuning takes prompt tuning's rate, not yet tuned.
PEFT_LR = {"lora": 1.0e-3, "ia3": 5.0e-3, "prompt": 3.0e-2, "prefix": 3.0e-2}


@dataclass
class PeftConfig:
    """Parameter-efficient fine-tuning through peft: only the method's parameters and the task's
    new head train; the saved models have LoRA / IA3 merged in, and are adapter folders for prompt /
    prefix tuning (finetune/models/peft_methods.py, prompt_tuning.py)."""

    # none: every weight trains; prompt: learned input embeddings (not multiple choice, not decoder
    # classification); prefix: learned attention keys and values (generative QA only)
    method: Literal["none", "lora", "ia3", "prompt", "prefix"] = "none"
    # lora / ia3: the modules adapted (null: peft's default for the architecture; lora.target_modules for LoRA too)
    target_modules: list[str] | None = None
    feedforward_modules: list[str] | None = None  # ia3: those of target_modules whose input is scaled (null: peft's default)
    # The learning rate with a method (train.lr is full fine-tuning's); null: the method's own default
    # (lora 1e-3, ia3 5e-3, prompt and prefix 3e-2: PEFT_LR), far above full fine-tuning's rates.
    lr: float | None = None
    virtual_tokens: int = 20  # prompt / prefix: how many virtual tokens are learned
    prompt_init: Literal["vocab", "random"] = "vocab"  # prompt: start from embeddings of sampled vocabulary tokens, or random


@dataclass
class LoraConfig:
    """LoRA's settings (peft.method=lora): only low-rank adapters train; the saved models have them merged in."""

    enabled: bool = False  # the older switch: true is peft.method=lora
    r: int = 8  # rank of the update
    alpha: float = 16.0  # the update is scaled by alpha / r
    dropout: float = 0.05  # dropout on the adapters' input
    target_modules: list[str] | None = None  # module names (q_proj, v_proj, ...); null: peft's default for the architecture


@dataclass
class VocabConfig:
    """Vocabulary extension: text the tokenizer cannot see (Chinese on an English model) becomes new
    tokens, with embedding rows that train with the rest."""

    # off: the tokenizer as it is. auto: before training, scan the training split for characters the
    # tokenizer maps to its unknown token and add those seen at least min_count times. A file path:
    # the tokens to add, one a line (UTF-8). Byte-level tokenizers (GPT-2, SmolLM2) have no unknown
    # text: auto adds nothing there, a file still adds its tokens.
    add_tokens: str = "off"
    min_count: int = 2  # auto: how often a character must occur in the training text to be added
    max_tokens: int | None = None  # auto: at most this many, the most frequent first (null: all that qualify)
    # The new embedding rows: unk copies the unknown token's row (the model starts exactly where it
    # was, which saw these characters as unknown); mean: transformers' mean_resizing (all rows near
    # the mean of the old ones); random: drawn from the old rows' distribution (their mean and
    # covariance), so that new tokens are told apart from the first step. Tokenizers without an
    # unknown token use mean for unk.
    init: Literal["unk", "mean", "random"] = "unk"


@dataclass
class SweepConfig:
    """A hyperparameter study with Optuna (`python -m finetune sweep`); `train` ignores this section."""

    # The search space: config key -> {low, high, log} (a range; integers stay integers) or a list of
    # choices, e.g. {train.lr: {low: 1.0e-5, high: 3.0e-4, log: true}, train.batch_size: [16, 32]}
    params: dict[str, Any] = field(default_factory=dict)
    trials: int = 20  # finished trials in the study, counted across every worker
    metric: str | None = None  # the dev metric to optimise (null: the task's primary metric)
    direction: Literal["maximize", "minimize"] = "maximize"  # whether a higher or a lower metric is better
    sampler: Literal["tpe", "random"] = "tpe"  # how values are drawn: Optuna's TPE, or at random
    # Stops trials that trail the others at the loop's own evaluations (train.eval_every).
    pruner: Literal["median", "halving", "none"] = "median"
    # No pruning before this fraction of a trial's optimizer steps: the first evaluations are noisy.
    prune_after: float = 0.25
    study: str | None = None  # the study's name (null: the task's); workers with one name join one study
    # Where the study lives: null is a journal file in the sweep folder (no server); a journal file
    # on shared storage, or an RDB URL (sqlite:///sweep.db, postgresql://...), for workers on many machines.
    storage: str | None = None
    dir: str | None = None  # the sweep folder (null: <output_dir>/sweep-<study>); each trial a run folder in it


@dataclass
class ReferenceConfig:
    """Published dev scores of a known model on this task, shown beside a run's (GLUE batch table)."""

    model: str | None = None  # the model the scores are for, e.g. bert-base-cased
    metrics: dict[str, float] = field(default_factory=dict)  # metric name -> score in percent, as sources print them
    source: str | None = None  # where the scores were published


@dataclass
class RunConfig:
    task: str  # the task's name, in the run folder's name and metrics.json (default: the YAML's file name)
    adapter: str = "classification"  # what handles the task: classification, squad, ner, multiple_choice, generative_qa
    model: str = "minilm"  # a packaged alias (minilm, smollm2), a local folder or a hub id
    language: str | None = None  # the data's language (ISO 639-1: en, zh), for the model card's metadata
    seed: int = 42  # the new head's initial weights, shuffling and dropout
    # Several seeds: a count (seed, seed+1, ...) or a list; train (and glue) run the config once per
    # seed and report mean, standard deviation and median of every metric (null: one run, `seed`).
    seeds: int | list[int] | None = None
    run_name: str | None = None  # default: <task>-<timestamp>
    output_dir: str = "runs"  # the run folder is output_dir/run_name
    resume: str = "auto"  # auto (continue the run folder's last checkpoint) | never | PATH
    trust_remote_code: bool = False  # run Python code a model folder ships (auto_map); off unless you ask
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    peft: PeftConfig = field(default_factory=PeftConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    vocab: VocabConfig = field(default_factory=VocabConfig)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    options: Any = None  # the adapter's own dataclass, flattened to top-level keys in YAML
    # Written by a run, not set by hand: the task keys its data made it set otherwise than asked
    # (NER's document_context on a train split without documents), key -> the value asked for. The
    # keys themselves hold what ran; resuming accepts either value.
    asked_for: dict[str, Any] = field(default_factory=dict)

    @property
    def peft_method(self) -> str:
        """peft.method, or lora where the older lora.enabled=true says so."""
        return "lora" if self.lora.enabled and self.peft.method == "none" else self.peft.method

    @property
    def learning_rate(self) -> float:
        """The optimizer's rate: peft.lr with a method (set when the config loads), else train.lr."""
        return self.peft.lr if self.peft_method != "none" else self.train.lr

    def settle(self, key: str, value: Any) -> None:
        """Set the task key `key` to `value` because the data allows no other, and record what was
        asked, so that config.yaml describes the run that happened and a resume still matches."""
        asked = getattr(self.options, key)
        if asked != value:
            self.asked_for.setdefault(key, asked)
            setattr(self.options, key, value)

    def to_dict(self) -> dict:
        out = {f.name: typed.to_dict(getattr(self, f.name)) for f in dataclasses.fields(self)
               if f.name not in ("options", "asked_for")}
        if self.options is not None:
            out.update(typed.to_dict(self.options))
        if self.asked_for:  # only where a run settled a key: most config.yaml files never show it
            out["asked_for"] = dict(self.asked_for)
        return out

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True))
