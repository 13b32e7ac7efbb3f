"""A real OpenAI Agents SDK agent with a tool, on a scripted model (no network), for the runner tests and
the processes they start.

`PolicyModel` implements the SDK's `Model` interface: each answer is a fixed function of the input it
is sent, so a resumed conversation in another process gets the same answers. It reports usage as the
SDK's own models do (a generation span with the model's name and usage, and the usage in its
`ModelResponse`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from agents import Agent, Model, ModelResponse, ModelSettings, function_tool
from agents.models.interface import ModelTracing
from agents.tracing import generation_span
from agents.usage import Usage, model_usage_to_span_usage
from openai.types.responses import ResponseFunctionToolCall, ResponseOutputMessage, ResponseOutputText
from openai.types.responses.response_usage import InputTokensDetails, OutputTokensDetails

MODEL = "gpt-4o-mini"
#: What every model call reports: 1,000 input tokens of which 200 were cached, 50 output tokens.
INPUT_TOKENS, CACHED_TOKENS, OUTPUT_TOKENS = 1000, 200, 50


def call_usage() -> Usage:
    return Usage(
        requests=1,
        input_tokens=INPUT_TOKENS,
        input_tokens_details=InputTokensDetails(cached_tokens=CACHED_TOKENS, cache_write_tokens=0),
        output_tokens=OUTPUT_TOKENS,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=0),
        total_tokens=INPUT_TOKENS + OUTPUT_TOKENS,
    )


def _text(message: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        id="msg_scripted",
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=message, annotations=[], logprobs=[])],
    )


def _user_texts(items: list[Any]) -> list[str]:
    return [i["content"] for i in items if i.get("role") == "user" and isinstance(i.get("content"), str)]


class PolicyModel(Model):
    """Calls `get_weather` for a weather question, reports its result, otherwise recalls the history."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[Any],
        model_settings: ModelSettings,
        tools: list[Any],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any,
    ) -> ModelResponse:
        items = [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
        usage = call_usage()
        with generation_span(
            model=MODEL, usage=model_usage_to_span_usage(usage), disabled=tracing.is_disabled()
        ):
            self.calls += 1
            output = self._answer(items)
        return ModelResponse(output=output, usage=usage, response_id=None)

    def _answer(self, items: list[Any]) -> list[Any]:
        last = items[-1]
        if last.get("type") == "function_call_output":
            return [_text(f"The weather: {last['output']}.")]
        question = _user_texts(items)[-1]
        if "weather" in question:
            city = question.rsplit(" ", 1)[-1].rstrip("?")
            return [
                ResponseFunctionToolCall(
                    id=f"fc_{self.calls}",
                    call_id=f"call_{len(items)}",
                    type="function_call",
                    name="get_weather",
                    arguments=f'{{"city": "{city}"}}',
                )
            ]
        asked = _user_texts(items)
        return [_text(f"You asked {len(asked)} questions; the first was: {asked[0]}")]

    def stream_response(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        raise NotImplementedError("the scripted model does not stream")


@function_tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def weather_agent() -> Agent[Any]:
    return Agent(name="weather", instructions="Answer briefly.", model=PolicyModel(), tools=[get_weather])
