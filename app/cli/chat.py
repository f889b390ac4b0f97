"""Talking to a model: `engram chat` (streaming, in the terminal) and `engram ask` (the SQL agent)."""

from __future__ import annotations

import argparse
import sys

from app.cli.output import print_rows


def _chat_model(args):
    from engine.mome.inference import open_chat

    return open_chat(args.model, n_ctx=args.ctx, lora=getattr(args, "lora", None))


def _route_note(chat) -> None:
    """Memory experts: which expert answered (or that the base model did), after the reply."""
    if hasattr(chat, "route_note"):
        print(f"[{chat.route_note()}]")


def answer_options(args: argparse.Namespace):
    """The SQL answering switches (`add_answer_options`) as the workflow's AnswerOptions."""
    from engine.workflows.answering import AnswerOptions

    return AnswerOptions(k=args.k, examples=args.examples, schema=not args.no_schema, grammar=not args.no_grammar,
                         voting=not args.no_voting, edited_examples=not args.no_edited_examples,
                         sketch=not args.no_sketch,
                         approved_answers=not getattr(args, "model_only", False),
                         retries=max(0, args.attempts - 1), max_rows=args.max_rows)


def examples_of(project: str | None) -> list | None:
    """--project given to ask/eval: its approved SQL pairs are the retrieved examples."""
    if not project:
        return None
    from engine.project import ProjectStore
    from engine.workflows.answering import project_examples

    with ProjectStore(project) as store:
        return project_examples(store)


def cmd_chat(args: argparse.Namespace) -> int:
    from engine.cancel import CancelToken
    from engine.chat.session import ChatSession
    from engine.models.llama_runtime import Sampling

    sampling = Sampling(temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                        max_tokens=args.max_tokens, seed=args.seed)
    with _chat_model(args) as chat:
        session = ChatSession(chat, args.system, sampling)
        print(f"Chatting with {chat.source.name} — empty line or Ctrl+D to quit, Ctrl+C stops a reply.",
              file=sys.stderr)
        while True:
            try:
                text = input("you> ").strip()
            except EOFError:
                break
            if not text:
                break
            token = CancelToken()
            print("model> ", end="", flush=True)
            try:
                for piece in session.send(text, token):
                    print(piece, end="", flush=True)
            except KeyboardInterrupt:
                token.cancel()
                print(" [stopped]", end="")
            print()
            _route_note(chat)
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from engine.chat.sql_agent import run_agent
    from engine.db import open_database
    from engine.workflows.answering import sql_context

    options = answer_options(args)
    with open_database(args.database) as db, _chat_model(args) as chat:
        context = sql_context(db, args.model, examples_of(args.project), options, args.name)
        answered = False
        for step in run_agent(chat, db, args.question, context, options.settings()):
            if step.kind == "candidate":
                print(f"SQL ({step.source}): {step.text}\n  -> {step.result}")
                _route_note(chat)
            elif step.kind == "rows":
                print(f"chosen: {step.source}, {step.text}")
                print_rows(step.columns, step.rows[:args.max_rows])
            elif step.kind == "answer":
                print(f"Answer: {step.text}")
                answered = True
            else:
                print(step.text)
    return 0 if answered else 1


def add_chat_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="a GGUF file or an exported memory-experts folder "
                   "(default: the bundled model)")
    p.add_argument("--lora", default=None, help="a GGUF LoRA adapter to apply")
    p.add_argument("--ctx", type=int, default=4096, help="context length in tokens")


def add_answer_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--k", type=int, default=None, help="SQL candidates per question, voted on by their results "
                   "(default: 4 on a CPU, 8 on a GPU)")
    p.add_argument("--examples", type=int, default=None, help="retrieved example pairs in the SQL prompt "
                   "(default: 3, or what the model's run trained with)")
    p.add_argument("--no-schema", action="store_true", help="leave the schema out of the SQL prompt")
    p.add_argument("--no-grammar", action="store_true", help="free decoding: names not limited to the schema")
    p.add_argument("--no-voting", action="store_true", help="the first candidate that runs is the answer")
    p.add_argument("--no-edited-examples", action="store_true",
                   help="leave the retrieved examples' queries, edited with the question's values, out of the vote")
    p.add_argument("--no-sketch", action="store_true",
                   help="leave the question's plain reading as SQL (written by no model) out of the vote")


def register(sub) -> None:
    p = sub.add_parser("chat", help="chat with a GGUF model in the terminal (streaming)")
    add_chat_options(p)
    p.add_argument("--system", default="You are a helpful assistant.")
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-k", type=int, default=40)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("ask", help="SQL agent: the model writes SQL, Engram runs it read-only and shows rows")
    p.add_argument("question")
    p.add_argument("--database", required=True)
    p.add_argument("--name", default=None, help="database name used in the prompt (default: file name)")
    p.add_argument("--project", default=None, help="a project whose approved SQL pairs are the retrieved examples")
    p.add_argument("--attempts", type=int, default=3, help="corrected queries asked for when no candidate runs, + 1")
    p.add_argument("--max-rows", type=int, default=20)
    add_chat_options(p)
    add_answer_options(p)
    p.add_argument("--model-only", action="store_true",
                   help="the model answers even a question an approved pair asks word for word (by default that "
                        "pair's query is the answer; evaluation always asks the model)")
    p.set_defaults(func=cmd_ask)
