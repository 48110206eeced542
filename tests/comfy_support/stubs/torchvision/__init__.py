"""Import-only stand-in for torchvision (tests only): see advanchor_stand_in."""
from advanchor_stand_in import install

install(__name__)
