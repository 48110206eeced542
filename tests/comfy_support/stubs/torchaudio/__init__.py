"""Import-only stand-in for torchaudio (tests only): see advanchor_stand_in."""
from advanchor_stand_in import install

install(__name__)
