"""Language-model test fixtures made in the test: the one tiny Llama builder every
language-model test uses, with a tokenizer trained here, and a real OpenAI-compatible HTTP
server on loopback with deterministic answers.

Nothing is downloaded: the tokenizer is trained with `tokenizers` on a few civilian
sentences and the model's weights are random (seeded), so its outputs are fixed for a given
torch build. The server answers from a table (prompt's last user text -> answer) and can be
told to stall or to answer malformed JSON.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

# The words the tests prompt with (serving, pre-labeling, chat roles): a word-level
# vocabulary has them all, so those prompts have no <unk>.
CORPUS = [
    "the river is over the road near the north bridge",
    "two families wait on a roof near the school",
    "the levee is seeping and a crew is sandbagging",
    "power line down across main street",
    "the shelter needs blankets and water",
    "flooded damaged dry intact road bridge school debris",
    "label flooded label dry answer yes answer no",
    "user assistant system : ,",
]
# Special tokens are whole tokens in both kinds of tokenizer, so one template serves both.
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }} : {{ m['content'] }} </s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant :{% endif %}"
)
SPECIAL = ["<pad>", "<unk>", "<s>", "</s>"]


def build_tiny_llama(
    path: Path,
    *,
    tokenizer: Literal["words", "bytes"] = "words",
    texts: Sequence[str] = CORPUS,
    context: int = 512,
    chat_template: bool = False,
    hidden: int = 32,
    layers: int = 2,
) -> Path:
    """Write a randomly initialised (seed 0) LlamaForCausalLM and its tokenizer, trained here
    on `texts`, into `path`; the model takes `context` positions.

    `tokenizer="words"` is a word-level vocabulary of `texts`: a word is one token, so a
    trained answer is one step and a decoded token is a word (other words are `<unk>`).
    `tokenizer="bytes"` is byte-level BPE, as real LLMs use: any text encodes, for tests that
    prompt with arbitrary text (evaluation tasks, red-team probes). `hidden` and `layers` are
    for the benchmarks' larger models.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    if tokenizer == "words":
        tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer: trainers.Trainer = trainers.WordLevelTrainer(special_tokens=SPECIAL)
    else:
        tok = Tokenizer(models.BPE(unk_token="<unk>"))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=1000,  # an upper bound: the merges run out first on a few sentences
            special_tokens=SPECIAL,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
    )
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=context,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        # Wide initial weights give peaked next-token distributions, so LoRA's small changes
        # move the loss within a few steps (the default 0.02 leaves every logit near 0).
        initializer_range=0.4,
    )
    torch.manual_seed(0)
    path.mkdir(parents=True, exist_ok=True)
    LlamaForCausalLM(config).save_pretrained(str(path), safe_serialization=True)
    fast.save_pretrained(str(path))
    return path


def last_user_text(body: dict[str, Any]) -> str:
    """The text a request asks about: the prompt, or the last user message of a chat."""
    if "prompt" in body:
        return str(body["prompt"])
    users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
    return str(users[-1]) if users else ""


@dataclass
class FakeBehaviour:
    """What the loopback server does: answer by rule, stall, or send broken JSON."""

    answer: Callable[[dict[str, Any]], str] = lambda body: "ok"
    mode: str = "ok"  # ok | stall | malformed | no-choices | flaky
    stall_s: float = 5.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    failures_left: int = 0


def _handler(behaviour: FakeBehaviour, lock: threading.Lock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (the timeout tests)

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/v1/models":
                self._send(200, json.dumps({"data": [{"id": "fake"}]}).encode())
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            n = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(n))
            with lock:
                behaviour.requests.append(body)
                flaky = behaviour.mode == "flaky" and behaviour.failures_left > 0
                if flaky:
                    behaviour.failures_left -= 1
            if behaviour.mode == "stall":
                time.sleep(behaviour.stall_s)
            if behaviour.mode == "malformed":
                self._send(200, b'{"choices": [{"message": {"content": "trunc')
                return
            if behaviour.mode == "no-choices":
                self._send(200, b'{"id": "x", "object": "chat.completion"}')
                return
            if flaky:
                self._send(503, b'{"error": "busy"}')
                return
            text = behaviour.answer(body)
            words = len(last_user_text(body).split())
            usage = {"prompt_tokens": words, "completion_tokens": len(text.split())}
            if self.path.endswith("/chat/completions"):
                choice: dict[str, Any] = {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            elif self.path.endswith("/completions"):
                choice = {"index": 0, "text": text, "finish_reason": "stop"}
            else:
                self._send(404, b'{"error": "not found"}')
                return
            out = {"id": "cmpl-1", "model": body.get("model"), "choices": [choice], "usage": usage}
            self._send(200, json.dumps(out).encode())

    return Handler


@contextmanager
def openai_server(behaviour: FakeBehaviour) -> Iterator[str]:
    """Serve `behaviour` on a random loopback port; yields the base URL (``.../v1``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(behaviour, threading.Lock()))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
