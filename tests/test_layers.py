"""The import graph of vault/, read from the source (function-level imports included): no cycles,
and a chat's layers import only downwards: endpoints -> gateway -> resolver / adapters -> http."""
import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENDPOINTS = ("vault.v1", "vault.chat", "vault.auth", "vault.secrets", "vault.models", "vault.tokens.api",
             "vault.tokens.views", "vault.openapi", "vault.cli")
ABOVE_ADAPTERS = ENDPOINTS + ("vault.gateway", "vault.resolver", "vault.db", "vault.crypto", "vault.tokens")


def _name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, module):
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]) if node.level else ""
            target = ".".join(p for p in (base, node.module) if p)
            for alias in node.names:  # `from . import usage` imports the module vault.x.usage
                yield f"{target}.{alias.name}" if _exists(f"{target}.{alias.name}") else target
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def _exists(module):
    path = ROOT / module.replace(".", "/")
    return path.with_suffix(".py").exists() or path.is_dir()


@functools.cache
def graph():
    """Read when a test first asks, not at import: every xdist worker collects this file, one runs it."""
    return {_name(p): {m for m in _imports(p, _name(p)) if m.startswith("vault") and m != _name(p)}
            for p in (ROOT / "vault").rglob("*.py")}


def _within(module, prefixes):
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def test_the_graph_was_read():
    assert "vault.gateway.core" in graph()["vault.v1.chat_completions"]
    assert "vault.llm.http" in graph()["vault.llm.openai"]


def test_no_module_imports_itself_back_through_others():
    def reaches(start, goal, seen):
        for nxt in graph().get(start, ()):
            if nxt == goal or (nxt not in seen and not seen.add(nxt) and reaches(nxt, goal, seen)):
                return True
        return False
    assert [m for m in graph() if reaches(m, m, set())] == []


@pytest.mark.parametrize("lower, above", [
    ("vault.llm", ABOVE_ADAPTERS),                       # adapters and http: only themselves and below
    ("vault.resolver", ENDPOINTS + ("vault.gateway", "vault.llm")),
    ("vault.gateway", ENDPOINTS),                        # the core never imports an endpoint
])
def test_nothing_below_imports_anything_above(lower, above):
    wrong = {(m, d) for m, deps in graph().items() if _within(m, [lower]) for d in deps if _within(d, above)}
    assert wrong == set()
