#!/usr/bin/env python3
"""Turns the ```sh blocks of the docs into one bash script, in reading order.

Usage: extract.py ADDRESS FILE...   (the script goes to stdout)

The rules (README.md's "Shell examples" and ci/docs/run.sh say the same):
- Every ```sh fence is run. Other fences (```yaml, ```json, ```text, ```…) are not. A
  ```bash, ```shell or ```console fence is an error: it would be an example the harness
  never runs.
- `<!-- docs-harness: skip (reason) -->` on the line right before a fence (other HTML
  comments such as `<!-- ci-example: … -->` may sit between them) skips that block; the
  reason is printed. A skip without a reason is an error.
- `# expect NNN` (a comment line, e.g. `# expect 409: resolving twice is a conflict`)
  announces that the next curl of the block answers NNN instead of a 2xx.
- `127.0.0.1:8080` and `localhost:8080` become ADDRESS, the harness's service.
"""

import re
import shlex
import sys

FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)")
SKIP = re.compile(r"^\s*<!--\s*docs-harness:\s*skip\s*\((.*)\)\s*-->\s*$")
MARK = re.compile(r"^\s*<!--\s*docs-harness:")
COMMENT = re.compile(r"^\s*<!--.*-->\s*$")
EXPECT = re.compile(r"^\s*#\s*expect\s+(\d{3})\b")
UNRUN_SHELLS = {"bash", "shell", "console", "shell-session", "zsh"}


def blocks(path):
    """(line of the fence, info string, body lines, skip reason or None) of every fence."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, info = m.group(1), m.group(2).lower()
        start = i
        i += 1
        body = []
        while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        if i == len(lines):
            sys.exit(f"{path}:{start + 1}: the ``` fence is never closed")
        i += 1
        skip = None
        j = start - 1
        while j >= 0 and COMMENT.match(lines[j]):
            s = SKIP.match(lines[j])
            if s:
                skip = s.group(1).strip()
                if not skip:
                    sys.exit(f"{path}:{j + 1}: docs-harness: skip needs a reason: skip (why)")
            elif MARK.match(lines[j]):
                sys.exit(f"{path}:{j + 1}: unknown docs-harness marker (only skip (reason))")
            j -= 1
        yield start + 1, info, body, skip


def main():
    address, files = sys.argv[1], sys.argv[2:]
    out = []
    for path in files:
        for line, info, body, skip in blocks(path):
            where = f"{path}:{line}"
            if info in UNRUN_SHELLS:
                sys.exit(f"{where}: a ```{info} block: shell examples are ```sh (run by the docs "
                         "harness), or another language that is not run (```text)")
            if info != "sh":
                continue
            if skip is not None:
                out.append(f"__docs_skip {shlex.quote(where)} {shlex.quote(skip)}")
                continue
            out.append(f"__docs_block {shlex.quote(where)}")
            for text in body:
                text = text.replace("127.0.0.1:8080", address).replace("localhost:8080", address)
                out.append(text)
                m = EXPECT.match(text)
                if m:
                    out.append(f"__docs_expect {m.group(1)}")
            out.append(f"__docs_end {shlex.quote(where)}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
