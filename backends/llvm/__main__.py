"""``python -m backends.llvm clear-cache``: delete the LLVM backend's on-disk kernel cache.

``python -m backends.llvm where`` prints the cache folder (``cache_dir`` flag, or
``SYMBOLIC_FLAGS=cache_dir=...``, plus ``/llvm``).
"""
import argparse

from .jit import cache_dir, clear_cache


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m backends.llvm",
                                     description="Manage the LLVM backend's on-disk kernel cache.")
    parser.add_argument("command", choices=["clear-cache", "where"])
    args = parser.parse_args(argv)
    if args.command == "clear-cache":
        clear_cache()
        print(f"removed {cache_dir()}")
    else:
        print(cache_dir())


if __name__ == "__main__":
    main()
