"""`assay serve-model`: a real server process, called by the official OpenAI client and httpx."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from assay.labeling import add_user, create_token
from assay.models import add_model
from assay.workspace import Workspace
from evaluation.runs.runs_world import onnx_classifier
from json_document import running_server
from llm_world import build_tiny_llama
from models.tiny_llm import start_model_server

pytestmark = pytest.mark.xdist_group("serve-model")


@dataclass
class Served:
    url: str
    model_dir: Path
    tokens: dict[str, str]

    def client(self, who: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=self.tokens[who], max_retries=0)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, module_database: str | None
) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("serve-model")
    os.environ.setdefault("ASSAY_ARGON2_MEMORY_KIB", "1024")
    ws = Workspace.init(root / "ws")
    add_user(ws, "ana", "annotator", "UNCLASSIFIED", "correct horse battery")
    add_user(ws, "sam", "annotator", "SECRET", "correct horse battery")
    tokens = {n: create_token(ws, n) for n in ("ana", "sam")}
    model_dir = build_tiny_llama(root / "tiny-flood", chat_template=True)
    assert add_model(ws, "tiny-flood", model_dir, marking="SECRET").task == "causal-lm"
    ws.close()
    proc = start_model_server(root / "ws", "tiny-flood@1", "--max-batch", "4")
    yield Served(proc.url, model_dir, tokens)
    proc.terminate()
    proc.wait(timeout=30)


def reference_greedy(model_dir: Path, prompt: str, n: int) -> str:
    """What transformers itself generates greedily for `prompt` (the server must agree)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True).eval()
    ids = tok(prompt, return_tensors="pt")
    with torch.inference_mode():
        out = model.generate(**ids, max_new_tokens=n, do_sample=False, pad_token_id=0)
    new = out[0, ids["input_ids"].shape[1] :].tolist()
    if tok.eos_token_id in new:
        new = new[: new.index(tok.eos_token_id)]
    return str(tok.decode(new, skip_special_tokens=True))


def test_openai_client_completion_matches_transformers_greedy(served: Served) -> None:
    client = served.client("sam")
    assert [m.id for m in client.models.list()] == ["tiny-flood@1"]
    got = client.completions.create(
        model="tiny-flood@1", prompt="the river is over", max_tokens=6, temperature=0
    )
    assert got.object == "text_completion"
    assert got.choices[0].text == reference_greedy(served.model_dir, "the river is over", 6)
    assert got.usage is not None and got.usage.completion_tokens <= 6
    assert got.choices[0].finish_reason in ("stop", "length")


