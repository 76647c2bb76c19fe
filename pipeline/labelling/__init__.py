"""Annotators' labels: the file formats (:mod:`.files`), how decisions become one label per profile
(:mod:`.policy`) and the swipe-style terminal tool that writes them (:mod:`.tui`, ``igfake label``)."""
