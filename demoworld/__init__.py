"""The demo world: a deterministic simulator of a parking operator that writes the billing
database of SOURCES.md §1, with incidents injected and their exact ground truth recorded
in a manifest. Only the CLI's `demo` command and tests import it.

    from demoworld import generate, DemoParams
    manifest = generate("postgresql://postgres@127.0.0.1:5432/db", DemoParams(days=60, sites=40))
"""
from demoworld.params import DemoParams
from demoworld.pipeline import generate
from demoworld.writer import content_hash, load_manifest

__all__ = ["DemoParams", "generate", "content_hash", "load_manifest"]
