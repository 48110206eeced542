"""The lab: a tiny text-to-image world (16×16 coloured shapes, frozen MiniLM text encoder)
where erasure is measured exactly. Start with `load_world()` (world.py), `LabConcept` and
`evaluate` (metrics.py), `erase` (erase.py); the demo is `python -m advanchor_core.lab.demo`.
"""
