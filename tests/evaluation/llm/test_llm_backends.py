"""The generation backends: a tiny local Llama (batched), a loopback OpenAI-compatible server
(concurrency, retries, timeouts, malformed answers) and the response cache in front of both."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.models.llm import (
    CachedGenerator,
    EndpointError,
    EndpointGenerator,
    GenerationParams,
    ResponseCache,
    TransformersGenerator,
    chat,
    hash_model_dir,
)
from llm_world import FakeBehaviour, build_tiny_llama, last_user_text, openai_server
from proxy_trap import proxy_trap

PROMPTS = [
    "The river rose",
    "Search and rescue teams found four people on the roof",
    "Water pumps",
    "Power lines are down near the grain silo; crews will",
    "Question: How many boats reached the town? Answer:",
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llama(
        tmp_path_factory.mktemp("llm") / "tiny", tokenizer="bytes", chat_template=True
    )


def test_local_model_batches_and_keeps_order(tiny: Path) -> None:
    params = GenerationParams(max_new_tokens=6)
    one = TransformersGenerator(tiny, batch_size=1).generate(PROMPTS, params)
    many = TransformersGenerator(tiny, batch_size=4).generate(PROMPTS, params)
    assert [g.text for g in many] == [g.text for g in one]
    assert len(many) == len(PROMPTS)
    assert all(g.prompt_tokens and g.prompt_tokens > 0 for g in many)
    assert all(g.completion_tokens is not None and 0 < g.completion_tokens <= 6 for g in many)
    assert all(g.latency_s > 0 and not g.cached for g in many)
    # The same prompts reversed come back reversed: outputs follow their prompts.
    rev = TransformersGenerator(tiny, batch_size=4).generate(PROMPTS[::-1], params)
    assert [g.text for g in rev] == [g.text for g in one][::-1]


def test_local_model_chat_template_and_sampling_seed(tiny: Path) -> None:
    gen = TransformersGenerator(tiny, batch_size=2)
    msgs = [chat(("system", "Be brief."), ("user", p)) for p in PROMPTS[:2]]
    out = gen.generate(msgs, GenerationParams(max_new_tokens=4))
    assert len(out) == 2 and all(g.prompt_tokens and g.prompt_tokens > 4 for g in out)
    hot = GenerationParams(max_new_tokens=8, temperature=1.0, seed=7)
    assert [g.text for g in gen.generate(PROMPTS, hot)] == [
        g.text for g in gen.generate(PROMPTS, hot)
    ]
    assert gen.identity == f"sha256:{hash_model_dir(tiny)}"


def test_cache_makes_a_rerun_free_and_exact(tiny: Path, tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    gen = CachedGenerator(TransformersGenerator(tiny, batch_size=4), cache)
    params = GenerationParams(max_new_tokens=5)
    first = gen.generate(PROMPTS, params)
    assert (gen.hits, gen.misses) == (0, len(PROMPTS)) and len(cache) == len(PROMPTS)
    again = gen.generate([*PROMPTS, PROMPTS[0]], params)
    assert (gen.hits, gen.misses) == (len(PROMPTS) + 1, len(PROMPTS))
    assert [g.text for g in again[:-1]] == [g.text for g in first]
    assert all(g.cached for g in again)
    # Other parameters are other keys.
    gen.generate(PROMPTS[:1], GenerationParams(max_new_tokens=5, seed=1))
    assert gen.misses == len(PROMPTS) + 1


def test_endpoint_answers_chat_and_completion_concurrently() -> None:
    behaviour = FakeBehaviour(answer=lambda body: last_user_text(body).upper() + " END tail")
    with openai_server(behaviour) as url:
        gen = EndpointGenerator(url, model="fake", concurrency=3)
        prompts = [*PROMPTS, chat(("system", "s"), ("user", "bridge closed?"))]
        out = gen.generate(prompts, GenerationParams(stop=(" END",)))
    assert [g.text for g in out] == [p.upper() for p in PROMPTS] + ["BRIDGE CLOSED?"]
    assert out[-1].prompt_tokens == 2 and out[-1].finish_reason == "stop"
    assert len(behaviour.requests) == len(prompts)
    assert {r["model"] for r in behaviour.requests} == {"fake"}
    chats = [r for r in behaviour.requests if "messages" in r]
    assert len(chats) == 1 and chats[0]["messages"][0] == {"role": "system", "content": "s"}


def test_endpoint_is_asked_directly_never_through_a_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy named in the environment (HTTP_PROXY) would be handed every prompt of an
    evaluation: the endpoint the user named is asked directly, and the proxy hears nothing."""
    behaviour = FakeBehaviour(answer=lambda body: "direct")
    with proxy_trap(monkeypatch) as heard, openai_server(behaviour) as url:
        gen = EndpointGenerator(url, retries=0, timeout=5)
        out = gen.generate(["The river rose"], GenerationParams())
    assert heard == [] and out[0].text == "direct"


def test_endpoint_retries_busy_answers() -> None:
    behaviour = FakeBehaviour(answer=lambda body: "fine", mode="flaky", failures_left=2)
    with openai_server(behaviour) as url:
        out = EndpointGenerator(url, retries=2, backoff=0.01).generate(["x"], GenerationParams())
    assert out[0].text == "fine" and len(behaviour.requests) == 3


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("stall", "no answer within 0.3 s (tried 2 times)"),
        ("malformed", "answer is not valid JSON"),
        ("no-choices", "answer lacks choices[0].message.content"),
        ("flaky", "answered HTTP 503 (tried 2 times)"),
    ],
)
def test_endpoint_failures_are_one_clear_error_and_cache_nothing(
    mode: str, message: str, tmp_path: Path
) -> None:
    behaviour = FakeBehaviour(mode=mode, stall_s=1.0, failures_left=10)
    cache = ResponseCache(tmp_path / "c.sqlite")
    with openai_server(behaviour) as url:
        gen = CachedGenerator(EndpointGenerator(url, timeout=0.3, retries=1, backoff=0.01), cache)
        with pytest.raises(EndpointError) as err:
            gen.generate([chat(("user", "a")), chat(("user", "b"))], GenerationParams())
    assert message in str(err.value) and url in str(err.value)
    assert len(cache) == 0
