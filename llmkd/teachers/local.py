"""Local teacher: any causal LM run in-process with transformers (the privacy route).

Labels and probabilities come from scoring every label's continuation (see ``label_scoring``), not from
parsing generated text; the rationale is generated in a second turn that names the chosen label.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from llmkd.embedded import SMOLLM2_NAME, resolve_causal_model
from llmkd.errors import TeacherError
from llmkd.records import TeacherOutput
from llmkd.task import Task
from llmkd.teachers import TeacherOptions
from llmkd.teachers.base import ResultCallback, TeacherRequest
from llmkd.teachers.label_scoring import label_logprobs, prefix_cache


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
        self.label_ids = [self._encode(label) for label in task.labels]
        self._prefix_text, self._prefix_ids = self._shared_prefix()
        self._lm: Any = None
        self._prefix_cache: Any = None

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
            self._lm = lm.eval().to(self.options.device)
            self._prefix_cache = prefix_cache(self._lm, self._prefix_ids)
        return self._lm

    @classmethod
    def from_spec(cls, spec: str, task: Task, options: TeacherOptions) -> LocalTeacher:
        """``local`` (embedded SmolLM2), ``local:PATH`` or ``hf:PATH_OR_ID``."""
        target = spec.partition(":")[2] or "local"
        path = resolve_causal_model(target)
        if path != target:  # the embedded model
            return cls(path, task, options, name=f"local:{SMOLLM2_NAME}", model_id=SMOLLM2_NAME)
        return cls(path, task, options, name=spec, model_id=target)

    def close(self) -> None:
        self._lm = None
        self._prefix_cache = None

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False).input_ids)

    def _render(self, messages: list[dict[str, str]], generation_prompt: bool) -> str:
        return str(
            self.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=generation_prompt
            )
        )

    def _shared_prefix(self) -> tuple[str, list[int]]:
        """The rendered system prompt and few-shot turns, if the template renders them as a clean prefix."""
        probe = self.task.messages("PROBE", few_shot=self.options.few_shot)
        prefix = self._render(probe[:-1], generation_prompt=False)
        if not self._render(probe, generation_prompt=True).startswith(prefix):
            return "", []
        return prefix, self._encode(prefix)

    def prompt(self, text: str) -> str:
        """The full rendered prompt the model sees for ``text``."""
        return self._render(self.task.messages(text, few_shot=self.options.few_shot), generation_prompt=True)

    def request_payload(self, request: TeacherRequest) -> dict[str, Any]:
        return {
            "model": self.model,
            "prompt": self.prompt(request.item.text),
            "params": {
                "method": "label-scoring",
                "labels": self.task.labels,
                "rationale": self.options.rationale,
                "max_new_tokens": self.options.max_new_tokens if self.options.rationale else 0,
            },
        }

    def label_probabilities(self, texts: Sequence[str]) -> torch.Tensor:
        """(B, L) label distribution for a batch of texts."""
        prompts = [self.prompt(t) for t in texts]
        cut = len(self._prefix_text)
        suffixes = [self._encode(p[cut:]) for p in prompts]
        lm = self.lm
        logp = label_logprobs(
            lm,
            suffixes,
            self.label_ids,
            pad_id=int(self.tokenizer.pad_token_id),
            prefix_len=len(self._prefix_ids),
            cache=self._prefix_cache,
        )
        return torch.softmax(logp, dim=-1)

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
