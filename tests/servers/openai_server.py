"""A loopback OpenAI chat-completions server (``POST /v1/chat/completions``) in the real wire format.

Answers ``{"label": ..., "rationale": ...}`` with ``logprobs.content`` (token, logprob, bytes,
top_logprobs) and ``usage`` (with ``prompt_tokens_details.cached_tokens``), and injects faults per
:class:`tests.servers.Faults`. Run standalone (for the benchmark) with
``python -m tests.servers.openai_server --latency 0.3``; it prints its port.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import math
import re
import time
import uuid
from typing import Any

from aiohttp import web

from tests.servers import Faults, LoopbackServer, approx_tokens, augment_answer, json_reply, text_of

TOKEN = re.compile(r'\{"|":"|","|"\}| ?\w+|[^\w ]| ')
FILLER = ['"', " ", "pos", "neg", "neu", "the", "a", "N", "P", "Neutral", "Positive", "Negative", "\n", "{"]


@functools.lru_cache(maxsize=4096)
def token_bytes(token: str) -> list[int]:
    return list(token.encode())


def split_tokens(content: str) -> list[str]:
    tokens = TOKEN.findall(content)
    return tokens if "".join(tokens) == content else list(content)


def error_body(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class OpenAIServer(LoopbackServer):
    """OpenAI-compatible chat completions with log-probs and fault injection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/v1/files", self.upload)
        app.router.add_get("/v1/files/{file_id}/content", self.file_content)
        app.router.add_post("/v1/batches", self.create_batch)
        app.router.add_get("/v1/batches/{batch_id}", self.get_batch)

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.record.requests["chat"] += 1
        if not body.get("messages"):
            return web.json_response(
                error_body("[] is too short - 'messages'", "invalid_request_error"), status=400
            )
        prompt = str(body["messages"][-1].get("content", ""))
        augmented = None if body.get("response_format") else augment_answer(prompt, 0)
        if augmented is not None:
            self.record.augment_prompts[prompt] += 1
            if self.faults.latency_s:
                await asyncio.sleep(self.faults.latency_s)
            content = augment_answer(prompt, self.record.augment_prompts[prompt] - 1) or ""
            return web.json_response(self.completion(body, content, "stop", None, [], ""))
        self.record.bodies.append(body)
        draw = self.draw(body)
        wait = self.rate_limited()
        if wait > 0:
            self.record.outcomes["429-limit"] += 1
            return web.json_response(
                error_body("Rate limit reached for requests", "requests", "rate_limit_exceeded"),
                status=429,
                headers={
                    "retry-after": str(max(1, math.ceil(wait))),
                    "retry-after-ms": str(int(wait * 1000) + 1),
                },
            )
        fmt = body.get("response_format") or {}
        if self.faults.reject_json_schema and fmt.get("type") == "json_schema":
            self.record.outcomes["400-schema"] += 1
            return web.json_response(
                error_body("response_format type json_schema is not supported", "invalid_request_error"),
                status=400,
            )
        if self.faults.latency_s:
            await asyncio.sleep(self.faults.latency_s)
        await self.wait_for_gate()
        self.record.outcomes[draw.kind] += 1
        if draw.kind == "429":
            return web.json_response(
                error_body("Rate limit reached", "requests", "rate_limit_exceeded"),
                status=429,
                headers={"retry-after-ms": str(int(self.faults.retry_after_s * 1000))},
            )
        if draw.kind in {"500", "503"}:
            return web.json_response(
                error_body("The server had an error", "server_error"), status=int(draw.kind)
            )
        if draw.kind == "slow":
            await asyncio.sleep(self.faults.slow_s)
            if request.transport is None or request.transport.is_closing():
                self.record.outcomes["dropped"] += (
                    1  # the client timed out: nothing delivered, nothing billed
                )
                return web.Response(status=499)
        return json_reply(self.answer(body, draw))

    def answer(self, body: dict[str, Any], draw: Any) -> dict[str, Any]:
        """The chat completion for a label request (the part after faults and latency)."""
        fmt = body.get("response_format") or {}
        labels = self.labels
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
        enum = ((schema.get("properties") or {}).get("label") or {}).get("enum")
        if enum:
            labels = list(enum)
        text = text_of(body["messages"][-1]["content"])
        label = self.label_for(text, labels)
        with_rationale = "rationale" in (schema.get("properties") or {"rationale": 1})
        finish = "stop"
        if draw.kind == "malformed":
            content = '{"label": "' + label[:3]
            finish = "length"
        else:
            shown = "bullish" if draw.kind == "out_of_set" else label
            data: dict[str, str] = {"label": shown}
            if with_rationale:
                data["rationale"] = self.rationale_for(text)
            content = json.dumps(data, separators=(",", ":"))
        self.record.texts[text] += 1
        return self.completion(body, content, finish, draw.rng, labels, label)

    def rationale_for(self, text: str) -> str:
        """The rationale sent with a label (subclasses serving recorded answers override it)."""
        return f"The text says {text.split()[0] if text.split() else 'nothing'}."

    # -- Files and Batch API ----------------------------------------------------------------------
    async def upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        data = upload.file.read() if hasattr(upload, "file") else str(upload).encode()
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        self.files[file_id] = data
        self.record.requests["files"] += 1
        return web.json_response(
            {
                "id": file_id,
                "object": "file",
                "bytes": len(data),
                "created_at": int(time.time()),
                "filename": getattr(upload, "filename", "batch.jsonl"),
                "purpose": str(form.get("purpose", "batch")),
                "status": "processed",
            }
        )

    async def file_content(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["file_id"])
        if data is None:
            return web.json_response(error_body("No such file", "invalid_request_error"), status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def create_batch(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("input_file_id") not in self.files:
            return web.json_response(error_body("No such file", "invalid_request_error"), status=400)
        self.record.batches_created += 1
        batch_id = f"batch_{uuid.uuid4().hex[:24]}"
        lines = self.files[body["input_file_id"]].decode().splitlines()
        self.batches[batch_id] = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "input_file_id": body["input_file_id"],
            "completion_window": body.get("completion_window", "24h"),
            "status": "validating",
            "created_at": int(time.time()),
            "output_file_id": None,
            "error_file_id": None,
            "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
            "_due": time.monotonic() + self.faults.batch_s,
        }
        return web.json_response(self._public(self.batches[batch_id]))

    async def get_batch(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return web.json_response(error_body("No such batch", "invalid_request_error"), status=404)
        if batch["status"] != "completed":
            batch["status"] = "in_progress"
            if time.monotonic() >= batch["_due"]:
                self._finish(batch)
        return web.json_response(self._public(batch))

    @staticmethod
    def _public(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    def _finish(self, batch: dict[str, Any]) -> None:
        out = []
        for line in self.files[batch["input_file_id"]].decode().splitlines():
            entry = json.loads(line)
            body = entry["body"]
            self.record.bodies.append(body)
            self.record.requests["batch-request"] += 1
            completion = self.answer(body, self.draw(body))
            out.append(
                {
                    "id": f"batch_req_{uuid.uuid4().hex[:16]}",
                    "custom_id": entry["custom_id"],
                    "response": {"status_code": 200, "request_id": uuid.uuid4().hex, "body": completion},
                    "error": None,
                }
            )
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        self.files[file_id] = ("\n".join(json.dumps(o) for o in out) + "\n").encode()
        batch.update(status="completed", output_file_id=file_id)
        batch["request_counts"].update(completed=len(out))

    def logprobs(self, tokens: list[str], top_n: int, rng: Any, labels: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seen_value = False
        for i, token in enumerate(tokens):
            if not seen_value and i > 0 and tokens[i - 1] == '":"' and tokens[i - 2 : i - 1] == ["label"]:
                seen_value = True
                p = 0.6 + 0.35 * rng.random()
                rest = [x for x in labels if x != token]
                alts = [(token, math.log(p))] + [
                    (x, math.log((1 - p) * 0.99 / max(1, len(rest)))) for x in rest
                ]
            else:
                alts = [(token, -0.001 * (1 + rng.random()))]
            fillers = [t for t in FILLER if t not in {a for a, _ in alts}]
            alts += [(t, -12.0 - j) for j, t in enumerate(fillers)]
            alts = alts[: max(top_n, 1)]
            out.append(
                {
                    "token": token,
                    "logprob": alts[0][1],
                    "bytes": token_bytes(token),
                    "top_logprobs": [
                        {"token": t, "logprob": lp, "bytes": token_bytes(t)} for t, lp in alts[:top_n]
                    ],
                }
            )
        return out

    def completion(
        self, body: dict[str, Any], content: str, finish: str, rng: Any, labels: list[str], label: str
    ) -> dict[str, Any]:
        tokens = split_tokens(content)
        prompt_tokens = sum(approx_tokens(str(m.get("content", ""))) + 4 for m in body["messages"])
        cached = (prompt_tokens // 2) if prompt_tokens > 64 else 0
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens),
            "total_tokens": prompt_tokens + len(tokens),
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        self.record.usages.append(usage)
        logprobs = None
        if body.get("logprobs") and self.faults.logprobs:
            top_n = int(body.get("top_logprobs") or 0)
            logprobs = {"content": self.logprobs(tokens, top_n, rng, labels), "refusal": None}
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "unknown"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                    "logprobs": logprobs,
                    "finish_reason": finish,
                }
            ],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": "fp_loopback",
        }


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Loopback OpenAI-compatible server for tests and benchmarks."
    )
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate-500", type=float, default=0.0)
    parser.add_argument("--rpm", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    server = OpenAIServer(
        Faults(latency_s=args.latency, rate_500=args.rate_500, rpm=args.rpm, seed=args.seed)
    )
    server.serve_until_interrupted()


if __name__ == "__main__":
    main()
