#!/usr/bin/env python3
"""Summarise an .rrd file as JSON, for tests/viz_rrd.rs.

Usage: read_rrd.py FILE.rrd

Reads the recording with the rerun SDK's own decoder
(`rerun.experimental.RrdReader`, rerun-sdk 0.36.3, which must match the
crate's `rerun` version) and prints one JSON object on stdout:

    {"rerun_version": "0.36.3",
     "entities": {"/world/camera": {
         "rows": 10,                      # all rows, temporal and static
         "static_rows": 0,
         "timelines": ["frame", "log_time", "time"],
         "components": {                  # rows in which the component is set
             "Transform3D:translation": {"rows": 10, "frames": [0, 1, ...]}},
         "labels": ["chair #3: ..."]}}}    # strings of any `*:labels` column

`frames` are the values of the `frame` sequence timeline (absent for static
rows). Entities starting with `/__` (recording properties) are skipped.
The assertions live in the Rust test; this script only decodes.
"""

import json
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    import rerun
    from rerun.experimental import RrdReader

    entities = {}
    for chunk in RrdReader(sys.argv[1]).stream().to_chunks():
        path = chunk.entity_path
        if path.startswith("/__"):
            continue
        entry = entities.setdefault(
            path, {"rows": 0, "static_rows": 0, "timelines": [], "components": {}, "labels": []}
        )
        entry["rows"] += chunk.num_rows
        if chunk.is_static:
            entry["static_rows"] += chunk.num_rows
        entry["timelines"] = sorted(set(entry["timelines"]) | set(chunk.timeline_names))
        batch = chunk.to_record_batch()
        names = batch.schema.names
        frames = (
            batch.column(names.index("frame")).to_pylist() if "frame" in names else None
        )
        for index, name in enumerate(names):
            if ":" not in name or name.startswith("rerun."):
                continue
            values = batch.column(index).to_pylist()
            component = entry["components"].setdefault(name, {"rows": 0, "frames": []})
            for row, value in enumerate(values):
                if value is None:
                    continue
                component["rows"] += 1
                if frames is not None and frames[row] is not None:
                    component["frames"].append(frames[row])
                if name.endswith(":labels"):
                    entry["labels"].extend(str(label) for label in value)
    for entry in entities.values():
        for component in entry["components"].values():
            component["frames"].sort()
    json.dump({"rerun_version": rerun.__version__, "entities": entities}, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
