"""A loopback Anthropic Messages server (``POST /v1/messages``) in the real wire format.

Answers forced tool calls with a ``tool_use`` content block and ``usage`` (cache read/creation tokens
included); faults per :class:`tests.servers.Faults`. Anthropic's errors are
``{"type": "error", "error": {"type": ..., "message": ...}}``; 529 is "overloaded".
"""

from __future__ import annotations

import asyncio
import datetime
import json
import time
import uuid
from typing import Any

from aiohttp import web

from tests.servers import LoopbackServer, approx_tokens, augment_answer, text_of


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


class AnthropicServer(LoopbackServer):
    """Anthropic Messages with tool use and fault injection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches: dict[str, dict[str, Any]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.messages)
        app.router.add_post("/v1/messages/batches", self.create_batch)
        app.router.add_get("/v1/messages/batches/{batch_id}", self.get_batch)
        app.router.add_get("/v1/messages/batches/{batch_id}/results", self.batch_results)

    async def messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.record.requests["messages"] += 1
        if not body.get("tools"):
            prompt = str(body["messages"][-1]["content"])
            if augment_answer(prompt, 0) is not None:
                self.record.augment_prompts[prompt] += 1
                text = augment_answer(prompt, self.record.augment_prompts[prompt] - 1) or ""
                return web.json_response(self.message(body, [{"type": "text", "text": text}], "end_turn"))
        self.record.bodies.append(body)
        draw = self.draw(body)
        if self.faults.latency_s:
            await asyncio.sleep(self.faults.latency_s)
        self.record.outcomes[draw.kind] += 1
        if draw.kind == "429":
            return web.json_response(
                error_body("rate_limit_error", "Number of requests has exceeded your rate limit"),
                status=429,
                headers={"retry-after": "0"},
            )
        if draw.kind == "500":
            return web.json_response(error_body("api_error", "Internal server error"), status=500)
        if draw.kind == "503":
            return web.json_response(error_body("overloaded_error", "Overloaded"), status=529)
        if draw.kind == "slow":
            await asyncio.sleep(self.faults.slow_s)
            if request.transport is None or request.transport.is_closing():
                self.record.outcomes["dropped"] += (
                    1  # the client timed out: nothing delivered, nothing billed
                )
                return web.Response(status=499)
        return web.json_response(self.answer(body, draw))

    def answer(self, body: dict[str, Any], draw: Any) -> dict[str, Any]:
        """The message for a label request (the part after faults and latency)."""
        tools = body.get("tools") or []
        schema = tools[0]["input_schema"] if tools else {}
        labels = schema.get("properties", {}).get("label", {}).get("enum") or self.labels
        # the item's text is in the first user turn after the few-shot ones: find the last <text> block
        user_texts = [
            m["content"] for m in body["messages"] if m["role"] == "user" and "<text>" in str(m["content"])
        ]
        text = text_of(user_texts[-1]) if user_texts else ""
        label = self.label_for(text, labels)
        if float(body.get("temperature", 1.0)) > 0 and draw.rng.random() < 0.3:
            label = str(draw.rng.choice(labels))  # sampling at temperature > 0 varies the answer
        if draw.kind == "out_of_set":
            label = "bullish"
        tool_input: dict[str, Any] = {"label": label}
        if "rationale" in schema.get("properties", {}):
            tool_input["rationale"] = "Because the text says so."
        if draw.kind == "malformed":
            content: list[dict[str, Any]] = [{"type": "text", "text": "I think it is positive"}]
            stop = "end_turn"
        else:
            name = tools[0]["name"] if tools else "record_label"
            content = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{draw.rng.getrandbits(80):020x}",  # from the draw: re-ask bodies repeat run to run
                    "name": name,
                    "input": tool_input,
                }
            ]
            stop = "tool_use"
        self.record.texts[text] += 1
        return self.message(body, content, stop)

    def message(self, body: dict[str, Any], content: list[dict[str, Any]], stop: str) -> dict[str, Any]:
        prompt = approx_tokens(str(body.get("system", ""))) + sum(
            approx_tokens(str(m["content"])) + 4 for m in body["messages"]
        )
        read = prompt // 2 if prompt > 64 else 0
        written = 10 if prompt > 64 else 0
        usage = {
            "input_tokens": prompt - read - written,
            "output_tokens": 20,
            "cache_read_input_tokens": read,
            "cache_creation_input_tokens": written,
        }
        self.record.usages.append(usage)
        return {
            "id": f"msg_{uuid.uuid4().hex[:24]}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "unknown"),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }

    # -- Message Batches --------------------------------------------------------------------------
    async def create_batch(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.record.batches_created += 1
        batch_id = f"msgbatch_{uuid.uuid4().hex[:24]}"
        now = datetime.datetime.now(datetime.timezone.utc)
        self.batches[batch_id] = {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": {
                "processing": len(body["requests"]),
                "succeeded": 0,
                "errored": 0,
                "canceled": 0,
                "expired": 0,
            },
            "created_at": now.isoformat(),
            "expires_at": (now + datetime.timedelta(days=1)).isoformat(),
            "ended_at": None,
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": None,
            "_requests": body["requests"],
            "_due": time.monotonic() + self.faults.batch_s,
            "_results": None,
        }
        return web.json_response(self._public(self.batches[batch_id]))

    async def get_batch(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return web.json_response(error_body("not_found_error", "No such batch"), status=404)
        if batch["_results"] is None and time.monotonic() >= batch["_due"]:
            results = []
            for entry in batch["_requests"]:
                params = entry["params"]
                self.record.bodies.append(params)
                self.record.requests["batch-request"] += 1
                message = self.answer(params, self.draw(params))
                results.append(
                    {"custom_id": entry["custom_id"], "result": {"type": "succeeded", "message": message}}
                )
            batch["_results"] = results
            batch.update(
                processing_status="ended",
                ended_at=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                results_url=f"{self.root_url}/v1/messages/batches/{batch['id']}/results",
            )
            batch["request_counts"].update(processing=0, succeeded=len(results))
        return web.json_response(self._public(batch))

    async def batch_results(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None or batch["_results"] is None:
            return web.json_response(error_body("not_found_error", "No results yet"), status=404)
        text = "".join(json.dumps(r) + "\n" for r in batch["_results"])
        return web.Response(body=text.encode(), content_type="application/binary")

    @staticmethod
    def _public(batch: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in batch.items() if not k.startswith("_")}
