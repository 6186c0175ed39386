#!/usr/bin/env python3
"""Normalises the outputs of bench/golden/run.sh and writes OUTDIR/manifest.txt.

    python3 bench/golden/normalise.py OUTDIR [--root REPO_ROOT]

Reads OUTDIR/runs/** (each sweep's results directory), OUTDIR/plan/*.ids and OUTDIR/exit-codes.txt; writes the
normalised copy of every file to OUTDIR/normalised/ and one line per file, `sha256  relative/path`, sorted by path, to
OUTDIR/manifest.txt. Empty directories are listed too, as `-  relative/path/`.

Only what depends on the clock, the process or the machine is blanked, each by a rule that touches nothing else:

* the `seconds` column of every CSV that has one (results.csv, writers/*.csv, rungs/*.csv): the field is emptied,
  every other byte of the row (id, parameters, seed, status, rung, epochs, accuracies, loss) is kept;
* `"t"` (seconds since 1970) in progress/*.jsonl lines;
* the owner (`host`, `pid`, `token`, `machine`) and `written_unix` in claims/* (the job, generation and state are kept);
* `at unix time T` and `after S s` in the banners sweep writes into a command trial's stdout.log/stderr.log;
* the process name `<host>-<pid>-<token>` that names each process's own files (writers/, rungs/, progress/,
  decisions/): renamed to PROCESS (PROCESS-1, -2, ... ordered by normalised content if one directory had several);
* the absolute paths of OUTDIR and of the repository root, wherever they occur in a text file (none does today; a
  binary that wrote them would not be flagged for the path alone).

Everything else, checkpoints (.safetensors) included, is hashed byte for byte.
"""

import argparse
import hashlib
import os
import re
import shutil
import sys
from pathlib import Path

# `<host>-<pid>-<token>.<ext>`: cluster/identity.rs names a process's own files after its Owner.
PROCESS_NAME = re.compile(r"^(?P<host>.+)-(?P<pid>[0-9]+)-(?P<token>[0-9a-f]{16})(?P<ext>\..+)?$")
PROCESS_DIRS = {"writers", "rungs", "progress", "decisions"}

BLANK = "~"  # what a blanked value becomes (JSON numbers become the string "~")


def split_csv_records(text):
    """Splits CSV text into records of raw fields (quotes kept as written), so a row is rebuilt byte for byte."""
    records, fields, field, quoted, i = [], [], [], False, 0
    while i < len(text):
        c = text[i]
        if quoted:
            field.append(c)
            if c == '"':
                quoted = False
        elif c == '"':
            field.append(c)
            quoted = True
        elif c == ",":
            fields.append("".join(field))
            field = []
        elif c == "\n":
            fields.append("".join(field))
            records.append((fields, "\n"))
            fields, field = [], []
        else:
            field.append(c)
        i += 1
    if field or fields:
        fields.append("".join(field))
        records.append((fields, ""))
    return records


def blank_csv_column(text, column):
    records = split_csv_records(text)
    if not records:
        return text
    header = [f.strip().strip('"') for f in records[0][0]]
    header[-1] = header[-1].rstrip("\r")
    if column not in header:
        return text
    k = header.index(column)
    out = []
    for n, (fields, end) in enumerate(records):
        if n > 0 and k < len(fields):
            cr = "\r" if fields[k].endswith("\r") else ""
            fields = fields[:k] + [(BLANK if fields[k].rstrip("\r") else "") + cr] + fields[k + 1 :]
        out.append(",".join(fields) + end)
    return "".join(out)


