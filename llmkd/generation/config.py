"""The flags of ``python -m llmkd.generate``, with their help text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from llmkd.generation.sharding import ShardFlags
from llmkd.io.readers import InputColumns


@dataclass
class GenerateConfig(ShardFlags, InputColumns):
    """Flags of ``python -m llmkd.generate``."""

    input: str | None = field(
        default=None,
        metadata={
            "help": "Texts to label: .csv, .jsonl, .parquet, .txt (one per line), PhraseBank "
            "'sentence@label' .txt, or hf:NAME[:CONFIG][:SPLIT].",
            "required": True,
        },
    )
    run: str | None = field(
        default=None,
        metadata={"help": "Run directory (default: artifacts/runs/<input name>-<task>). Reuse it to resume."},
    )
    task: str = field(
        default="fin-sentiment", metadata={"help": "Task name in prompts/ or a path to a task YAML."}
    )
    teacher: list[str] = field(
        default_factory=lambda: ["local"],
        metadata={
            "help": "Teacher: local, hf:PATH_OR_ID, gpt-4o, openai:MODEL, claude-..., anthropic:MODEL, "
            "vllm:MODEL, ollama:MODEL, openai-compatible:MODEL, or lexicon[:PATH] (a finance polarity "
            "lexicon for positive/negative/neutral tasks: a heuristic that flatters Financial PhraseBank and "
            "is near the majority class on tweets; audit it with --gold-seed). Give several for an ensemble."
        },
    )
    rationale: bool = field(default=True, metadata={"help": "Ask the teacher for a one-sentence rationale."})
    samples: int = field(
        default=1,
        metadata={"help": "Sampled answers per item for API teachers (soft labels without log-probs)."},
    )
    temperature: float | None = field(
        default=None, metadata={"help": "Sampling temperature (default 0, or 1 when --samples > 1)."}
    )
    few_shot: bool | None = field(
        default=None,
        metadata={
            "help": "Show few-shot examples to the teacher (default: on for API teachers; per model for local "
            "ones: off for the embedded SmolLM2, the task's 6 for Qwen; on with --few-shot-pool)."
        },
    )
    calibrate: bool | None = field(
        default=None,
        metadata={
            "help": "Local teachers: contextual calibration, dividing out the label prior measured on "
            "content-free inputs (N/A, empty, [MASK]) (default: per model; on for the embedded SmolLM2)."
        },
    )
    label_prefix: str | None = field(
        default=None,
        metadata={
            "help": "Local teachers: text scored before each label, e.g. ' ' (default: per model; ' ' for Qwen)."
        },
    )
    few_shot_pool: str | None = field(
        default=None,
        metadata={
            "help": "Local teachers: labelled file (PhraseBank .txt, or CSV/JSONL/Parquet with text,label columns) "
            "to draw few-shot examples from instead of the task's."
        },
    )
    few_shot_k: int = field(default=6, metadata={"help": "Examples drawn from --few-shot-pool."})
    few_shot_select: Literal["random", "similar"] = field(
        default="random",
        metadata={
            "help": "random: one seeded draw balanced per label, shared by every item; similar: the nearest pool "
            "examples by TF-IDF for each item."
        },
    )
    few_shot_seed: int = field(default=0, metadata={"help": "Seed of --few-shot-select random."})
    max_new_tokens: int = field(default=64, metadata={"help": "Token limit for generated rationales."})
    batch_size: int = field(default=16, metadata={"help": "Items per forward pass for local teachers."})
    base_url: str | None = field(
        default=None, metadata={"help": "API base URL (OpenAI-compatible servers; default OPENAI_BASE_URL)."}
    )
    concurrency: int = field(default=16, metadata={"help": "API requests in flight at once."})
    rpm: int | None = field(
        default=None, metadata={"help": "Requests-per-minute limit (default: per model)."}
    )
    tpm: int | None = field(default=None, metadata={"help": "Tokens-per-minute limit (default: per model)."})
    timeout_s: float = field(default=60.0, metadata={"help": "Per-request timeout in seconds."})
    max_attempts: int = field(default=6, metadata={"help": "Attempts per request on 429/5xx/timeouts."})
    max_cost_usd: float | None = field(
        default=None, metadata={"help": "Stop before the next request would take the run's spend past this."}
    )
    dry_run: bool = field(
        default=False, metadata={"help": "Print the plan (requests, tokens, dollars); call nothing."}
    )
    device: str = field(
        default="auto", metadata={"help": "Torch device for local teachers ('auto': cuda when available)."}
    )
    privacy: Literal["off", "local-only"] = field(
        default="off",
        metadata={
            "help": "local-only: refuse, before any request, every teacher that is not local (local, hf:) "
            "or on a loopback/private --base-url (127.0.0.1, 10.x, 192.168.x, localhost, [::1], unix:). "
            "LLMKD_PRIVACY=local-only in the environment forces it."
        },
    )
    redact: bool = field(
        default=False,
        metadata={
            "help": "Replace e-mails, phone numbers, IBANs, card and account numbers and national ids with "
            "typed placeholders ([EMAIL_1]) before any text reaches a teacher; the mapping stays in "
            "RUN/redaction_map.json and the ledger holds what was sent."
        },
    )
    augment: int = field(
        default=0,
        metadata={
            "help": "Have the (first) teacher write N new examples per label, deduplicated against the "
            "input, then label them like any item (source: augmented)."
        },
    )
    batch: bool = field(
        default=False,
        metadata={
            "help": "Send remote requests through the provider's batch API (OpenAI Batch, Anthropic "
            "Message Batches): half price, results within 24 h; a rerun resumes the running job."
        },
    )
    batch_poll_s: float = field(default=30.0, metadata={"help": "Seconds between batch-job status polls."})
    max_resends: int = field(
        default=2,
        metadata={"help": "Reruns re-send a request stored as invalid, at most this many times per request."},
    )
    gold_seed: str | None = field(
        default=None,
        metadata={
            "help": "A few hundred of your own texts labelled by hand (any input format, read with the column "
            "flags above; its label column defaults to 'label'). Every teacher labels it first: an audit "
            "(RUN/audit.json, report.md) scores each against the majority class and a seed-only student; "
            "corrections of each teacher's soft labels are learned on it (--correct); finetune trains and "
            "selects the student on it. Keep it apart from your evaluation set.",
            "metavar": "FILE",
        },
    )
    correct: bool = field(
        default=True,
        metadata={
            "help": "With --gold-seed: correct each teacher's soft labels (calibration or label-noise "
            "transition) and weigh the teachers, each only where it beats the raw labels on held-out folds "
            "of the seed."
        },
    )
    audit_only: bool = field(
        default=False,
        metadata={
            "help": "With --gold-seed: label and audit the seed only, then stop (spend nothing on --input)."
        },
    )
    budget: int | None = field(
        default=None,
        metadata={
            "help": "Active distillation: send at most N pool items to the teacher, in --rounds rounds chosen "
            "by --select; labels.jsonl then holds those items only. Rounds, picks and quick students are "
            "in RUN/active/.",
            "metavar": "N",
        },
    )
    select: Literal["mix", "uncertainty", "diversity", "random"] = field(
        default="uncertainty",
        metadata={
            "help": "With --budget: uncertainty (round 0 random, then the items the quick student is least sure "
            "of: smallest margin; best on bench/active's dev splits), mix (round 0 diverse by k-center, then "
            "the least sure kept diverse among themselves), diversity (k-center), random."
        },
    )
    explore: float = field(
        default=0.0,
        metadata={
            "help": "With --budget and --select uncertainty or mix: share of each round picked by the quick "
            "student that is drawn at random from the rest of the pool instead (clear, typical items too).",
            "metavar": "SHARE",
        },
    )
    rounds: int = field(
        default=10,
        metadata={"help": "With --budget: rounds of teacher calls (a quick student refit after each)."},
    )
    select_student: str = field(
        default="minilm",
        metadata={
            "help": "With --budget: encoder whose frozen embeddings drive selection and the quick student."
        },
    )
    select_seed: int = field(default=0, metadata={"help": "With --budget: seed of the random choices."})
