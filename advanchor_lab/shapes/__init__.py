"""The shapes world: 16×16 coloured shapes on textured backgrounds, one factor per concept.

Start with `data.py` (the world and its captions), `classifier.py` (the exact judge),
`concept.py` and `metrics.py` (what an erasure did), and `world.py` (the world as the lab's
protocol sees it).
"""
