"""The foundation every layer uses and that uses nothing above it: user-facing errors (:mod:`.errors`),
typed params (:mod:`.params`), every path (:mod:`.paths`), atomic writes (:mod:`.atomic`), the label words
and the model names (:mod:`.vocabulary`), progress reporting (:mod:`.progress`) and quiet third-party
chatter (:mod:`.console`)."""
