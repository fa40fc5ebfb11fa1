"""Local teacher: any causal LM run in-process with transformers (the privacy route).

Labels and probabilities come from scoring every label's continuation (see ``label_scoring``), not from
parsing generated text; the rationale is generated in a second turn that names the chosen label.

Options (``TeacherOptions``; None takes the model's default from :func:`llmkd.models.embedded.local_profile`):

- ``calibrate``: contextual calibration, the label prior measured once on content-free inputs.
- ``label_prefix``: text put before each label when scoring it (e.g. ``" "``).
- ``few_shot_pool``: a labelled file whose examples replace the task's: ``few_shot_k`` of them, either
  ``random`` (balanced per label, one seeded draw shared by every item, so the whole prompt prefix is cached)
  or ``similar`` (the nearest by TF-IDF cosine for each item; only the system prompt is a shared prefix).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from llmkd.errors import ConfigError, TeacherError
from llmkd.io.readers import InputSpec, detect_format, read_items
from llmkd.io.records import Item, TeacherOutput
from llmkd.io.task import Task
from llmkd.models.device import resolve_device
from llmkd.models.embedded import QWEN_ALIASES, QWEN_NAME, SMOLLM2_NAME, local_profile, resolve_causal_model
from llmkd.scoring.label_scoring import label_logprobs, prefix_cache
from llmkd.teachers.base import ResultCallback, TeacherOptions, TeacherRequest
from llmkd.teachers.calibration import CONTENT_FREE, calibrate, content_free_prior

SELECTIONS = ("random", "similar")


def read_pool(path: str, labels: Sequence[str]) -> list[Item]:
    """Labelled few-shot pool: PhraseBank ``sentence@label`` text, or CSV/JSONL/Parquet with a label column."""
    if not Path(path).is_file():
        raise ConfigError(f"--few-shot-pool: no such file {path!r}")
    fmt = detect_format(InputSpec(path))
    items = read_items(InputSpec(path, label_column=None if fmt == "phrasebank" else "label"), labels)
    missing = next((it for it in items if it.label is None), None)
    if missing is not None:
        raise ConfigError(f"--few-shot-pool {path}: line {missing.line} has no label")
    return items


def balanced_sample(pool: Sequence[Item], labels: Sequence[str], k: int, seed: int) -> list[Item]:
    """``k`` examples drawn round-robin over ``labels`` (seeded), in a seeded random order."""
    rng = random.Random(seed)
    by_label = {lab: [it for it in pool if it.label == lab] for lab in labels}
    for group in by_label.values():
        rng.shuffle(group)
    chosen: list[Item] = []
    while len(chosen) < k and any(by_label.values()):
        for lab in labels:
            if by_label[lab] and len(chosen) < k:
                chosen.append(by_label[lab].pop())
    rng.shuffle(chosen)
    return chosen


class SimilarExamples:
    """Nearest pool examples by TF-IDF cosine similarity (an item's own text is never its example)."""

    def __init__(self, pool: Sequence[Item]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.pool = list(pool)
        self.vectorizer = TfidfVectorizer(sublinear_tf=True)
        self.matrix = self.vectorizer.fit_transform([it.text for it in self.pool])

    def nearest(self, text: str, k: int) -> list[Item]:
        """The ``k`` most similar examples, least similar first (the closest sits next to the query)."""
        sims = (self.matrix @ self.vectorizer.transform([text]).T).toarray().ravel()
        order = sorted(range(len(self.pool)), key=lambda i: (-sims[i], i))
        picked = [self.pool[i] for i in order if self.pool[i].text.strip() != text.strip()][:k]
        return picked[::-1]


class LocalTeacher:
    """A transformers causal LM used as a teacher on this machine."""

    def __init__(
        self, model_path: str, task: Task, options: TeacherOptions, name: str, model_id: str
    ) -> None:
        from transformers import AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        except (OSError, ValueError) as exc:
            raise TeacherError(
                f"cannot load tokenizer of {model_path!r}: {str(exc).splitlines()[0]}"
            ) from None
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        self.model_path = model_path
        self.name, self.model, self.task, self.options = name, model_id, task, options
        profile = local_profile(name)
        self.calibrate = profile.calibrate if options.calibrate is None else options.calibrate
        self.label_prefix = profile.label_prefix if options.label_prefix is None else options.label_prefix
        self.label_ids = self.label_token_ids(self.label_prefix)
        self._fixed_shots, self._similar = self._few_shot_setup()
        self._prefix_text, self._prefix_ids = self._shared_prefix()
        self._lm: Any = None
        self._prefix_cache: Any = None
        self._prior: torch.Tensor | None = None

    @property
    def lm(self) -> Any:
        """The model, loaded on first use (a fully cached rerun never loads it)."""
        if self._lm is None:
            from transformers import AutoModelForCausalLM

            try:
                lm = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=torch.float32)
            except (OSError, ValueError) as exc:
                raise TeacherError(
                    f"cannot load causal LM {self.model_path!r}: {str(exc).splitlines()[0]}"
                ) from None
            self._lm = lm.eval().to(resolve_device(self.options.device))
            self._prefix_cache = prefix_cache(self._lm, self._prefix_ids)
        return self._lm

    def attach(self, lm: Any) -> None:
        """Use an already loaded model (the same weights as ``model_path``), e.g. shared by prompt variants."""
        self._lm = lm
        self._prefix_cache = prefix_cache(lm, self._prefix_ids)

    @classmethod
    def from_spec(cls, spec: str, task: Task, options: TeacherOptions) -> LocalTeacher:
        """``local`` (embedded SmolLM2), ``local:qwen2.5-coder-0.5b``, ``local:PATH`` or ``hf:PATH_OR_ID``."""
        target = spec.partition(":")[2] or "local"
        path = resolve_causal_model(target)
        if path != target:  # an embedded or fetched model
            model_id = QWEN_NAME if target in QWEN_ALIASES else SMOLLM2_NAME
            return cls(path, task, options, name=f"local:{model_id}", model_id=model_id)
        return cls(path, task, options, name=spec, model_id=target)

    def close(self) -> None:
        self._lm = None
        self._prefix_cache = None

    def label_token_ids(self, prefix: str) -> list[list[int]]:
        """Token ids of each label continuation as scored, ``prefix + label``."""
        return [self._encode(prefix + label) for label in self.task.labels]

    def _few_shot_setup(self) -> tuple[list[tuple[str, str]] | None, SimilarExamples | None]:
        """Fixed few-shot (text, label) pairs, or a per-item selector; (None, None) means the task's own."""
        opts = self.options
        if opts.few_shot_pool is None or not opts.few_shot:
            return None, None
        if opts.few_shot_select not in SELECTIONS:
            raise ConfigError(f"--few-shot-select must be one of {', '.join(SELECTIONS)}")
        if opts.few_shot_k < 1:
            raise ConfigError("--few-shot-k must be at least 1")
        pool = read_pool(opts.few_shot_pool, self.task.labels)
        fixed = [
            (it.text, str(it.label))
            for it in balanced_sample(pool, self.task.labels, opts.few_shot_k, opts.few_shot_seed)
        ]
        return fixed, (SimilarExamples(pool) if opts.few_shot_select == "similar" else None)

    def shots(self, text: str, content_free: bool = False) -> list[tuple[str, str]]:
        """The few-shot (text, label) pairs shown before ``text``.

        Content-free probes in ``similar`` mode get the seeded balanced draw (they have no neighbours).
        """
        if not self.options.few_shot:
            return []
        if self._similar is not None and not content_free:
            found = self._similar.nearest(text, self.options.few_shot_k)
            return [(it.text, str(it.label)) for it in found]
        if self._fixed_shots is not None:
            return self._fixed_shots
        return [(ex.text, ex.label) for ex in self.task.spec.few_shot]

    def messages(self, text: str, content_free: bool = False) -> list[dict[str, str]]:
        """Chat messages for ``text``: system prompt, few-shot turns, the query."""
        msgs = [{"role": "system", "content": self.task.system_prompt()}]
        for shot_text, shot_label in self.shots(text, content_free):
            msgs.append({"role": "user", "content": self.task.user_prompt(shot_text)})
            msgs.append({"role": "assistant", "content": shot_label})
        msgs.append({"role": "user", "content": self.task.user_prompt(text)})
        return msgs

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _render(self, messages: list[dict[str, str]], generation_prompt: bool) -> str:
        return str(
            self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation_prompt
            )
        )

    def _shared_prefix(self) -> tuple[str, list[int]]:
        """The rendered turns every prompt shares (system prompt, and few-shot turns when they are fixed),
        if the template renders them as a clean prefix."""
        probe = self.messages("PROBE")
        shared = probe[:1] if self._similar is not None else probe[:-1]
        prefix = self._render(shared, generation_prompt=False)
        if not self._render(probe, generation_prompt=True).startswith(prefix):
            return "", []
        return prefix, self._encode(prefix)

    @property
    def context_length(self) -> int | None:
        """Positions the model takes (from its config; no weights are loaded)."""
        from transformers import AutoConfig

        value = getattr(AutoConfig.from_pretrained(self.model_path), "max_position_embeddings", None)
        return int(value) if value else None

    def prompt(self, text: str, content_free: bool = False) -> str:
        """The full rendered prompt the model sees for ``text``."""
        return self._render(self.messages(text, content_free), generation_prompt=True)

    def request_payload(self, request: TeacherRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "method": "label-scoring",
            "labels": self.task.labels,
            "rationale": self.options.rationale,
            "max_new_tokens": self.options.max_new_tokens if self.options.rationale else 0,
        }
        # Added only when set, so ledgers written before these options keep their keys.
        if self.label_prefix:
            params["label_prefix"] = self.label_prefix
        if self.calibrate:
            params["calibration"] = {
                "content_free": list(CONTENT_FREE),
                "prior_prompt": self.prompt("", True),
            }
        return {"model": self.model, "prompt": self.prompt(request.item.text), "params": params}

    def label_scores(
        self,
        texts: Sequence[str],
        label_ids: Sequence[Sequence[int]] | None = None,
        content_free: bool = False,
    ) -> torch.Tensor:
        """(B, L) summed log-probs of each label continuation (default: ``self.label_ids``)."""
        cut = len(self._prefix_text)
        suffixes = [self._encode(self.prompt(t, content_free)[cut:]) for t in texts]
        lm = self.lm
        return label_logprobs(
            lm,
            suffixes,
            self.label_ids if label_ids is None else label_ids,
            pad_id=int(self.tokenizer.pad_token_id),
            prefix_len=len(self._prefix_ids),
            cache=self._prefix_cache,
        )

    @property
    def prior(self) -> torch.Tensor:
        """(L,) label prior on the content-free inputs, measured once."""
        if self._prior is None:
            dists = torch.softmax(self.label_scores(CONTENT_FREE, content_free=True), dim=-1)
            self._prior = content_free_prior(dists)
        return self._prior

    def label_probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        """(B, L) label distribution for a batch of texts (calibrated when ``calibrate`` is on)."""
        probs = torch.softmax(self.label_scores(texts), dim=-1)
        return calibrate(probs, self.prior) if self.calibrate else probs

    @torch.inference_mode()
    def rationales(self, texts: Sequence[str], labels: Sequence[str]) -> list[tuple[str, int, int]]:
        """Greedy one-sentence rationales for (text, label) pairs: (text, prompt tokens, new tokens)."""
        prompts = []
        for text, label in zip(texts, labels, strict=True):
            msgs = [
                {"role": "system", "content": self.task.system_prompt()},
                {"role": "user", "content": self.task.user_prompt(text)},
                {"role": "assistant", "content": label},
                {"role": "user", "content": self.task.rationale_prompt(label)},
            ]
            prompts.append(self._render(msgs, generation_prompt=True))
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        out = self.lm.generate(
            **enc,
            max_new_tokens=self.options.max_new_tokens,
            do_sample=False,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        new = out[:, enc.input_ids.shape[1] :]
        results = []
        for row in range(len(prompts)):
            tokens = new[row][new[row] != self.tokenizer.pad_token_id]
            text = str(self.tokenizer.decode(tokens, skip_special_tokens=True)).strip()
            results.append((text, int(enc.attention_mask[row].sum()), len(tokens)))
        return results

    def label(
        self, batch: Sequence[TeacherRequest], on_result: ResultCallback | None = None
    ) -> list[TeacherOutput]:
        outputs: list[TeacherOutput] = []
        labels = self.task.labels
        for start in range(0, len(batch), self.options.batch_size):
            chunk = batch[start : start + self.options.batch_size]
            texts = [r.item.text for r in chunk]
            probs = self.label_probabilities(texts)  # (B, L)
            chosen = [labels[int(i)] for i in probs.argmax(-1)]
            if self.options.rationale:
                rationales: list[tuple[str | None, int, int]] = list(self.rationales(texts, chosen))
            else:
                rationales = [(None, 0, 0)] * len(chunk)
            for req, row, label, (rationale, p_tok, c_tok) in zip(
                chunk, probs, chosen, rationales, strict=True
            ):
                dist = {lab: float(p) for lab, p in zip(labels, row, strict=True)}
                output = TeacherOutput(
                    label=label,
                    probs=dist,
                    rationale=rationale,
                    raw=label if rationale is None else f"{label}\n{rationale}",
                    prompt_tokens=p_tok or len(self._encode(self.prompt(req.item.text))),
                    completion_tokens=c_tok,
                    prob_method="label-scoring",
                )
                outputs.append(output)
                if on_result is not None:
                    on_result(req, output)
        return outputs
