#!/usr/bin/env python3
"""Checks the layer rule (README "Layout") on every #include in the tree.

Layers, lowest first: bpf < agent/core < agent/sys < agent/daemon < cli.
A file may include its own layer and the layers below it, never one above.
The generated config schema (proto/) sits with bpf/ at the bottom; the BPF
skeleton (meshbpf.skel.h) belongs to agent/sys, which loads it. agent/core
is pure logic, so it may not include headers that reach the kernel, sockets
or files either.

Within the rule, two modules (a .h and its .cc) may not depend on each
other: such a loop means one of them holds something that belongs lower.
A module split into parts by concern names them <module>_<part> next to it
(config_json.cc, config_checks.h beside config.h); the parts count as the
module.

Usage: check_layers.py [repo root]. Prints one line per violation,
"file:line: rule", and exits 1 if there is any.
"""
import pathlib
import re
import sys

LAYERS = ["bpf", "agent/core", "agent/sys", "agent/daemon", "cli"]
# Project headers outside the layered folders, and the layer they count as.
FIXED_LAYER = {"proto": "bpf", "meshbpf.skel.h": "agent/sys"}
# System headers that mean I/O, which agent/core must leave to agent/sys.
CORE_IO_HEADERS = {
    "unistd.h", "fcntl.h", "sys/socket.h", "sys/stat.h", "sys/ioctl.h",
    "fstream", "filesystem", "sqlite3.h", "bpf/bpf.h", "bpf/libbpf.h",
}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def layer_of(path):
    """The layer a repo-relative path (or include target) belongs to, or None."""
    for prefix, layer in FIXED_LAYER.items():
        if path == prefix or path.startswith(prefix + "/"):
            return layer
    for layer in reversed(LAYERS):  # agent/core before a bare "agent"
        if path.startswith(layer + "/"):
            return layer
    return None


def module_of(root, path):
    """config_json.cc -> config when config.h or config.cc is next to it."""
    stem = pathlib.PurePosixPath(path).with_suffix("")
    parts = stem.name.split("_")
    for n in range(1, len(parts)):
        base = stem.parent / "_".join(parts[:n])
        if any((root / f"{base}{suffix}").exists() for suffix in (".h", ".cc")):
            return str(base)
    return str(stem)


def find_loops(depends):
    """Pairs of modules that include each other, directly or through others."""
    def reaches(start, goal):
        seen, todo = set(), [start]
        while todo:
            module = todo.pop()
            if module == goal:
                return True
            if module not in seen:
                seen.add(module)
                todo.extend(depends.get(module, ()))
        return False
    loops = []
    for module in sorted(depends):
        for other in sorted(depends[module]):
            if module < other and reaches(other, module):
                loops.append((module, other))
    return loops


def check(root):
    problems = []
    depends = {}  # module (path without suffix) -> modules its files include
    for folder in LAYERS:
        for source in sorted((root / folder).glob("*")):
            if source.suffix not in (".h", ".cc", ".c"):
                continue
            rel = source.relative_to(root).as_posix()
            own = layer_of(rel)
            for number, line in enumerate(source.read_text().splitlines(), 1):
                match = INCLUDE.match(line)
                if not match:
                    continue
                quote, target = match.groups()
                where = f"{rel}:{number}"
                if quote == "<":
                    if own == "agent/core" and target in CORE_IO_HEADERS:
                        problems.append(f"{where}: agent/core is pure logic but includes <{target}>"
                                        " (I/O belongs in agent/sys)")
                    continue
                # "x.h" next to the including file (bpf/meshbpf.bpf.c) or from the root.
                sibling = (source.parent / target).relative_to(root).as_posix()
                included = layer_of(target) or (
                    layer_of(sibling) if (source.parent / target).exists() else None)
                if included is None:
                    continue  # a library header: absl/..., not ours
                target_module = module_of(root, target if layer_of(target) else sibling)
                module = module_of(root, rel)
                if target_module != module:
                    depends.setdefault(module, set()).add(target_module)
                if LAYERS.index(included) > LAYERS.index(own):
                    problems.append(f"{where}: {own} may not include {included} (\"{target}\");"
                                    f" layers, lowest first: {' < '.join(LAYERS)}")
    for module, other in find_loops(depends):
        problems.append(f"{module}: depends on {other}, which depends back on it (include loop)")
    return problems


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else
                        pathlib.Path(__file__).resolve().parent.parent)
    problems = check(root)
    for problem in problems:
        print(problem)
    if problems:
        print(f"check_layers: {len(problems)} include(s) break the layer rule", file=sys.stderr)
        return 1
    print("check_layers: every include keeps to the layer rule")
    return 0


if __name__ == "__main__":
    sys.exit(main())