NUMBER = r"-?[0-9][0-9.eE+-]*"
CLAIM_FIELDS = [
    (re.compile(r'"host"\s*:\s*"[^"]*"'), '"host":"' + BLANK + '"'),
    (re.compile(r'"pid"\s*:\s*' + NUMBER), '"pid":"' + BLANK + '"'),
    (re.compile(r'"token"\s*:\s*"[^"]*"'), '"token":"' + BLANK + '"'),
    (re.compile(r'"machine"\s*:\s*"[^"]*"'), '"machine":"' + BLANK + '"'),
    (re.compile(r'"written_unix"\s*:\s*' + NUMBER), '"written_unix":"' + BLANK + '"'),
]
PROGRESS_T = re.compile(r'"t"\s*:\s*' + NUMBER)
BANNER_TIME = re.compile(r"at unix time [0-9][0-9.]*")
BANNER_AFTER = re.compile(r"after [0-9][0-9.]* s\b")


def normalise_text(rel, text, replacements):
    parts = rel.split("/")
    name = parts[-1]
    parent = parts[-2] if len(parts) > 1 else ""
    for old, new in replacements:
        text = text.replace(old, new)
    if name.endswith(".csv"):
        text = blank_csv_column(text, "seconds")
    if parent == "progress" and name.endswith(".jsonl"):
        text = PROGRESS_T.sub('"t":"' + BLANK + '"', text)
    if parent == "claims":
        for rx, repl in CLAIM_FIELDS:
            text = rx.sub(repl, text)
    if len(parts) >= 3 and parts[-3] == "trials" and name in ("stdout.log", "stderr.log"):
        text = BANNER_TIME.sub("at unix time " + BLANK, text)
        text = BANNER_AFTER.sub("after " + BLANK + " s", text)
    return text


def normalise_bytes(rel, data, replacements):
    if rel.endswith(".safetensors"):
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data
    return normalise_text(rel, text, replacements).encode("utf-8")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--root", help="the repository root the runs ran in (its path is blanked)")
    args = ap.parse_args()
    out = Path(args.outdir).resolve()
    replacements = [(str(out), "<OUTDIR>")]
    if args.root:
        replacements.append((str(Path(args.root).resolve()), "<ROOT>"))
    replacements.sort(key=lambda r: -len(r[0]))  # longer first: OUTDIR may lie inside the root

    sources = []  # (relative path, absolute path)
    empty_dirs = []
    for top in ("runs", "plan"):
        base = out / top
        if not base.is_dir():
            sys.exit(f"normalise.py: {base} does not exist")
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            d = Path(dirpath)
            if not dirnames and not filenames:
                empty_dirs.append(d.relative_to(out).as_posix() + "/")
            for f in sorted(filenames):
                p = d / f
                if p.is_symlink() or not p.is_file():
                    sys.exit(f"normalise.py: {p} is not a plain file")
                sources.append((p.relative_to(out).as_posix(), p))
    if (out / "exit-codes.txt").is_file():
        sources.append(("exit-codes.txt", out / "exit-codes.txt"))

    normalised = {}  # relative path (renamed) -> bytes
    renamed = {}  # (directory, ext) -> [(bytes, original rel)]
    for rel, p in sources:
        data = normalise_bytes(rel, p.read_bytes(), replacements)
        parts = rel.split("/")
        m = PROCESS_NAME.match(parts[-1])
        if len(parts) >= 2 and parts[-2] in PROCESS_DIRS and m:
            renamed.setdefault(("/".join(parts[:-1]), m.group("ext") or ""), []).append(data)
            continue
        normalised[rel] = data
    for (d, ext), datas in renamed.items():
        datas.sort(key=lambda b: hashlib.sha256(b).hexdigest())
        for i, data in enumerate(datas):
            name = "PROCESS" if len(datas) == 1 else f"PROCESS-{i + 1}"
            normalised[f"{d}/{name}{ext}"] = data
    dest = out / "normalised"
    if dest.exists():
        shutil.rmtree(dest)
    lines = []
    for rel in sorted(normalised):
        data = normalised[rel]
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        lines.append(f"{hashlib.sha256(data).hexdigest()}  {rel}")
    for rel in empty_dirs:
        (dest / rel).mkdir(parents=True, exist_ok=True)
        lines.append(f"-  {rel}")
    lines.sort(key=lambda l: l.split("  ", 1)[1])
    (out / "manifest.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
