"""The support side of OpenDSC: card registry, life cycle, verification, PSKC and audit.

`Registry.open(url)` is the entry point; the `dsc` support commands in
`host_tools/cli/cmd_support.py` are a thin layer over it. See docs/registry.md.
"""
