#!/usr/bin/env python3
"""Checks the layering of `api/src` (ARCHITECTURE.md): reads every `use crate::…`,
`crate::…` path and `super::…` import, maps each file to its layer, and fails on an import
that a layer's rule forbids or on a circle between modules.

Layers and what each may import (besides itself and crates outside `api`):
  main, lib   -> anything
  settings    -> domain, auth, store, core, http, client (it builds each layer's typed settings)
  client      -> domain (`dora-tracker record`: a client of the service, not the service)
  http        -> core, domain, auth, store (types only), settings? no
  core        -> domain, store, auth
  store       -> domain
  auth        -> domain
  domain      -> (nothing of api)
Inside http, `compat/*` never imports `http::routes`, and `routes` never imports `compat`.
"""
import pathlib
import re
import sys
from collections import defaultdict

ROOT = pathlib.Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[2] / "api" / "src"

ALLOWED = {
    "main": {"lib", "settings", "http", "core", "domain", "auth", "store", "client"},
    "lib": {"settings", "http", "core", "domain", "auth", "store", "client"},
    "settings": {"domain", "auth", "store", "core", "http", "client"},
    "client": {"domain"},
    "http": {"core", "domain", "auth", "store"},
    "core": {"domain", "store", "auth"},
    "store": {"domain"},
    "auth": {"domain"},
    "domain": set(),
}


def module_of(path: pathlib.Path) -> list[str]:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts = parts[:-1]
    if parts == ["lib"]:
        return []
    if parts == ["main"]:
        return ["main"]
    return parts


def layer(parts: list[str]) -> str:
    return parts[0] if parts else "lib"


USE = re.compile(r"\buse\s+([^;]+);", re.S)
PATH = re.compile(r"\bcrate::([a-z_]+(?:::[a-z_]+)*)")


def expand(tree: str) -> list[str]:
    """`crate::{a::{b, c}, d}` -> ["crate::a::b", "crate::a::c", "crate::d"]."""
    tree = re.sub(r"\s+", "", tree)
    out = []

    def walk(prefix: str, rest: str):
        if "{" not in rest:
            for item in rest.split(","):
                if item:
                    out.append(prefix + item.split(" as ")[0])
            return
        head, _, body = rest.partition("{")
        depth, items, cur = 0, [], ""
        body = body[:-1] if body.endswith("}") else body
        for ch in body:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                items.append(cur)
                cur = ""
            else:
                cur += ch
        items.append(cur)
        for item in items:
            walk(prefix + head, item)

    walk("", tree)
    return out


def imports(path: pathlib.Path, parts: list[str]) -> set[tuple[str, ...]]:
    text = path.read_text()
    text = re.sub(r"//[^\n]*", "", text)
    found = set()
    for m in USE.finditer(text):
        for item in expand(m.group(1)):
            segs = [s for s in item.split("::") if s not in ("*", "self")]
            if segs[0] == "crate":
                found.add(tuple(segs[1:]))
            elif segs[0] == "super":
                base = parts[:-1] if not path.name == "mod.rs" else parts[:-1]
                if path.name == "mod.rs":
                    base = parts[:-1]
                else:
                    base = parts[:-1]
                i = 0
                while i < len(segs) and segs[i] == "super":
                    if i > 0:
                        base = base[:-1]
                    i += 1
                found.add(tuple(base + segs[i:]))
    for m in PATH.finditer(text):
        found.add(tuple(m.group(1).split("::")))
    return found


def resolve(target: tuple[str, ...], modules: set[tuple[str, ...]]) -> tuple[str, ...]:
    """The longest module prefix of an import path."""
    for n in range(len(target), 0, -1):
        if target[:n] in modules:
            return target[:n]
    return target[:1]


def main() -> int:
    files = sorted(ROOT.rglob("*.rs"))
    modules = {tuple(module_of(f)) for f in files}
    errors = []
    graph = defaultdict(set)
    for f in files:
        parts = module_of(f)
        src_layer = layer(parts)
        for target in imports(f, parts):
            if not target:
                continue
            dst = resolve(target, modules)
            dst_layer = layer(list(dst))
            if dst_layer == src_layer:
                pass
            elif dst_layer not in ALLOWED.get(src_layer, set()) and dst_layer != "lib":
                errors.append(f"{f.relative_to(ROOT)}: {src_layer} imports {'::'.join(target)}")
            if src_layer == "http" and len(parts) > 1 and len(dst) > 1:
                if parts[1] == "compat" and dst[:2] == ("http", "routes"):
                    errors.append(f"{f.relative_to(ROOT)}: an adapter imports {'::'.join(target)}")
                if parts[1] == "routes" and dst[:2] == ("http", "compat"):
                    errors.append(f"{f.relative_to(ROOT)}: a route imports {'::'.join(target)}")
            src = tuple(parts)
            if dst != src and not (len(dst) < len(src) and src[: len(dst)] == dst):
                graph[src].add(dst)
    # Only `http` (and `domain`, for the derives its value types need) knows poem.
    for f in files:
        parts = module_of(f)
        if layer(parts) in {"core", "store", "auth", "settings", "client"} and re.search(
            r"\bpoem(_openapi)?::", f.read_text()
        ):
            errors.append(f"{f.relative_to(ROOT)}: {layer(parts)} uses poem")
    # Circles between modules (a module importing its own ancestor does not count).
    state = {}
    stack = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                errors.append("circle: " + " -> ".join("::".join(n) or "lib" for n in cycle))
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    for e in sorted(set(errors)):
        print(e)
    if errors:
        print(f"{len(set(errors))} layering problem(s)", file=sys.stderr)
        return 1
    print(f"layering ok: {len(files)} files, {sum(len(v) for v in graph.values())} module imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
