"""Where a YOLO dataset keeps its class names, images and label files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from assay.errors import InvalidInput
from assay.formats import _media
from assay.formats import _validate as v


@dataclass
class Pair:
    image: Path
    label: Path
    split: str | None
    name: str  # media name: path relative to the image folder


@dataclass
class Layout:
    root: Path
    names: list[str]
    names_source: str  # "data.yaml" or "classes.txt", for messages
    source: Path
    images_hint: Path
    pairs: list[Pair] = field(default_factory=list)
    label_dirs: list[Path] = field(default_factory=list)
    marking: str | None = None
    roots: list[Path] = field(default_factory=list)  # where files may come from

    def display(self, path: Path) -> str:
        return v.display_name(path, self.root)

    def label_files(self) -> Iterator[Path]:
        seen: set[Path] = set()
        for d in self.label_dirs:
            for p in sorted(d.rglob("*.txt")) if d.is_dir() else []:
                if p not in seen and p.name != "classes.txt":
                    seen.add(p)
                    yield p


def find_layout(path: Path, images: Path | None) -> Layout:
    """Recognise the layout from a folder, a ``data.yaml`` or a ``classes.txt``."""
    if path.is_file():
        if path.suffix in (".yaml", ".yml"):
            return _ultralytics(path, images)
        if path.name == "classes.txt":
            return _labelstudio(path.parent, images)
        raise InvalidInput(f"{path.name}: expected a YOLO data.yaml, classes.txt or folder")
    if not path.is_dir():
        raise InvalidInput(f"{path}: no such file or folder")
    for name in ("data.yaml", "data.yml", "dataset.yaml"):
        if (path / name).is_file():
            return _ultralytics(path / name, images)
    if (path / "classes.txt").is_file():
        return _labelstudio(path, images)
    raise InvalidInput(f"{path}: no data.yaml (Ultralytics) or classes.txt (Label Studio) found")


def _ultralytics(file: Path, images: Path | None) -> Layout:
    f = file.name
    text = v.read_text(file, f)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(f"{f}{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:
        raise InvalidInput(f"{f}: YAML nested too deep to read") from None
    doc = v.need_obj(doc, f, "top level")
    names = _names(v.need_key(doc, "names", f, ""), f)
    roots = [file.parent] if images is None else [file.parent, images]
    root = images if images is not None else _root(file, doc.get("path"), f)
    marking = doc.get("marking")
    layout = Layout(
        root,
        names,
        f,
        file,
        root,
        marking=marking if isinstance(marking, str) else None,
        roots=roots,
    )
    seen: set[Path] = set()
    for split in ("train", "val", "test"):
        entries = doc.get(split)
        if entries is None:
            continue
        entries = [entries] if isinstance(entries, str) else entries
        for i, entry in enumerate(v.need_list(entries, f, split)):
            place = f"{split}[{i}]" if len(entries) > 1 else split
            entry = v.need_str(entry, f, place)
            _media.contained(root / entry, roots, f"{f}: {place}")
            for image, base in _split_images(root, entry, f, split, roots):
                key = image.resolve()
                if key in seen:
                    continue
                seen.add(key)
                name = image.relative_to(base).as_posix()
                layout.pairs.append(Pair(image, _label_path(image), split, name))
            layout.label_dirs.append(_label_path(root / entry / "x").parent)
    if not layout.pairs and not any(doc.get(s) for s in ("train", "val", "test")):
        v.fail(f, "", "no 'train', 'val' or 'test' entry names the images")
    return layout


def _labelstudio(root: Path, images: Path | None) -> Layout:
    classes = root / "classes.txt"
    names = [ln.strip() for ln in v.read_text(classes, "classes.txt").splitlines() if ln.strip()]
    if not names:
        v.fail("classes.txt", "", "no class names")
    image_dir = images if images is not None else root / "images"
    label_dir = root / "labels"
    roots = [root] if images is None else [root, images]
    layout = Layout(
        root, names, "classes.txt", root, image_dir, label_dirs=[label_dir], roots=roots
    )
    for image in _images_in(image_dir, roots, root):
        rel = image.relative_to(image_dir)
        layout.pairs.append(
            Pair(image, (label_dir / rel).with_suffix(".txt"), None, rel.as_posix())
        )
    return layout


def _names(raw: Any, f: str) -> list[str]:
    if isinstance(raw, dict):
        out: list[str] = []
        for i in range(len(raw)):
            if i not in raw:
                v.fail(f, "names", f"class ids must be 0..{len(raw) - 1}; {i} is missing")
            out.append(v.need_str(raw[i], f, f"names[{i}]"))
        return out
    items = v.need_list(raw, f, "names")
    return [v.need_str(n, f, f"names[{i}]") for i, n in enumerate(items)]


def _root(file: Path, path: Any, f: str) -> Path:
    if path is None:
        return file.parent
    p = Path(v.need_str(path, f, "path"))
    if not p.is_absolute():
        p = file.parent / p
    if not p.is_dir():
        return file.parent
    return _media.contained(p, [file.parent], f"{f}: path")


def _split_images(
    root: Path, entry: str, f: str, split: str, roots: list[Path]
) -> Iterator[tuple[Path, Path]]:
    p = root / entry
    if p.is_dir():
        for image in _images_in(p, roots, root):
            yield image, p
    elif p.is_file() and p.suffix == ".txt":
        for n, line in enumerate(v.read_text(p, entry).splitlines(), 1):
            ref = line.strip()
            if not ref:
                continue
            image = (
                (p.parent / ref)
                if ref.startswith("./") or not Path(ref).is_absolute()
                else Path(ref)
            )
            where = f"{entry} line {n}"
            _media.contained(image, roots, where)
            if not image.exists():
                raise InvalidInput(f"{where}: image {ref!r} not found")
            yield _media.regular_file(image, where), image.parent
    else:
        v.fail(f, split, f"{entry!r} is not a folder or .txt list under {root}")


def _images_in(folder: Path, roots: list[Path], base: Path) -> list[Path]:
    """The images under `folder`, each checked to be a regular file inside `roots`."""
    if not folder.is_dir():
        return []
    found = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _media.IMAGE_SUFFIXES)
    for p in found:
        name = v.display_name(p, base)
        _media.regular_file(_media.contained(p, roots, name), name)
    return found


def _label_path(image: Path) -> Path:
    """Ultralytics' rule: the last ``/images/`` becomes ``/labels/``, the suffix ``.txt``."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    s = str(image)
    if sa in s:
        s = sb.join(s.rsplit(sa, 1))
    return Path(s).with_suffix(".txt")
