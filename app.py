"""Gradio entry point: `python app.py` serves the chat UI over the default index (127.0.0.1)."""

import sys

from rag.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