def test_chat_is_deterministic_at_temperature_zero_and_streams_the_same(served: Served) -> None:
    client = served.client("sam")
    messages = [
        {"role": "system", "content": "answer yes or no"},
        {"role": "user", "content": "is the road near the school flooded"},
    ]
    first = client.chat.completions.create(
        model="tiny-flood",
        messages=messages,
        temperature=0,
        max_tokens=8,  # type: ignore[arg-type]
    )
    again = client.chat.completions.create(
        model="tiny-flood",
        messages=messages,
        temperature=0,
        max_tokens=8,  # type: ignore[arg-type]
    )
    text = first.choices[0].message.content
    assert text and text == again.choices[0].message.content
    assert first.choices[0].message.role == "assistant"
    assert first.model == "tiny-flood@1"
    stream = client.chat.completions.create(
        model="tiny-flood",
        messages=messages,
        temperature=0,
        max_tokens=8,
        stream=True,  # type: ignore[arg-type]
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == text


def test_concurrent_requests_share_batches_and_keep_their_answers(served: Served) -> None:
    prompts = [
        "the river",
        "two families wait",
        "power line down across",
        "the shelter needs",
        "the levee is",
        "flooded damaged",
    ]
    body = {"model": "tiny-flood", "max_tokens": 5, "temperature": 0}
    headers = {"Authorization": f"Bearer {served.tokens['sam']}"}

    def ask(prompt: str) -> tuple[str, int]:
        r = httpx.post(
            f"{served.url}/v1/completions",
            json={**body, "prompt": prompt},
            headers=headers,
            timeout=60,
        )
        assert r.status_code == 200, r.text
        return r.json()["choices"][0]["text"], int(r.headers["x-assay-batch-size"])

    alone = [ask(p)[0] for p in prompts]
    with ThreadPoolExecutor(len(prompts)) as pool:
        together = list(pool.map(ask, prompts))
    assert [t for t, _ in together] == alone
    assert max(b for _, b in together) > 1


def test_a_holder_below_the_marking_is_told_the_model_does_not_exist(served: Served) -> None:
    ana, sam = served.client("ana"), served.client("sam")
    assert list(ana.models.list()) == []
    with pytest.raises(openai.NotFoundError) as hidden:
        ana.chat.completions.create(
            model="tiny-flood", messages=[{"role": "user", "content": "the river"}]
        )
    with pytest.raises(openai.NotFoundError) as missing:
        sam.chat.completions.create(
            model="tiny-flod", messages=[{"role": "user", "content": "the river"}]
        )
    assert hidden.value.body == {
        **missing.value.body,
        "message": missing.value.body["message"].replace("tiny-flod", "tiny-flood"),
    }  # type: ignore[dict-item]
    r = httpx.get(
        f"{served.url}/v1/models/tiny-flood",
        headers={"Authorization": f"Bearer {served.tokens['ana']}"},
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"


def test_requests_without_a_live_token_get_401(served: Served) -> None:
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=f"{served.url}/v1", api_key="assay_not-a-token", max_retries=0
        ).models.list()
    r = httpx.post(f"{served.url}/v1/completions", json={"model": "tiny-flood", "prompt": "x"})
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"model": "tiny-flood"}, "messages", "Field required"),
        ({"model": "tiny-flood", "messages": []}, "messages", "at least 1"),
        (
            {
                "model": "tiny-flood",
                "messages": [{"role": "user", "content": "x"}],
                "temperature": 5,
            },
            "temperature",
            "less than or equal to 2",
        ),
        (
            {"model": "tiny-flood", "messages": [{"role": "robot", "content": "x"}]},
            "messages.0.role",
            "'system'",
        ),
        (
            {
                "model": "tiny-flood",
                "messages": [{"role": "user", "content": "x"}],
                "logprobs": True,
            },
            "logprobs",
            "not supported",
        ),
        (
            {
                "model": "tiny-flood",
                "messages": [{"role": "user", "content": "x"}],
                "max_tokens": 100000,
            },
            None,
            "exceeds the model's context",
        ),
    ],
)
def test_malformed_requests_get_one_clear_400(
    served: Served, body: dict[str, object], param: str | None, words: str
) -> None:
    headers = {"Authorization": f"Bearer {served.tokens['sam']}"}
    r = httpx.post(f"{served.url}/v1/chat/completions", json=body, headers=headers)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error"
    assert err["param"] == param
    assert words in err["message"]


def test_a_body_that_is_not_json_gets_400(served: Served) -> None:
    headers = {
        "Authorization": f"Bearer {served.tokens['sam']}",
        "Content-Type": "application/json",
    }
    r = httpx.post(f"{served.url}/v1/completions", content=b"{not json", headers=headers)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "the request body is not valid JSON"


def test_serve_model_refuses_what_is_not_a_model(cli: Any, tmp_path: Path) -> None:
    cli("init", tmp_path / "ws")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("field notes, not a model")
    res = cli("-w", tmp_path / "ws", "serve-model", notes, code=1)
    assert f"{notes}: not a model directory (no config.json)" in res.stderr
    res = cli("-w", tmp_path / "ws", "serve-model", "no-such-model", code=1)
    assert "no model 'no-such-model'" in res.stderr
    cli("-w", tmp_path / "ws", "model", "add", "clf", onnx_classifier(tmp_path / "c.onnx"))
    res = cli("-w", tmp_path / "ws", "serve-model", "clf@1", code=1)
    assert "model clf@1 (onnx, classification) is not a causal language model" in res.stderr


def test_n_seeded_samples_differ_from_each_other_and_repeat_exactly(served: Served) -> None:
    """`n` choices with a `seed` are n samples, not one sample n times (each was seeded with
    the same seed, so every choice was the same text); the same request repeats them."""
    client = served.client("sam")

    def completions() -> list[str]:
        got = client.completions.create(
            model="tiny-flood", prompt="the river", n=6, seed=11, temperature=2.0, max_tokens=8
        )
        return [c.text for c in got.choices]

    def chats() -> list[str | None]:
        got = client.chat.completions.create(
            model="tiny-flood",
            messages=[{"role": "user", "content": "is the road near the school flooded"}],
            n=6,
            seed=11,
            temperature=2.0,
            max_tokens=8,  # type: ignore[arg-type]
        )
        return [c.message.content for c in got.choices]

    texts = completions()
    assert len(texts) == 6 and len(set(texts)) > 1
    assert completions() == texts
    answers = chats()  # six choices: more than --max-batch 4, so in more than one batch
    assert len(answers) == 6 and len(set(answers)) > 1
    assert chats() == answers


