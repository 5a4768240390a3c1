"""A tiny Llama-architecture model and a tokenizer trained here, saved as a model directory.

The same code path that loads a user's real model loads this one: a `LlamaConfig` of a few
thousand parameters, random weights from a fixed seed, and a word-level tokenizer trained
with the `tokenizers` library on civilian report text.
"""

from __future__ import annotations

import os
from pathlib import Path

for _key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_key] = "1"

CORPUS = [
    "the river is over the road near the north bridge",
    "two families wait on a roof near the school",
    "the levee is seeping and a crew is sandbagging",
    "power line down across main street",
    "the shelter needs blankets and water",
    "flooded damaged dry intact road bridge school debris",
    "label flooded label dry answer yes answer no",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }} : {{ m['content'] }} </s>{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant :{% endif %}"
)


def build_tokenizer(out: Path, *, chat_template: bool = True) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["<pad>", "<unk>", "<s>", "</s>"]
    tok.train_from_iterator(
        [*CORPUS, "user assistant system : ,"], trainers.WordLevelTrainer(special_tokens=specials)
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)


def build_tiny_llama(out: Path, *, seed: int = 0, chat_template: bool = True) -> Path:
    """Write a tiny Llama model directory to `out` (config, safetensors, tokenizer)."""
    import torch
    from transformers import LlamaForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(out, chat_template=chat_template)
    config = _config(out)
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
    return out


def _config(out: Path, **extra: object) -> object:
    from transformers import AutoTokenizer, LlamaConfig

    vocab = len(AutoTokenizer.from_pretrained(out, local_files_only=True))
    return LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=2,
        eos_token_id=3,
        pad_token_id=0,
        **extra,
    )


def build_text_classifier(out: Path, labels: list[str], *, seed: int = 0) -> Path:
    """A tiny Llama sequence classifier over `labels` (random weights from `seed`)."""
    import torch
    from transformers import LlamaForSequenceClassification

    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(out, chat_template=False)
    config = _config(
        out,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={lab: i for i, lab in enumerate(labels)},
    )
    torch.manual_seed(seed)
    LlamaForSequenceClassification(config).save_pretrained(out, safe_serialization=True)
    return out


def build_token_classifier(out: Path, tags: list[str], always: str) -> Path:
    """A tiny Llama token classifier whose every token is tagged `always` (its head's weights
    are zero and its bias favours that tag), so the expected spans are known: every word."""
    import torch
    from transformers import LlamaForTokenClassification

    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(out, chat_template=False)
    config = _config(
        out,
        num_labels=len(tags),
        id2label=dict(enumerate(tags)),
        label2id={t: i for i, t in enumerate(tags)},
    )
    torch.manual_seed(0)
    model = LlamaForTokenClassification(config)
    with torch.no_grad():
        model.score.weight.zero_()
        model.score.bias.fill_(0.0)
        model.score.bias[tags.index(always)] = 4.0
    model.save_pretrained(out, safe_serialization=True)
    return out
