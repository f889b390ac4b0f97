"""`engram export`: a run as quantized GGUF files (or memory experts as base + LoRA GGUFs), recall checked
through llama.cpp."""

from __future__ import annotations

import argparse

from app.cli.output import print_step


def cmd_export(args: argparse.Namespace) -> int:
    from engine.workflows.export import export_run

    done = export_run(args.run, args.quant, args.out, progress=print_step)
    if done.experts:
        quant, recall = next(iter(done.recall.items()))
        print(f"base model: {done.files[quant]}\n{len(done.expert_adapters)} expert adapter(s) in {done.out / 'experts'}")
        print(f"recall through llama.cpp with routing: {recall:.0%}")
        return 0
    reference = "-" if done.reference_recall is None else f"{done.reference_recall:.0%}"
    print(f"{'file':<34}{'recall (llama.cpp)':>20}{'recall (transformers)':>24}")
    for quant, path in done.files.items():
        flag = "  FAILED: facts lost in export" if quant in done.lost else ""
        print(f"{path.name:<34}{done.recall[quant]:>20.0%}{reference:>24}{flag}")
    if done.adapter_gguf:
        print(f"LoRA adapter: {done.adapter_gguf}")
    if done.modelfile:
        print(f"Ollama: cd {done.out} && ollama create {done.database_name} -f Modelfile")
    return 0 if done.passed else 1


def register(sub) -> None:
    p = sub.add_parser("export", help="export a run as merged, quantized GGUF files and check recall")
    p.add_argument("run", help="the run folder (has config.json and adapter/)")
    p.add_argument("--quant", nargs="+", default=["q8_0"], choices=["f16", "q8_0", "q5_k_m", "q4_k_m"])
    p.add_argument("--out", default=None, help="output folder (default: RUN/export)")
    p.set_defaults(func=cmd_export)
