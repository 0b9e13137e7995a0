"""Nova's metadata service: what a guest may learn about itself (:mod:`.content`), from
whom (:mod:`.source`), vouched for by whom (:mod:`.signing`), and the config drive's copy
(:mod:`.drive`). The HTTP side is :mod:`overcast.api.metadata`."""
