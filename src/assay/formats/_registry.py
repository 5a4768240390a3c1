"""The one registry of label formats. Registering a name twice fails loudly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assay.errors import InvalidInput
from assay.formats._model import ExportBundle, ImportBundle

# read(path, images_folder_or_None) and write(bundle, out_folder) -> files written
Reader = Callable[[Path, Path | None], ImportBundle]
Writer = Callable[[ExportBundle, Path], list[Path]]


@dataclass(frozen=True)
class Codec:
    name: str
    read: Reader | None
    write: Writer | None
    description: str = ""
    # Media types (prefixes) the format can hold; items of other types are dropped (counted),
    # and a dataset with none of these is refused.
    media: tuple[str, ...] = ("image/",)
    title: str = ""  # how messages name the format ("COCO"); the name when empty
    embeds_media: bool = False  # can write media bytes into its own file (--embed-media)
    needs_annotations: bool = False  # reads every stored annotation, not only those of record
    # `read` for an import into a workspace, which may hand over annotations already encoded
    # (`ImportedAnnotation.encoded`) instead of regions; None: `read`.
    read_encoded: Reader | None = None

    @property
    def display(self) -> str:
        return self.title or self.name

    def holds(self, media_type: str) -> bool:
        return media_type.startswith(self.media)


class Registry:
    def __init__(self) -> None:
        self._codecs: dict[str, Codec] = {}

    def register(self, codec: Codec) -> None:
        if codec.name in self._codecs:
            raise ValueError(f"format {codec.name!r} is registered twice")
        self._codecs[codec.name] = codec

    def get(self, name: str) -> Codec:
        try:
            return self._codecs[name]
        except KeyError:
            raise InvalidInput(
                f"unknown format {name!r}; known formats: {', '.join(sorted(self._codecs))}"
            ) from None

    def readers(self) -> list[str]:
        return sorted(n for n, c in self._codecs.items() if c.read is not None)

    def writers(self) -> list[str]:
        return sorted(n for n, c in self._codecs.items() if c.write is not None)
