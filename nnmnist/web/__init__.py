"""The web layer: `nnmnist serve`'s drawing pad and JSON API over the public API (app.py)."""
