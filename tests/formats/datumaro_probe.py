"""Run by the datumaro interpreter (``.venv-datumaro``), not by pytest: prints every item datumaro
reads from ``argv[1]`` in format ``argv[2]`` as JSON (id, subset, annotations); with ``labels`` as
``argv[3]``, each label's attribute names instead."""

import json
import sys

import datumaro as dm

dataset = dm.Dataset.import_from(sys.argv[1], sys.argv[2])
labels = dataset.categories()[dm.AnnotationType.label]
if sys.argv[3:] == ["labels"]:
    print(json.dumps({c.name: sorted(c.attributes) for c in labels}))
    sys.exit(0)
items = []
for item in dataset:
    anns = []
    for a in item.annotations:
        anns.append(
            {
                "type": a.type.name,
                "label": labels[a.label].name if a.label is not None else None,
                "attributes": dict(a.attributes),
                "points": [float(x) for x in getattr(a, "points", [])],
            }
        )
    items.append({"id": item.id, "subset": item.subset, "annotations": anns})
print(json.dumps(items, default=str))
