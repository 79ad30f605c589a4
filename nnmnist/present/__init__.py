"""The only layer that talks to people: terminal tables and pictures (Rich), HTML reports, plots."""
