"""A module imported when a test first uses it, not when pytest collects the file: under
pytest-xdist every worker collects every file, but only one runs a given file's tests. The
anthropic and openai SDKs take ~1.5 and ~1 CPU-s to import, about a third of a worker's imports."""
import importlib.util
import sys


def lazy(name):
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)  # deferred: the real import runs at the first attribute read
    return module
