"""The styles world, where anchors matter: compound "styles" made of several attributes.

The shapes world has one-factor concepts only, so its superclass prompt is the concept prompt
minus one word and attribute prompts are never needed. Here a style word ("zorbic") stands for
2–3 visual attributes drawn together (an outline, a background tint, a pattern inside the
shape); every attribute has its own prompt ("with an outline"); neighbouring styles share some
attributes; a generic superclass ("in some style") draws any style. Start with `data.py` (the
images), `captions.py` (the prompts), `classifier.py` (the exact judge), `families.py` (what the
model draws and the chance floors), `metrics.py` (what an erasure did) and `world.py`.
"""
