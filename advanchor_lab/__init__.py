"""The lab: two tiny text-to-image worlds (16×16 images, a frozen MiniLM text encoder) where
erasure is measured exactly. It depends on the core (`advanchor_core`) only; the core never
imports it.

- `shapes/`: coloured shapes on textured backgrounds; a concept is one colour, shape or texture.
- `styles/`: shapes whose look is a compound style of 2–3 attributes; a concept is a style.
Both stand behind one protocol (`world.WorldSpec`, by name in `worlds.WORLDS`), so one trainer
(`python -m advanchor_lab.train --world shapes|styles`), one evaluation (`evaluate.py`), one
erasure (`erase.py`) and the demo (`python -m advanchor_lab.demo`) serve both.
"""
