"""The generation engine behind `assay serve-model`: prompts, batches, stops, limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.errors import InvalidInput
from assay.models._llm import Batcher, GenRequest, LanguageModel
from llm_world import build_tiny_llama


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> LanguageModel:
    path = build_tiny_llama(tmp_path_factory.mktemp("lm") / "plain", context=64)
    return LanguageModel(path)


def test_without_a_chat_template_messages_become_plain_lines(lm: LanguageModel) -> None:
    messages = [
        {"role": "system", "content": "answer yes or no"},
        {"role": "user", "content": "is the road flooded"},
    ]
    expected = lm.encode("system: answer yes or no\nuser: is the road flooded\nassistant:")
    assert lm.chat_prompt(messages) == expected


def test_a_batch_answers_each_prompt_as_alone_and_stops_cut(lm: LanguageModel) -> None:
    prompts = ["the river", "two families wait on a roof near the school", "power"]
    reqs = [GenRequest(lm.encode(p), max_tokens=6) for p in prompts]
    alone = [lm.generate([r])[0] for r in reqs]
    together = lm.generate(reqs)
    assert [g.text for g in together] == [g.text for g in alone]
    assert {g.batch for g in together} == {3}
    full = alone[0].text
    assert full, "the tiny model says something"
    word = full.split()[0]
    cut = lm.generate([GenRequest(lm.encode("the river"), max_tokens=6, stop=(word,))])[0]
    assert cut.text == full[: full.index(word)] and cut.finish_reason == "stop"
    assert alone[0].completion_tokens <= 6


def test_the_batcher_refuses_what_does_not_fit_the_context(lm: LanguageModel) -> None:
    batcher = Batcher(lm, max_batch=2)
    try:
        with pytest.raises(InvalidInput, match="exceeds the model's context of 64 tokens"):
            batcher.submit(GenRequest(lm.encode("the river"), max_tokens=500))
        with pytest.raises(InvalidInput, match="the prompt is empty"):
            batcher.submit(GenRequest((), max_tokens=5))
        got = batcher.submit(GenRequest(lm.encode("the river"), max_tokens=3)).result(timeout=60)
        assert got.prompt_tokens == len(lm.encode("the river"))
    finally:
        batcher.close()


def test_a_folder_that_is_not_a_model_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a model directory"):
        LanguageModel(tmp_path)
    with pytest.raises(InvalidInput, match="not a directory"):
        LanguageModel(tmp_path / "missing")
