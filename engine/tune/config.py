"""The run configuration. The dataclass is the documentation: each field's help text feeds the CLI
and the UI's tooltips; `__post_init__` names the field that is wrong. Saved as config.json in the
run folder, so a run can be resumed or repeated exactly."""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

METHODS = ("memory", "instruction", "experts")
RECALL_CHECKS = ("teacher-forced", "decode")
PRECISIONS = ("auto", "fp32", "bf16")
REGULARIZATION = ("auto", "none", "mix", "kl")


def _help(text: str, default: Any) -> Any:
    return field(default=default, metadata={"help": text})


@dataclass
class TuneConfig:
    data: str = _help("JSONL of pairs to learn: {id, kind, question, answer} per line", "")
    output_dir: str = _help("Run folder: config, events, checkpoints, adapter, per-fact scores", "")
    model: str = _help("'bundled', a GGUF file or a Hugging Face folder", "bundled")
    database_name: str = _help("Database name used in the prompts (as at chat time)", "database")
    dialect: str = _help("SQL dialect named in the SQL prompt (sqlite or duckdb)", "sqlite")
    method: str = _help("'memory': train until every fact is recalled; 'instruction': fixed epochs; "
                        "'experts': memory experts, one small adapter per group of facts and a router", "memory")
    expert_size: int = _help("Memory experts: most facts one expert holds", 40)
    experts_at_once: int = _help("Memory experts trained together, their facts in the same batches (each "
                                 "through its own adapter); 0: by device (one at a time on every device so far)", 0)
    router_threshold: float = _help("Memory experts: least question similarity for an expert to answer "
                                    "(below it the base model answers)", 0.5)
    lora_r: int = _help("LoRA rank: capacity of the adapter", 16)
    lora_alpha: int = _help("LoRA scale (alpha / r multiplies the update)", 32)
    lora_dropout: float = _help("Dropout on LoRA inputs (0 keeps runs exactly reproducible)", 0.0)
    target_modules: str = _help("Layers that get adapters: 'all-linear' or comma-separated names", "all-linear")
    lora_layers: int = _help("Adapters on the top N transformer layers only (0: every layer); the layers below "
                             "run once per fact, not once per step", 10)
    # 1e-3 with clipping: 2e-3 stalled or diverged on row facts where 1e-3 converged (bench/results/mome-scaling)
    learning_rate: float = _help("AdamW learning rate (constant after warm-up in memory mode)", 1e-3)
    loraplus_ratio: float = _help("LoRA+: the B matrices learn this many times faster than the A matrices "
                                  "(1: plain LoRA)", 1.0)
    warmup_steps: int = _help("Steps of linear learning-rate warm-up", 5)
    weight_decay: float = _help("AdamW weight decay", 0.0)
    max_grad_norm: float = _help("Clip the gradient norm to this (0: no clipping); tames loss spikes", 1.0)
    rollback_on_divergence: bool = _help(
        "Memory mode: when the mean fact loss jumps far above its best (the run diverged), go back to the "
        "adapter of that best epoch and halve the learning rate", True)
    restart_after_plateau: int = _help(
        "Memory mode: passes over the facts without the mean fact loss falling 10% below its best, after which "
        "the adapter starts again from the next seed (a run can sit on a plateau for good; not once half its facts "
        "were below the loss threshold); 0: never", 20)
    batch_size: int = _help("Examples per optimizer step (per process); 0: by device (4 on a CPU, 10 on a GPU)", 0)
    max_seq_len: int = _help("Longest prompt + answer in tokens; longer pairs are refused", 1024)
    loss_threshold: float = _help("A fact counts as memorized when its loss is below this", 0.01)
    revisit_fraction: float = _help("Share of already-memorized facts revisited each epoch (never fewer "
                                    "than the facts still being learned)", 0.1)
    settle_factor: float = _help(
        "Memory mode: each time every loss is under the threshold yet greedy decoding still misses facts, the "
        "learning rate is multiplied by this (down to 1/8 of it), so the last facts settle instead of pushing "
        "the others back out; 1: never. Measured in docs/benchmarks.md.", 0.5)
    recall_check: str = _help("'teacher-forced': every training step's own forward pass tells, per fact, whether "
                              "greedy decoding would give the answer exactly, and real decoding confirms "
                              "convergence; 'decode': greedy decoding every recall_every passes", "teacher-forced")
    recall_every: int = _help("With recall_check 'decode': check greedy exact-match recall every N passes' worth of steps", 2)
    epochs: int = _help("Epochs in instruction mode (memory mode stops by itself)", 3)
    max_steps: int = _help("Step budget (0: none)", 2000)
    max_minutes: float = _help("Time budget in minutes (0: none)", 30.0)
    checkpoint_every: int = _help("Save a checkpoint every N steps (and always on stop)", 50)
    log_every: int = _help("Emit a step event every N steps", 1)
    regularization: str = _help("Against forgetting: 'auto' (KL to the base model for one adapter; none for memory "
                                "experts, whose router leaves general questions to the base model; docs/benchmarks.md), "
                                "'kl' (KL to the base model on general prompts), 'mix' (the base model's own answers to "
                                "them mixed in) or 'none'", "auto")
    regularization_weight: float = _help("Weight of the regularization loss", 1.0)
    device: str = _help("'auto' (CUDA, then MPS, then CPU), 'cuda', 'mps' or 'cpu'", "auto")
    precision: str = _help("'auto' (bf16 autocast on GPUs and CPUs with bf16 instructions, else fp32), "
                           "'fp32' or 'bf16'", "auto")
    load_in_4bit: bool = _help("QLoRA: load the base in 4-bit (CUDA with bitsandbytes only)", False)
    seed: int = _help("Seed for initialization and data order", 0)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"TuneConfig.method must be one of {', '.join(METHODS)}; got {self.method!r}")
        if self.regularization not in REGULARIZATION:
            raise ValueError(f"TuneConfig.regularization must be one of {', '.join(REGULARIZATION)}; "
                             f"got {self.regularization!r}")
        if self.recall_check not in RECALL_CHECKS:
            raise ValueError(f"TuneConfig.recall_check must be one of {', '.join(RECALL_CHECKS)}; got {self.recall_check!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"TuneConfig.precision must be one of {', '.join(PRECISIONS)}; got {self.precision!r}")
        if self.lora_layers < 0:
            raise ValueError(f"TuneConfig.lora_layers must be 0 (every layer) or more; got {self.lora_layers}")
        if self.experts_at_once < 0:
            raise ValueError(f"TuneConfig.experts_at_once must be 0 (by device) or more; got {self.experts_at_once}")
        if self.batch_size < 0:
            raise ValueError(f"TuneConfig.batch_size must be 0 (by device) or more; got {self.batch_size}")
        if self.restart_after_plateau < 0:
            raise ValueError(f"TuneConfig.restart_after_plateau must be 0 (never) or more; got {self.restart_after_plateau}")
        for name in ("lora_r", "lora_alpha", "max_seq_len", "recall_every", "epochs",
                     "checkpoint_every", "log_every", "expert_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TuneConfig.{name} must be at least 1; got {getattr(self, name)}")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"TuneConfig.learning_rate must be in (0, 1); got {self.learning_rate}")
        if not 0 <= self.revisit_fraction <= 1:
            raise ValueError(f"TuneConfig.revisit_fraction must be in [0, 1]; got {self.revisit_fraction}")
        if not 0 < self.settle_factor <= 1:
            raise ValueError(f"TuneConfig.settle_factor must be in (0, 1]; got {self.settle_factor}")
        if self.loss_threshold <= 0:
            raise ValueError(f"TuneConfig.loss_threshold must be positive; got {self.loss_threshold}")

    @property
    def regularization_in_effect(self) -> str:
        """What 'auto' means for this run: KL for one adapter, none for memory experts, whose router
        already keeps the base model's general ability (docs/benchmarks.md, "Staying an assistant")."""
        if self.regularization != "auto":
            return self.regularization
        return "none" if self.method == "experts" else "kl"

    @classmethod
    def help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in fields(cls)}

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TuneConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            warnings.warn(f"Ignoring unknown run config key(s): {', '.join(unknown)}", stacklevel=2)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def load(cls, path: str | Path) -> "TuneConfig":
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from None
        return cls.from_dict(data)
