"""A loopback Anthropic Messages server (``POST /v1/messages``) in the real wire format.

Answers forced tool calls with a ``tool_use`` content block and ``usage`` (cache read/creation tokens
included); faults per :class:`tests.servers.Faults`. Anthropic's errors are
``{"type": "error", "error": {"type": ..., "message": ...}}``; 529 is "overloaded".
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web

from tests.servers import LoopbackServer, approx_tokens, text_of


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


class AnthropicServer(LoopbackServer):
    """Anthropic Messages with tool use and fault injection."""

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self.messages)

    async def messages(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.record.requests["messages"] += 1
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
                    "id": f"toolu_{uuid.uuid4().hex[:20]}",
                    "name": name,
                    "input": tool_input,
                }
            ]
            stop = "tool_use"
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
        self.record.texts[text] += 1
        return web.json_response(
            {
                "id": f"msg_{uuid.uuid4().hex[:24]}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", "unknown"),
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": usage,
            }
        )