def test_an_oversized_or_deep_body_is_refused_before_anything_reads_it(served: Served) -> None:
    # No token: the body is refused before it is buffered, parsed or authenticated, so a
    # stranger cannot make the server hold gigabytes or recurse in the JSON parser.
    huge = b'{"model": "tiny-flood", "prompt": "' + b"x" * (64 << 20) + b'"}'
    r = httpx.post(
        f"{served.url}/v1/completions",
        content=huge,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"] == {
        "message": "request body too large (the limit is 4194304 bytes)",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    deep = b'{"model": "tiny-flood", "prompt": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = httpx.post(
        f"{served.url}/v1/completions",
        content=deep,
        headers={
            "Authorization": f"Bearer {served.tokens['sam']}",
            "Content-Type": "application/json",
        },
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["message"] == "request body: JSON nested deeper than 32 levels"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_a_body_without_the_json_content_type_is_told_to_send_it(served: Served) -> None:
    # `curl -d '{...}'` sends application/x-www-form-urlencoded: the answer was "body: Input
    # should be a valid dictionary", which does not say what to change.
    body = b'{"model": "tiny-flood", "prompt": "the river", "max_tokens": 2}'
    auth = {"Authorization": f"Bearer {served.tokens['sam']}"}
    for ctype in ("application/x-www-form-urlencoded", "text/plain", None):
        headers = {**auth, "Content-Type": ctype} if ctype else auth
        for route in ("completions", "chat/completions"):
            r = httpx.post(f"{served.url}/v1/{route}", content=body, headers=headers)
            assert r.status_code == 400, r.text
            err = r.json()["error"]
            assert err["type"] == "invalid_request_error"
            assert "must be JSON sent with Content-Type: application/json" in err["message"]
            assert (ctype or "no Content-Type") in err["message"]
    ok = httpx.post(
        f"{served.url}/v1/completions",
        content=body,
        headers={**auth, "Content-Type": "application/json; charset=utf-8"},
        timeout=60,
    )
    assert ok.status_code == 200, ok.text


def test_a_prompt_list_is_bounded_by_the_servers_batch(served: Served) -> None:
    # A list of prompts had no bound but the body's size: one holder could queue thousands
    # of answers (x n up to 8) ahead of everyone else. The server runs --max-batch 4: 16.
    headers = {"Authorization": f"Bearer {served.tokens['sam']}"}
    url = f"{served.url}/v1/completions"
    base = {"model": "tiny-flood", "max_tokens": 1, "temperature": 0}
    for prompts, n in ((["a"] * 17, 1), (["a"] * 3, 6), (["a"] * 10_000, 1)):
        r = httpx.post(url, json={**base, "prompt": prompts, "n": n}, headers=headers)
        assert r.status_code == 400, r.text
        err = r.json()["error"]
        assert err["param"] == "prompt" and err["type"] == "invalid_request_error"
        assert "at most 16 answers (prompts x n) per request" in err["message"]
        assert f"{len(prompts)} x {n}" in err["message"]
    ok = httpx.post(url, json={**base, "prompt": ["a"] * 8, "n": 2}, headers=headers, timeout=60)
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["choices"]) == 16
    # One prompt with the largest n is always answered, whatever the batch.
    one = httpx.post(url, json={**base, "prompt": "a", "n": 8}, headers=headers, timeout=60)
    assert one.status_code == 200 and len(one.json()["choices"]) == 8


def test_serve_model_json_says_where_it_listens_once_it_does(
    tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    """`assay serve-model` took no --json: a script asked /v1/models in a loop until the
    model had loaded. With --json it prints one document once the server listens (URL,
    model, marking, process id), and nothing more on stdout until it stops."""
    ws = Workspace.init(tmp_path / "ws")
    add_model(ws, "tiny-flood", build_tiny_llama(tmp_path / "tiny-flood"), marking="CUI")
    ws.close()
    args = ["-w", str(tmp_path / "ws"), "serve-model", "tiny-flood@1", "--json"]
    with running_server(args, subprocess_env) as (server, port):
        doc = server.document()
        assert doc == {
            "url": f"http://127.0.0.1:{port}/v1",
            "model": "tiny-flood@1",
            "marking": "CUI",
            "pid": server.proc.pid,
        }
        # listening when said: the first request is answered (401: no token)
        assert httpx.get(f"{doc['url']}/models", timeout=30).status_code == 401
        assert server.interrupt() == ""
