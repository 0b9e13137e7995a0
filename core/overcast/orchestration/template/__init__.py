"""HOT templates: parsing (:mod:`.format`), parameters (:mod:`.parameters`), intrinsic
functions (:mod:`.functions`), environments (:mod:`.environment`) and the template model
(:mod:`.hot`)."""
